"""Atomic output: every file and folder trexplain writes appears whole or not at all, and never over an input.

A file is written to a temporary `.NAME.tmp-PID-XXXX` beside it, flushed to disk and renamed over NAME; a folder
is built in such a temporary sibling and swapped in whole. The next write to NAME removes the temporaries that
killed runs left behind. `check_output` finds a path that cannot be written before any work starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import IO

from trexplain.errors import InputError

TEMP_TAG = ".tmp-"
PathLike = str | os.PathLike[str]
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # Linux renameat2(2)


def temp_prefix(target: Path) -> str:
    """The start of every temporary name of `target` made by this process: `.NAME.tmp-PID-`."""
    return f".{target.name}{TEMP_TAG}{os.getpid()}-"


def temp_path(target: Path) -> Path:
    """A fresh temporary name beside `target`. Named before it is created, so that an interrupt arriving just
    after the creation still finds it to remove."""
    return target.with_name(temp_prefix(target) + os.urandom(4).hex())


def output_path(
    path: PathLike, *, folder: bool = False, contents: Collection[str] | None = None, what: str | None = None
) -> Path:
    """Where a write to `path` lands (a symlink's target), if it can: the parent exists, `path` is not a folder (a
    file, with `folder`), device or FIFO, and a folder to replace holds only `contents`; else an `InputError`."""
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None
    except NotADirectoryError as exc:
        raise InputError(f"{name}: {_file_ancestor(path)} is a file, not a folder; choose a path in a folder") from exc
    except OSError as exc:
        raise InputError(f"{name}: {_reason(exc)}; choose another path") from exc
    target = Path(os.path.realpath(path))
    if info is None:
        if not target.parent.is_dir():
            raise InputError(f"{name}: no such folder {target.parent}; create it first or choose another path")
    elif folder and not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{name} is a file, not a folder; give the name of a new folder")
    elif not folder and stat.S_ISDIR(info.st_mode):
        raise InputError(f"{name} is a folder; give a file name (inside it, or elsewhere)")
    elif not folder and not stat.S_ISREG(info.st_mode):
        raise InputError(f"{name} is not a regular file (a device, FIFO or socket); write to a regular file")
    if folder and info is not None and contents is not None:
        other = sorted(set(os.listdir(target)) - set(contents))
        if other:
            raise InputError(
                f"{name} holds other files ({', '.join(other[:3])}{', …' if len(other) > 3 else ''}) and would be "
                "replaced whole; give a new or empty folder"
            )
    return target


def check_output(
    path: PathLike,
    *,
    inputs: Sequence[PathLike] = (),
    folder: bool = False,
    contents: Collection[str] | None = None,
    what: str | None = None,
) -> Path:
    """`output_path`, and its folder takes new files, and it is none of `inputs` (nor holds one); call it before any
    work. A `folder` without `contents` is one to write files into (figures), not to replace."""
    target = output_path(path, folder=folder, contents=contents, what=what)
    name = f"{what} {path}" if what else str(path)
    where = target if folder and contents is None and target.is_dir() else target.parent
    probe = temp_path(where / target.name)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise InputError(f"{name}: cannot write in {where} ({_reason(exc)}); choose a writable folder") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)
    if target.is_file() and not os.access(target, os.W_OK):
        raise InputError(f"{name} is read-only; make it writable or choose another path")
    for source in inputs:
        source = Path(source)
        if _same(target, source):
            raise InputError(f"{name} is the input file {source}; write the output to another file")
        if folder and Path(os.path.realpath(source)).is_relative_to(target):
            raise InputError(f"{name} holds the input file {source} and would be replaced whole; choose another folder")
    return target


@contextlib.contextmanager
def atomic_file(path: PathLike, mode: str = "w", *, what: str | None = None) -> Iterator[IO]:
    """A handle ("w": UTF-8 text, "wb": bytes) whose content replaces `path` whole when the block ends;
    if the block fails or is interrupted, `path` stays as it was and the temporary file is removed."""
    if mode not in ("w", "wb"):
        raise InputError(f"atomic_file writes with mode 'w' or 'wb', not {mode!r}")
    target = output_path(path, what=what)
    clean_stale(target)
    name = f"{what} {path}" if what else str(path)
    temp = temp_path(target)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _mode(target, 0o666))
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise InputError(f"{name}: cannot write it ({_reason(exc)}); the old file, if any, is unchanged") from exc
        raise
    _sync(target.parent)


def write_text(path: PathLike, text: str, *, what: str | None = None) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns `path`."""
    with atomic_file(path, "w", what=what) as handle:
        handle.write(text)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(path: PathLike, *, contents: Collection[str], what: str | None = None) -> Iterator[Path]:
    """An empty temporary folder beside `path` to build in, swapped in whole for `path` (absent, or holding only
    `contents`) when the block ends; if the block fails or is interrupted, `path` stays as it was."""
    target = output_path(path, folder=True, contents=contents, what=what)
    clean_stale(target)
    temp = temp_path(target)
    try:
        temp.mkdir(mode=0o700)
        yield temp
        os.chmod(temp, _mode(target, 0o777))
        _swap(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _sync(target.parent)


def clean_stale(target: Path) -> list[Path]:
    """Remove the temporaries of `target` that runs no longer alive left behind; returns what was removed."""
    pattern = re.compile(re.escape(f".{target.name}{TEMP_TAG}") + r"(\d+)-")
    removed = []
    with os.scandir(target.parent) as entries:
        for entry in entries:
            found = pattern.match(entry.name)
            if found and not _alive(int(found.group(1))):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _swap(new: Path, target: Path) -> None:
    """Put the folder `new` at `target` in one step; the old `target`, if any, is removed after."""
    try:
        os.rename(new, target)  # atomic when target is absent or an empty folder
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None or renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(target), _RENAME_EXCHANGE):
        # no atomic exchange here: two renames, the old folder kept under a temporary name until the second
        aside = new.with_name(new.name + "-old")
        os.rename(target, aside)
        os.rename(new, target)
        new = aside
    shutil.rmtree(new)


def _mode(target: Path, full: int) -> int:
    """The permission bits for a new `target`: those of the file it replaces, else `full` less the umask."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(os.stat(target).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return full & ~umask


def _sync(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk, where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _file_ancestor(path: Path) -> Path:
    """The first ancestor of `path` that exists and is not a folder."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return path.parent


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    return exc.strerror or str(exc)
