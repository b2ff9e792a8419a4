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

4. `interpret`: `top_inputs` (per concept the most activating texts, each with its words' spans and
   activations: token rows rolled up by `words_of` through `models.words.group_words`), `top_words` (unique
   case-folded words, in context or each run alone), `concept_activations` (a concept's activation over any
   text's tokens), `interpret` (both, JSON-ready).
5. `importance`: per text and class, `gradient` (∂logit/∂code through `decode`, interpreto's
   `concept_output_gradient`), `concept_x_gradient` and exact `ablation` (the logit change when one concept's
   contribution is removed at the site and the rest of the model runs; the reconstruction error stays, so a
   lossless dictionary reproduces the logits exactly); `deletion` curves and AOPC with a random floor.
   `editing` documents what is replaced at the site for each granularity; `fidelity` runs the model on the
   reconstructed activations.
6. `conceptset`: `fit_concepts(adapter, texts, ...)` runs everything (optionally class-wise) into a
   `ConceptSet`, saved as a folder (JSON + safetensors) that reloads with equal codes; `ConceptSet.explain(adapter,
   text)` says which concepts fire in a text and what each contributes. `report.write_html` draws it,
   `report.write_explain_html` one explained text. Fewer than 10 activation rows per concept draw a
   `TooManyConceptsWarning` naming how many concepts or texts to use.

The functions named like their module (`importance.importance`, `interpret.interpret`, `fidelity.fidelity`)
are imported from the module, so the module names stay importable.

Fitting PCA, ICA, NMF, k-means or the Semi-NMF initialisation needs scikit-learn (`trexplain[concepts]`).
"""

from trexplain.concepts import metrics
from trexplain.concepts.activations import GRANULARITIES, WORD_REDUCTIONS, ActivationStore, extract
from trexplain.concepts.conceptset import ConceptSet, TooManyConceptsWarning, fit_concepts, load_concepts
from trexplain.concepts.decompositions import ICA, NMF, PCA, KMeans
from trexplain.concepts.dictionaries import DICTIONARIES, Dictionary, load, make
from trexplain.concepts.fidelity import reconstructed_logits
from trexplain.concepts.importance import Deletion, Importance, deletion
from trexplain.concepts.interpret import concept_activations, top_inputs, top_words, words_of
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
    "ConceptSet",
    "Deletion",
    "Dictionary",
    "Importance",
    "JumpReLUSAE",
    "KMeans",
    "ReLUSAE",
    "SemiNMF",
    "SparseAutoencoder",
    "TooManyConceptsWarning",
    "TopKSAE",
    "concept_activations",
    "deletion",
    "extract",
    "fit_concepts",
    "load",
    "load_concepts",
    "make",
    "metrics",
    "reconstructed_logits",
    "top_inputs",
    "top_words",
    "words_of",
]
