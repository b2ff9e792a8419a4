"""Model loading, the adapter protocol and the adapter that hides each family's layout."""

from trexplain.models.adapter import ForwardOutput, ModelAdapter
from trexplain.models.batch import Batch, ModelInputs
from trexplain.models.loading import load_model
from trexplain.models.protocol import Adapter

__all__ = ["Adapter", "Batch", "ForwardOutput", "ModelAdapter", "ModelInputs", "load_model"]
