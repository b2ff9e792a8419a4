"""Load a classifier from the bundled demo, a local folder, a hub id or a pipeline: safetensors first, no remote code.

Every weight the classifier needs must come from the checkpoint, under its own name and shape, and the
tokenizer must be the folder's own and fit the embedding matrix; otherwise loading is a `ModelLoadError`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from trexplain import checks
from trexplain.models.adapter import ModelAdapter
from trexplain.models.checkpoint import check_attention, load_pretrained, set_attention
from trexplain.models.demo import CARD_FILE, DEMO_DIR, DEMO_FOLDERS, DEMO_NAMES, LABELS, build_demo_model
from trexplain.models.devices import place, resolve_device, resolve_dtype
from trexplain.models.families import family_for
from trexplain.models.hub import parse_hub_id, resolve_hub_model, snapshot_commit


def load_model(
    source: Any = None,
    *,
    allow_pickle: bool = False,
    allow_missing_weights: bool = False,
    trust_remote_code: bool = False,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    offline: bool | None = None,
    attn_implementation: str = "eager",
) -> ModelAdapter:
    """A `ModelAdapter` for `source`: None or "demo" for the bundled model, "demo-decoder" for the bundled decoder
    (a small Qwen2, `models.demo`), a local folder, a Hugging Face model id
    (`org/name`, `name`, `org/name@revision`; `models.hub`, docs/loading.md) or a transformers text or image
    classification pipeline; "vit-demo" and ViT/DeiT folders give a `VisionAdapter` (docs/vision.md).

    Pickle weights (`pytorch_model.bin`) can execute code when loaded, so they are refused unless
    `allow_pickle=True`. Weights missing from the checkpoint, left over in it or of another shape are a
    `ModelLoadError` unless `allow_missing_weights=True`, which warns instead. `trust_remote_code` stays off.
    `device`: cpu (default; a pipeline's model stays where it is), cuda, cuda:N, mps or auto; `dtype`: float32
    (default), bfloat16 or float16 (`models.devices`). `attn_implementation`: eager (default; attention methods read its
    probabilities) or sdpa (fused and memory-efficient for long inputs; `checkpoint.set_attention`).
    A hub model's commit is the adapter's `model_revision` (None for folders outside the hub cache and the demo).
    """
    from trexplain.interop.pipelines import is_pipeline, load_pipeline
    from trexplain.models.vision import VIT_DEMO_DIR, VIT_DEMO_NAMES, load_vision_model, vision_folder  # images

    check_attention(attn_implementation)
    if is_pipeline(source):
        adapter = load_pipeline(source)
        set_attention(adapter.model, attn_implementation)
        return place(adapter, adapter.device if device is None else resolve_device(device), resolve_dtype(dtype))
    source = checks.model_source(source)
    precision = resolve_dtype(dtype)
    target = resolve_device(device)
    path, model_revision = locate(
        source, revision=revision, cache_dir=cache_dir, offline=offline, allow_pickle=allow_pickle
    )
    folder = VIT_DEMO_DIR if str(source) in VIT_DEMO_NAMES else vision_folder(path)
    if path is not None and folder is not None:
        name = str(source) if str(source) in VIT_DEMO_NAMES else _name(source, path)
        adapter: ModelAdapter = load_vision_model(
            folder,
            allow_pickle=allow_pickle,
            allow_missing_weights=allow_missing_weights,
            trust_remote_code=trust_remote_code,
            name=name,
        )
    elif path is None:
        model, tokenizer = build_demo_model()
        card = (DEMO_DIR / "MODEL_CARD.md").read_text() if (DEMO_DIR / "MODEL_CARD.md").is_file() else None
        adapter = ModelAdapter(model, tokenizer, family=family_for("bert"), labels=LABELS, name="demo", card=card)
    else:
        adapter = _load_text(path, _name(source, path), allow_pickle, allow_missing_weights, trust_remote_code)
    adapter.model_revision = model_revision
    set_attention(adapter.model, attn_implementation)
    return place(adapter, target, precision)


def locate(
    source: str | Path | None,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    offline: bool | None = None,
    allow_pickle: bool = False,
) -> tuple[Path | None, str | None]:
    """The folder `source` names (None for the bundled text demo) and its hub commit when it has one: a local
    folder first (with a warning when its name is also a hub id), else the hub's cached snapshot (`models.hub`)."""
    from trexplain.models.vision import VIT_DEMO_DIR, VIT_DEMO_NAMES

    if source is None or str(source) in DEMO_NAMES:
        return None, None
    if str(source) in VIT_DEMO_NAMES:
        return VIT_DEMO_DIR, None
    if str(source) in DEMO_FOLDERS:
        return DEMO_FOLDERS[str(source)], None
    path = Path(source).expanduser()
    hub_id = None if isinstance(source, Path) else parse_hub_id(str(source), revision)
    if path.exists() or hub_id is None:
        if hub_id is not None and "/" in hub_id[0] and not path.is_absolute():
            warnings.warn(
                f"{source}: loading the local folder {path.resolve()}, not the hub model of the same name; "
                "rename or move the folder to load the hub model",
                stacklevel=3,
            )
        return path, snapshot_commit(path)
    found = resolve_hub_model(
        str(source), revision=revision, cache_dir=cache_dir, offline=offline, allow_pickle=allow_pickle
    )
    return found.folder, found.commit


def _name(source: Any, path: Path) -> str:
    """The adapter's name: a bundled demo's or a hub id as given, else the folder's name."""
    if str(source) in DEMO_FOLDERS:
        return str(source)
    if isinstance(source, str) and not Path(source).expanduser().exists() and parse_hub_id(source) is not None:
        return source
    return path.name or str(path)


def _load_text(
    path: Path, name: str, allow_pickle: bool, allow_missing_weights: bool, trust_remote_code: bool
) -> ModelAdapter:
    """The checked text classifier of a local folder, as a `ModelAdapter` on the CPU in float32."""
    model, tokenizer = load_pretrained(
        path,
        allow_pickle=allow_pickle,
        allow_missing_weights=allow_missing_weights,
        trust_remote_code=trust_remote_code,
    )
    id2label = getattr(model.config, "id2label", None) or {}
    labels = [str(id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels)]
    card_file = next((path / n for n in ("README.md", CARD_FILE) if (path / n).is_file()), None)
    card = card_file.read_text(errors="replace") if card_file is not None else None
    family = family_for(str(model.config.model_type))
    return ModelAdapter(model, tokenizer, family=family, labels=labels, name=name, card=card)
