"""Concepts: what a layer represents, as a dictionary of directions learnt from many texts' activations.

Three steps, one module each:

1. `extract(adapter, texts, site="block_output:-1", granularity="cls", out=DIR)` reads a capture-API site
   (`embeddings`, `block_input:L`, `block_output:L`, `module:PATH`) for every text, batch by batch, into an
   `ActivationStore`: `activations` [rows, dim] (memory-mapped float16/float32 on disk, or in memory with
   `out=None`), per row `text_ids`, `positions` (token or word index, -1 for whole-text rows), `spans`
   (characters) and `predicted`, per text `logits` and `texts`. Granularities: `cls` (first token), `mean`
   (over real tokens), `token` (each non-special token), `word` (`word_reduce` = mean/sum/max of its
   tokens). `store.batches(n, shuffle=True)` streams minibatches; `store.select(predicted="positive")` is
   the view for a class-wise dictionary; `ActivationStore.open(DIR)` reopens a store.
2. Dictionaries (`decompositions`: `PCA`, `ICA`, `NMF`, `KMeans` fitted by scikit-learn; `semi_nmf`:
   `SemiNMF`; `sae`: `ReLUSAE`, `TopKSAE`, `BatchTopKSAE`, `JumpReLUSAE` trained in torch on minibatches)
   share `dictionaries.Dictionary`: `Dictionary(n_concepts, seed=0, **params)`, `fit(X)`, `encode(X)` →
   codes [rows, k], `decode(codes) = codes @ components_ + bias_`, `decode_torch(codes)` (the same map on
   tensors, differentiable: gradients of the output with respect to the codes go through it),
   `fit_encode(X)`, `save(DIR)` / `load(DIR)` (JSON + safetensors), `components_` [k, dim]. X is an
   array, a tensor or an `ActivationStore`. `make("semi-nmf", 20)` builds one by name (`DICTIONARIES`).
3. `metrics`: `mse`, `r2`, `wasserstein` (interpreto's "FID"), `fraction_nonzero`, `sparsity_ratio`,
   `matched_cosines` / `stability` (Hungarian-matched cosine between two dictionaries), and
   `prediction_agreement` (accuracy and KL of predictions from reconstructed activations); `evaluate`
   gives the reconstruction and sparsity figures of a dictionary on some data.

Fitting PCA, ICA, NMF, k-means or the Semi-NMF initialisation needs scikit-learn (`trexplain[concepts]`).
"""

from trexplain.concepts import metrics
from trexplain.concepts.activations import GRANULARITIES, WORD_REDUCTIONS, ActivationStore, extract
from trexplain.concepts.decompositions import ICA, NMF, PCA, KMeans
from trexplain.concepts.dictionaries import DICTIONARIES, Dictionary, load, make
from trexplain.concepts.sae import BatchTopKSAE, JumpReLUSAE, ReLUSAE, SparseAutoencoder, TopKSAE
from trexplain.concepts.semi_nmf import SemiNMF

__all__ = [
    "DICTIONARIES",
    "GRANULARITIES",
    "ICA",
    "NMF",
    "PCA",
    "WORD_REDUCTIONS",
    "ActivationStore",
    "BatchTopKSAE",
    "Dictionary",
    "JumpReLUSAE",
    "KMeans",
    "ReLUSAE",
    "SemiNMF",
    "SparseAutoencoder",
    "TopKSAE",
    "extract",
    "load",
    "make",
    "metrics",
]
