"""One atomic-folder write (`trexplain.folders.atomic_dir`) for concept folders, dictionaries and activation
stores: a crash mid-write leaves the old folder as it was and no temporary behind once the next write has run,
every file and folder is flushed to disk before the swap, and a folder holding files is replaced only when asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trexplain.concepts import PCA
from trexplain.concepts.activations import extract
from trexplain.concepts.conceptset import ConceptSet
from trexplain.concepts.dictionaries import Dictionary
from trexplain.errors import InputError
from trexplain.folders import atomic_dir

X = np.random.default_rng(0).normal(size=(40, 6))
TEXTS = ["the movie was great", "the plot was thin", "a great film", "what a movie"]


def dead_pid() -> int:
    """The id of a process that has ended (a temporary it left is stale)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def stale_temporary(target: Path) -> Path:
    """What a write killed mid-way leaves beside `target`: a half-built temporary folder of a dead process."""
    stale = target.with_name(f".{target.name}.tmp-{dead_pid()}-0badc0de")
    stale.mkdir()
    (stale / "half.npy").write_bytes(b"\x93NUMPY half")
    return stale


def test_a_crash_keeps_the_old_folder_and_the_next_write_removes_every_temporary(tmp_path, monkeypatch):
    target = tmp_path / "pca"
    PCA(2).fit(X).save(target)
    old = files(target)
    stale = stale_temporary(target)

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-write")

    with monkeypatch.context() as patch:  # the arrays are written, the parameters are not
        patch.setattr("trexplain.concepts.dictionaries.json.dumps", crash)
        with (
            pytest.raises(RuntimeError, match="killed mid-write"),
            atomic_dir(target, contents=("dictionary.json", "arrays.safetensors"), replace=True) as folder,
        ):
            PCA(3).fit(X).write_files(folder)
    assert files(target) == old  # the old folder, byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca"]  # its own temporary and the stale one gone
    assert not stale.exists()
    stale = stale_temporary(target)
    with atomic_dir(target, contents=("dictionary.json", "arrays.safetensors"), replace=True) as folder:
        PCA(3).fit(X).write_files(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca"] and not stale.exists()
    assert Dictionary.load(target).n_concepts == 3


def test_concept_folder_crash_and_stale_temporaries(tiny, tmp_path, monkeypatch):
    from trexplain.concepts.conceptset import fit_concepts

    fitted = fit_concepts(
        tiny["bert"], TEXTS, n_concepts=2, method="pca", importance_texts=2, deletion_texts=2, fidelity_texts=2,
        min_count=1, words=2, top_k=2,
    )  # fmt: skip
    out = fitted.save(tmp_path / "concepts")
    old = files(out)
    stale = stale_temporary(out)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr("trexplain.concepts.conceptset.json_copy", crash)
        with pytest.raises(OSError, match="disk full"):
            fitted.save(out)
    assert files(out) == old and sorted(p.name for p in tmp_path.iterdir()) == ["concepts"] and not stale.exists()
    with pytest.raises(InputError, match="already exists"):
        fitted.save(out, replace=False)
    assert ConceptSet.load(fitted.save(out)).meta == ConceptSet.load(out).meta


def test_activation_store_stale_temporary_is_removed(tiny, tmp_path):
    out = tmp_path / "store"
    stale = stale_temporary(out)
    store = extract(tiny["bert"], TEXTS, out=out)
    assert len(store) == len(TEXTS) and not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    with pytest.raises(InputError, match="already exists"):
        extract(tiny["bert"], TEXTS, out=out)


def test_every_file_and_the_folder_are_flushed_before_the_swap(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "pca"
    with atomic_dir(target, contents=("dictionary.json", "arrays.safetensors")) as folder:
        PCA(2).fit(X).write_files(folder)
        assert not synced  # nothing before the block ends
    inodes = {p.name: p.stat().st_ino for p in target.iterdir()}
    assert set(inodes) == {"dictionary.json", "arrays.safetensors"}
    assert set(inodes.values()) | {target.stat().st_ino} <= set(synced)  # each file and the folder itself


def test_a_folder_holding_files_is_replaced_only_when_asked(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with atomic_dir(target, contents=("a.txt",)) as folder:  # an empty folder is filled
        (folder / "a.txt").write_text("one")
    with pytest.raises(InputError, match="already exists and holds files"), atomic_dir(target, contents=("a.txt",)):
        pass
    assert (target / "a.txt").read_text() == "one"
    with atomic_dir(target, contents=("a.txt",), replace=True) as folder:
        (folder / "a.txt").write_text("two")
    assert (target / "a.txt").read_text() == "two"
    (target / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="holds other files"), atomic_dir(target, contents=("a.txt",), replace=True):
        pass
    assert files(target) == {"a.txt": b"two", "mine.txt": b"keep"}
    with atomic_dir(tmp_path / "new" / "deep", contents=()) as folder:  # missing parents are created
        (folder / "x").write_text("x")
    assert (tmp_path / "new" / "deep" / "x").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "out"]
