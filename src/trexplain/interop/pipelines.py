"""A transformers `TextClassificationPipeline` or `ImageClassificationPipeline` as an adapter: its model, its
tokenizer or image processor, and its label names; the pipeline's model is used as it is (not copied)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from trexplain.errors import ModelLoadError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.families import family_for, supported_model_types
from trexplain.models.hub import snapshot_commit

PIPELINES = ("TextClassificationPipeline", "ImageClassificationPipeline")


def is_pipeline(source: Any) -> bool:
    """Whether `source` is a transformers pipeline object (of any task; `load_pipeline` checks the task)."""
    return any(cls.__name__ == "Pipeline" and cls.__module__.startswith("transformers") for cls in type(source).__mro__)


def load_pipeline(pipe: Any) -> ModelAdapter:
    """The adapter of a text or image classification pipeline; another task is a `ModelLoadError`."""
    kind = type(pipe).__name__
    if kind not in PIPELINES:
        raise ModelLoadError(
            f"a {kind} cannot be explained: trexplain explains classifiers; pass a pipeline('text-classification') "
            "or pipeline('image-classification')"
        )
    model = pipe.model
    _eager(model)
    config = model.config
    id2label = getattr(config, "id2label", None) or {}
    labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    name = str(getattr(config, "name_or_path", "") or type(model).__name__)
    if kind == "ImageClassificationPipeline":
        from trexplain.models.images import preprocessing_from_config
        from trexplain.models.vision import VisionAdapter

        processor = getattr(pipe, "image_processor", None)
        preprocessing = None if processor is None else preprocessing_from_config(processor.to_dict(), name)
        adapter: ModelAdapter = VisionAdapter.from_pretrained_model(model, preprocessing, name=name)
    else:
        family = family_for(str(getattr(config, "model_type", "")))
        if family is None:
            raise ModelLoadError(
                f"{name}: model type {config.model_type!r} is not supported; supported: "
                f"{', '.join(supported_model_types())}"
            )
        adapter = ModelAdapter(model.eval(), pipe.tokenizer, family=family, labels=labels, name=name)
    adapter.model_revision = snapshot_commit(Path(name))
    return adapter


def _eager(model: Any) -> None:
    """Switch sdpa or flash attention to eager (attention methods need the weights), with a warning."""
    current = getattr(model.config, "_attn_implementation", "eager")
    if current != "eager" and hasattr(model, "set_attn_implementation"):
        warnings.warn(
            f"switched the pipeline's {type(model).__name__} from {current} to eager attention: attention methods "
            "need the attention weights (the logits agree to float precision)",
            stacklevel=4,
        )
        model.set_attn_implementation("eager")
