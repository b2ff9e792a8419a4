"""`manifest.json` of a run folder: what the run is (model and weight hash, methods, parameters, input file
hash, schema versions) and what it has written (its shards with row counts).

`RunConfig` holds what decides the content of every shard; a rerun into a folder whose manifest states
another one is a `RunMismatchError` naming each difference, so a folder never mixes two runs. Options that
only change how fast the run goes (`--workers`, `--backend`, `--batch-size`) or how far (`--limit`) are not
part of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trexplain.errors import InputError, RunMismatchError
from trexplain.explanation import SCHEMA_VERSION
from trexplain.io import write_text
from trexplain.version import __version__

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's shards; two runs with equal configs write equal shards."""

    model: str
    weights_sha256: str
    methods: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]]
    target: Any
    evaluate: bool
    truncate: bool
    input_name: str
    input_sha256: str
    text_column: str | None
    id_column: str | None
    rationale_column: str | None
    shard_size: int
    schema_version: int = SCHEMA_VERSION
    model_revision: str | None = None  # the hub commit of the weights; resuming against another one is refused

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods)
        out["params"] = {k: dict(v) for k, v in self.params.items()}
        return json.loads(json.dumps(out))  # JSON types only, so it compares equal to what is read back

    def differences(self, stated: Mapping[str, Any]) -> list[str]:
        """`name: here vs in the folder` for every field that differs from a manifest's config."""
        mine = self.to_dict()
        return [
            f"{key}: {mine.get(key)!r} here, {stated.get(key)!r} in the folder"
            for key in mine
            if key != "input_name" and mine.get(key) != stated.get(key)
        ]


@dataclass
class Manifest:
    """A run folder's manifest: its config, shards (`name`, `first`/`last` input row, `texts`,
    `explanations`), progress counts and whether every input row is done (`complete`)."""

    config: RunConfig
    shards: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "producer": f"trexplain {__version__}",
            "config": self.config.to_dict(),
            "complete": self.complete,
            "counts": dict(self.counts),
            "texts": sum(s["texts"] for s in self.shards),
            "explanations": sum(s["explanations"] for s in self.shards),
            "shards": list(self.shards),
        }


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write `folder/manifest.json` atomically."""
    return write_text(folder / MANIFEST, json.dumps(manifest.to_dict(), indent=1, ensure_ascii=False) + "\n")


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a run folder as a dict; a folder without one (or an unreadable one) is an `InputError`."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(
            f"{folder} is not a run folder (no {MANIFEST}); give the --out folder of `trexplain run`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it ({exc}); it is written by `trexplain run`") from exc
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise InputError(f"{path} is not a run manifest (no config); it is written by `trexplain run`")
    if data.get("manifest_version", 0) > MANIFEST_VERSION:
        raise InputError(f"{path} has manifest_version {data['manifest_version']}; upgrade trexplain to read it")
    return data


def check_same_run(folder: Path, config: RunConfig) -> None:
    """An existing manifest in `folder` states the same config, else a `RunMismatchError` listing the differences."""
    stated = read_manifest(folder)["config"]
    found = config.differences(stated)
    if found:
        raise RunMismatchError(
            f"{folder} holds another run ({'; '.join(found)}); rerun with the same model, input and options to "
            "resume it, or give a new --out folder"
        )


def methods_of(config: Mapping[str, Any]) -> Sequence[str]:
    """The methods a manifest's config names."""
    return list(config.get("methods", []))
