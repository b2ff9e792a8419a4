"""trexplain: explain transformer classifiers, and measure how far each explanation can be trusted."""

__version__ = "0.1.0"  # before the imports: modules below may read it while the package initialises

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
from trexplain.study import Study, study

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
    "study",
    "to_arrow",
]
