"""Concepts: what a layer represents, as a dictionary of directions learnt from many texts' activations.

`extract(adapter, texts, site="block_output:-1", granularity="cls", out=DIR)` reads a capture-API site for
every text, batch by batch, into an `ActivationStore` (memory-mapped on disk, or in memory with out=None).
"""

from trexplain.concepts.activations import GRANULARITIES, WORD_REDUCTIONS, ActivationStore, extract

__all__ = ["GRANULARITIES", "WORD_REDUCTIONS", "ActivationStore", "extract"]
