"""Look inside a model layer by layer: attention maps, per-layer masked-token predictions, corpus neighbours."""

from trexplain.inspect.attention_maps import AttentionMaps, attention_maps
from trexplain.inspect.masked_layers import LayerPredictions, NoMaskedLMHeadError, layer_predictions, load_masked_lm
from trexplain.inspect.neighbours import CorpusIndex, Neighbour, build_index, demo_corpus, neighbours

__all__ = [
    "AttentionMaps",
    "CorpusIndex",
    "LayerPredictions",
    "Neighbour",
    "NoMaskedLMHeadError",
    "attention_maps",
    "build_index",
    "demo_corpus",
    "layer_predictions",
    "load_masked_lm",
    "neighbours",
]
