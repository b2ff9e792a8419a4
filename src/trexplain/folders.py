"""One way to write a folder (concept folders, dictionaries, activation stores): it is built in a temporary sibling,
every file in it and the folder itself are flushed to disk, and it is swapped in whole (`io.atomic_folder`, which
also removes the temporaries that crashed earlier writes left). A destination that holds files is replaced only
when the caller asks (`replace=True`), and then only if it holds nothing but the folder's own files."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from trexplain.errors import InputError
from trexplain.io import PathLike, atomic_folder


@contextmanager
def atomic_dir(
    path: PathLike, *, contents: Collection[str], replace: bool = False, what: str = "folder"
) -> Iterator[Path]:
    """An empty temporary folder to write `path`'s files into; when the block ends they are flushed and the folder
    takes `path`'s place whole. If the block fails or the process dies, `path` stays as it was. Missing parent
    folders are created. `path` may be absent or empty; one holding files is an `InputError` unless `replace`
    (and one holding files other than `contents` always is)."""
    target = Path(path)
    if not replace and target.is_dir() and any(target.iterdir()):
        raise InputError(f"{what} {target} already exists and holds files; remove it or choose another folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(target, contents=contents, what=what) as folder:
        yield folder
        sync_tree(folder)


def sync_tree(folder: Path) -> None:
    """Flush every file under `folder` to disk, then every folder's entries, the deepest first (where the platform
    can open a folder: not on Windows, whose renames need no such flush)."""
    folders = []
    for root, _dirs, files in os.walk(folder):
        folders.append(root)
        for name in files:
            _fsync(os.path.join(root, name), os.O_RDWR)
    for root in reversed(folders):
        with suppress(OSError):
            _fsync(root, os.O_RDONLY)


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
