"""How far to trust an explanation: perturbation curves, AOPC, a random floor, a sanity check, comparisons.

All perturbed inputs of all explanations go through the model in full batches (`removal`); the same
code scores explanations made here and scores made elsewhere (`external`).
"""

from trexplain.evaluate.aopc import BINS
from trexplain.evaluate.compare import Comparison, compare_models
from trexplain.evaluate.curves import FRACTIONS, Curve
from trexplain.evaluate.external import explanations_from_records, load_scores
from trexplain.evaluate.faithfulness import Evaluation, EvaluationResult, evaluate
from trexplain.evaluate.removal import feature_count
from trexplain.evaluate.sanity import SanityResult, model_randomization, sanity_cost
from trexplain.evaluate.table import FaithfulnessTable, default_methods, faithfulness_table, random_explanations

__all__ = [
    "BINS",
    "FRACTIONS",
    "Comparison",
    "Curve",
    "Evaluation",
    "EvaluationResult",
    "FaithfulnessTable",
    "SanityResult",
    "compare_models",
    "default_methods",
    "evaluate",
    "explanations_from_records",
    "faithfulness_table",
    "feature_count",
    "load_scores",
    "model_randomization",
    "random_explanations",
    "sanity_cost",
]
