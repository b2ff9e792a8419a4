"""Model loading and the adapter that hides each family's layout."""

from trexplain.models.adapter import ForwardOutput, ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.loading import load_model

__all__ = ["Batch", "ForwardOutput", "ModelAdapter", "ModelInputs", "load_model"]
