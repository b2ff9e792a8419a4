"""trexplain: explain transformer classifiers, and measure how far each explanation can be trusted."""

from trexplain.api import explain
from trexplain.arrow import from_arrow, to_arrow
from trexplain.errors import (
    ImageError,
    InputError,
    InputTooLongError,
    MethodError,
    ModelLoadError,
    TargetError,
    TrexplainError,
)
from trexplain.explanation import Explanation
from trexplain.methods import available_methods, get_method
from trexplain.models import ModelAdapter, load_model
from trexplain.models.vision import VisionAdapter
from trexplain.runs import load_run, run_dataset
from trexplain.study import Study, study
from trexplain.version import __version__
from trexplain.viz.html import display_in_notebooks

display_in_notebooks()

__all__ = [
    "Explanation",
    "ImageError",
    "InputError",
    "InputTooLongError",
    "MethodError",
    "ModelAdapter",
    "ModelLoadError",
    "Study",
    "TargetError",
    "TrexplainError",
    "VisionAdapter",
    "__version__",
    "available_methods",
    "explain",
    "from_arrow",
    "get_method",
    "load_model",
    "load_run",
    "run_dataset",
    "study",
    "to_arrow",
]
