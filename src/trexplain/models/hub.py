"""Hugging Face Hub model ids (`org/name`, `name`, `org/name@revision`): resolved to a snapshot folder in the
local cache and the commit it holds, offline first. `load_model` then checks that folder like any local folder.

Settings are read when a model is resolved, not when huggingface_hub is imported: `HF_ENDPOINT`, `HF_HUB_CACHE`
(or `HF_HOME`), `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`), `HF_TOKEN`. See docs/loading.md.
"""

from __future__ import annotations

import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from trexplain.errors import (
    HubUnreachableError,
    InputError,
    ModelAccessError,
    ModelLoadError,
    ModelNotCachedError,
    ModelNotFoundError,
)

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?(@[\w./-]+)?")
COMMIT = re.compile(r"[0-9a-f]{40}")
DEFAULT_REVISION = "main"
DEFAULT_ENDPOINT = "https://huggingface.co"
# what a classifier needs: config, safetensors weights, tokenizer or image processor, model card
FILES = [
    "config.json",
    "model.safetensors",
    "model-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",
    "preprocessor_config.json",
    "README.md",
]
PICKLE_FILES = ["pytorch_model.bin", "pytorch_model-*.bin", "pytorch_model.bin.index.json"]
RETRY_DELAYS = (0.5, 1.0, 2.0)
"""Seconds to wait before each retry after a network failure (3 retries, then `HubUnreachableError`)."""

T = TypeVar("T")


@dataclass(frozen=True)
class HubModel:
    """A hub model in the local cache: its repo, the revision asked for, the commit resolved and its folder."""

    repo_id: str
    revision: str
    commit: str
    folder: Path


def parse_hub_id(source: str, revision: str | None = None) -> tuple[str, str] | None:
    """`(repo_id, revision)` of a hub id (`org/name`, `name`, `org/name@rev`), or None when `source` cannot be one
    (a path with `./`, several slashes, a drive…). `revision=` and `@rev` together must agree."""
    if not HUB_ID.fullmatch(source) or ".." in source:
        return None
    repo_id, _, pinned = source.partition("@")
    if revision and pinned and revision != pinned:
        raise InputError(f"{source}: the id pins revision {pinned!r} but revision={revision!r} was given; give one")
    return repo_id, pinned or revision or DEFAULT_REVISION


