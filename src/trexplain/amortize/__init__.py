"""Amortized explanations: an explainer fitted once on a teacher's dataset run explains any text at one forward pass.

`fit(model, input_file, out, teacher="kernelshap")` runs the teacher over a corpus (a resumable dataset run),
trains a small network on the frozen model's hidden states to predict the teacher's scores (or to optimise
comprehensiveness and sufficiency directly) and saves it as a folder bound to the model's weights; the method
`amortized` (`explainer=DIR`) then explains with it. `global_words(run)` ranks each class's words over a run.
See docs/amortize.md.
"""

from trexplain.amortize.fit import fit, fit_from_run
from trexplain.amortize.global_words import global_words
from trexplain.methods.amortization.explainer import Explainer, ExplainerMismatchError, load_explainer

__all__ = ["Explainer", "ExplainerMismatchError", "fit", "fit_from_run", "global_words", "load_explainer"]
