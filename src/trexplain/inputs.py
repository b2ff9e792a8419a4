"""Read texts from a file: `.txt` (one per line), `.csv` (a `text` column) or `.jsonl` (a `text` field)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from trexplain.errors import InputError

SUFFIXES = (".txt", ".csv", ".jsonl")


def read_texts(path: str | Path) -> list[str]:
    """All texts in the file, in order; blank lines of a .txt are skipped, anything else malformed is an error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    content = path.read_text(encoding="utf-8", errors="strict") if suffix != ".csv" else None
    if suffix == ".txt":
        texts = [line for line in content.splitlines() if line.strip()]
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "text" not in reader.fieldnames:
                raise InputError(f"{path}: no 'text' column (columns: {', '.join(reader.fieldnames or [])})")
            texts = [row["text"] or "" for row in reader]
    else:
        texts = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise InputError(f"{path}:{number}: each line needs a string field 'text'")
            texts.append(record["text"])
    if not texts:
        raise InputError(f"{path}: no texts found")
    return texts