def hub_endpoint() -> str:
    """The hub's address: `HF_ENDPOINT` now, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_cache(cache_dir: str | Path | None = None) -> Path:
    """The hub cache folder: `cache_dir`, else `HF_HUB_CACHE`, `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]).expanduser()
    home = env.get("HF_HOME") or str(Path(env.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline(offline: bool | None = None) -> bool:
    """Whether to stay off the network: `offline` when given, else `HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE`."""
    if offline is not None:
        return offline
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_hub_model(
    source: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    offline: bool | None = None,
    allow_pickle: bool = False,
) -> HubModel:
    """The cached snapshot of hub id `source`, downloaded first when it is not cached and the hub is reachable.

    A pinned commit already cached, and every id when offline, is answered from the cache without any request;
    a branch or tag asks the hub for its commit (one request) and downloads only the files that are missing.
    When the hub cannot be reached, a cached copy of the revision is used with a warning; without one,
    `RETRY_DELAYS` retries and then a `HubUnreachableError`. Pickle weights are fetched only with `allow_pickle`.
    """
    parsed = parse_hub_id(source, revision)
    if parsed is None:
        raise ModelLoadError(f"{source}: neither a local folder nor a Hugging Face model id (org/name[@revision])")
    repo_id, rev = parsed
    cache, endpoint = hub_cache(cache_dir), hub_endpoint()
    patterns = FILES + (PICKLE_FILES if allow_pickle else [])
    if hub_offline(offline) or COMMIT.fullmatch(rev):
        if (hit := cached_hub_model(repo_id, rev, cache, patterns)) is not None:
            return hit
        if hub_offline(offline):
            raise ModelNotCachedError(
                f"{repo_id}@{rev}: no local folder of that name, and it is not in the hub cache {cache} with offline "
                "mode on; fetch it on a connected "
                f"machine with `hf download {repo_id}{_revision_flag(rev)}` and copy the cache (or a folder saved "
                "with save_pretrained) here, or go online (unset HF_HUB_OFFLINE / drop --offline)"
            )
    return _with_retries(
        lambda: _download(repo_id, rev, cache, endpoint, patterns, allow_pickle),
        lambda: cached_hub_model(repo_id, rev, cache, patterns),
        f"{repo_id}@{rev}",
        endpoint,
    )


def cached_hub_model(repo_id: str, revision: str, cache: Path, patterns: list[str]) -> HubModel | None:
    """The complete cached snapshot of `repo_id@revision` (no request is made), or None when it is not cached."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id, revision=revision, cache_dir=cache, allow_patterns=patterns, local_files_only=True
        )
    except LocalEntryNotFoundError:
        return None
    return HubModel(repo_id, revision, Path(folder).name, Path(folder))


def snapshot_commit(path: Path) -> str | None:
    """The commit of a folder inside a hub cache (`…/snapshots/<commit>`), else None."""
    resolved = path.expanduser().resolve()
    return resolved.name if resolved.parent.name == "snapshots" and COMMIT.fullmatch(resolved.name) else None


def _download(
    repo_id: str, revision: str, cache: Path, endpoint: str, patterns: list[str], allow_pickle: bool
) -> HubModel:
    """Ask the hub for the revision's files, refuse a repo without usable weights, then fetch what is missing."""
    from huggingface_hub import HfApi, snapshot_download

    with _translated(repo_id, revision, endpoint):
        info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision)
        _check_repo_files(repo_id, [s.rfilename for s in info.siblings or ()], allow_pickle)
        with _download_progress():
            folder = snapshot_download(
                repo_id, revision=revision, cache_dir=cache, allow_patterns=patterns, endpoint=endpoint
            )
    return HubModel(repo_id, revision, Path(folder).name, Path(folder))


def _check_repo_files(repo_id: str, files: list[str], allow_pickle: bool) -> None:
    """A repo must hold config.json and safetensors weights (or pickle weights with `allow_pickle`)."""
    if "config.json" not in files:
        raise ModelLoadError(f"{repo_id}: no config.json in the repo, so it is not a transformers model")
    if any(name.endswith(".safetensors") and name.startswith("model") for name in files):
        return
    if any(name.startswith("pytorch_model") and name.endswith(".bin") for name in files):
        if allow_pickle:
            return
        raise ModelLoadError(
            f"{repo_id}: only pickle weights (pytorch_model.bin), which can run code when loaded. Convert them to "
            "safetensors, or pass allow_pickle=True (CLI: --allow-pickle) if you trust their source"
        )
    raise ModelLoadError(f"{repo_id}: no weights in the repo (model.safetensors or pytorch_model.bin)")


def _with_retries(call: Callable[[], T], cached: Callable[[], T | None], what: str, endpoint: str) -> T:
    """`call()`, retried after network failures; after the first failure a cached copy is used when there is one."""
    from httpx2 import TransportError
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    last: BaseException | None = None
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
        time.sleep(delay)
        try:
            return call()
        except (TransportError, LocalEntryNotFoundError, HubUnreachableError, HfHubHTTPError) as exc:
            status = _status(exc)
            if isinstance(exc, HfHubHTTPError) and status is not None and status < 500 and status != 429:
                raise
            last = exc
            if attempt == 0 and (hit := cached()) is not None:
                warnings.warn(f"{endpoint} could not be reached ({_short(exc)}); using the cached {what}", stacklevel=4)
                return hit
    raise HubUnreachableError(
        f"{endpoint} could not be reached after {len(RETRY_DELAYS) + 1} tries ({_short(last)}) and {what} is not "
        "cached; check the connection (or HF_ENDPOINT / proxy settings) and try again, or fetch it on a connected "
        "machine with `hf download` and copy the cache here"
    )


@contextmanager
def _translated(repo_id: str, revision: str, endpoint: str) -> Iterator[None]:
    """huggingface_hub's not-found and access errors as one-line typed errors naming the fix (never the token)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    login = "log in with `hf auth login` or set HF_TOKEN to a token that may read it"
    try:
        yield
    except OfflineModeIsEnabled as exc:
        raise ModelNotCachedError(
            f"{repo_id}@{revision} is not in the hub cache and huggingface_hub is in offline mode (HF_HUB_OFFLINE was "
            f"set when it was imported); fetch it with `hf download {repo_id}` or start without HF_HUB_OFFLINE"
        ) from exc
    except GatedRepoError as exc:
        raise ModelAccessError(
            f"{repo_id} on {endpoint} is gated: request access on its model page, then {login}"
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelNotFoundError(
            f"{repo_id} on {endpoint} has no revision {revision!r}; give an existing branch, tag or commit"
        ) from exc
    except RepositoryNotFoundError as exc:
        if _status(exc) in (401, 403):
            raise ModelAccessError(f"{repo_id} on {endpoint} is private or gated: {login}") from exc
        raise ModelNotFoundError(
            f"{repo_id}: no local folder of that name and no model {repo_id} on {endpoint}; check the spelling "
            f"(org/name), or {login} if it is private"
        ) from exc
    except HfHubHTTPError as exc:
        status = _status(exc)
        if status in (401, 403):
            raise ModelAccessError(f"{repo_id} on {endpoint}: access refused (HTTP {status}); {login}") from exc
        if status is not None and status < 500 and status != 429:
            raise ModelLoadError(f"{repo_id} on {endpoint}: the hub answered HTTP {status}; try again") from exc
        raise


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _short(exc: BaseException | None) -> str:
    """The exception's type and first line, with any token value replaced by `***`."""
    if exc is None:
        return "no answer"
    text = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return redact(text)


def redact(text: str) -> str:
    """`text` with the Hugging Face token (from HF_TOKEN or the login file) replaced by `***`."""
    from huggingface_hub import get_token

    token = get_token()
    return text.replace(token, "***") if token else text


def _revision_flag(revision: str) -> str:
    return "" if revision == DEFAULT_REVISION else f" --revision {revision}"


@contextmanager
def _download_progress() -> Iterator[None]:
    """huggingface_hub's download bars on stderr when it is a terminal; off otherwise (logs, pipes, CI)."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    quiet = not _stderr_is_terminal()
    was_disabled = are_progress_bars_disabled()
    if quiet and not was_disabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if quiet and not was_disabled:
            enable_progress_bars()


def _stderr_is_terminal() -> bool:
    isatty: Any = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())
