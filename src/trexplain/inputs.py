"""Read texts from a file: `.txt` (one per line), `.csv` / `.tsv` (a text column) or `.jsonl` (a text field).

`read_texts` reads a whole file; `iter_records` streams one (for dataset runs), with other named columns
(an id, a rationale) beside each text, through the same parsers and checks.

Files are UTF-8 (a byte-order mark is dropped; LF, CRLF and CR line ends all work). Anything that cannot be read
as given is an `InputError` naming the file, the line and the fix; nothing is guessed or silently skipped
except the blank lines of a .txt.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from trexplain.errors import InputError

SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")
CSV_FIELD_LIMIT = 2**31 - 1  # characters per CSV field: the most a C long holds on every platform
TEXT_COLUMN = "text"
_LINE_END = re.compile(r"\r\n|\r|\n")  # not str.splitlines: U+2028, U+0085 ... are characters inside a text
_SURROGATE = re.compile("[\ud800-\udfff]")
NAME_IT = "name the one holding the texts with text_column (CLI: --text-column)"


def read_texts(path: str | os.PathLike[str], text_column: str | None = None) -> list[str]:
    """All texts in the file, in order. `text_column` names the CSV/TSV column or JSONL field (default "text")."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    if text_column is not None and suffix == ".txt":
        raise InputError(f"{path}: a .txt file holds one text per line, without columns; drop the text column")
    content = read_text(path)
    if not content.strip():
        raise InputError(f"{path} is empty; give a file with at least one text")
    column = TEXT_COLUMN if text_column is None else text_column
    lines = enumerate(_LINE_END.split(content), start=1)
    if suffix == ".txt":
        texts = [line for _, line in lines if line.strip()]
    elif suffix == ".jsonl":
        texts = [text for _, text, _ in _jsonl(path, lines, column, ())]
    else:
        stream = io.StringIO(content, newline="")
        texts = [text for _, text, _ in _table(path, stream, "\t" if suffix == ".tsv" else ",", column, ())]
    if not texts:
        raise InputError(f"{path} has no texts, only a header; give a file with at least one text")
    return texts


def check_text(text: str, where: str) -> str:
    """`text`, if it is valid Unicode: a lone surrogate (an argument's undecodable byte, or a JSON escape such
    as \\ud800) is an `InputError` naming `where`."""
    bad = _SURROGATE.search(text)
    if bad is None:
        return text
    code = ord(bad.group())
    if 0xDC80 <= code <= 0xDCFF:  # how Python keeps an undecodable byte of a command-line argument
        raise InputError(
            f"{where} is not valid UTF-8 (byte 0x{code - 0xDC00:02x} at character {bad.start()}); pass UTF-8"
        )
    raise InputError(
        f"{where} holds a lone surrogate \\u{code:04x} (character {bad.start()}), not Unicode; fix that escape"
    )


def read_text(path: str | os.PathLike[str]) -> str:
    """The content of a UTF-8 file (a byte-order mark dropped); a folder, FIFO, missing file or bytes that are
    not UTF-8 are an `InputError` naming the file (and the line)."""
    path = Path(path)
    return _decode(path, _read(path))


def _read_check(path: Path) -> None:
    """`path` is a regular file that exists: else an `InputError` naming it."""
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file; check the path") from exc
    except OSError as exc:
        reason = "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise InputError(f"{path}: cannot read it ({reason}); check the path") from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path} is a folder; give a file ({', '.join(SUFFIXES)})")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path} is not a regular file (a FIFO, device or socket); give a file on disk")


def _read(path: Path) -> bytes:
    try:
        _read_check(path)
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file; check the path") from exc
    except OSError as exc:
        reason = "a symbolic link loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise InputError(f"{path}: cannot read it ({reason}); check the path") from exc


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from exc


def _jsonl(
    path: Path, lines: Iterable[tuple[int, str]], field: str, extras: Sequence[str]
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno}); fix the line"
            ) from exc
        except (ValueError, RecursionError) as exc:  # numbers too long to convert, nesting too deep
            raise InputError(f"{path}:{number}: JSON this reader cannot take ({exc}); fix the line") from exc
        if not isinstance(record, dict) or not isinstance(record.get(field), str):
            found = f"fields: {', '.join(list(record)[:5])}" if isinstance(record, dict) else type(record).__name__
            raise InputError(
                f"{path}:{number}: each line needs an object with a string field {field!r} ({found}); {NAME_IT}"
            )
        missing = [name for name in extras if name not in record]
        if missing:
            raise InputError(f"{path}:{number}: no field {missing[0]!r} in this line; give it on every line")
        text = _nonempty(check_text(record[field], f"{path}:{number}: field {field!r}"), path, number)
        yield number, text, {name: record[name] for name in extras}


def _table(
    path: Path, stream: Iterable[str], delimiter: str, column: str, extras: Sequence[str]
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:  # the module's default, 128 KiB, calls a long text malformed
        csv.field_size_limit(CSV_FIELD_LIMIT)
    rows = csv.reader(stream, delimiter=delimiter, strict=True)
    kind = "TSV" if delimiter == "\t" else "CSV"
    try:
        header = next(rows, None)
        if not header:
            raise InputError(f"{path} has no header row; the first line must name the columns, one being {column!r}")
        for name in (column, *extras):
            if header.count(name) != 1:
                problem = f"column {name!r} appears twice" if name in header else f"no column {name!r}"
                fix = NAME_IT if name == column else "name a column the file has"
                raise InputError(f"{path}: {problem} (columns: {', '.join(header)}); {fix}")
        index = header.index(column)
        others = {name: header.index(name) for name in extras}
        for row in rows:
            if not row:
                continue
            if len(row) != len(header):
                raise InputError(
                    f"{path}:{rows.line_num}: {len(row)} fields, the header has {len(header)}; "
                    f"quote texts that contain the delimiter {delimiter!r} or quotes"
                )
            yield rows.line_num, _nonempty(row[index], path, rows.line_num), {n: row[i] for n, i in others.items()}
    except csv.Error as exc:
        raise InputError(f"{path}:{rows.line_num}: malformed {kind} ({exc}); check the quotes on that line") from exc


def iter_records(
    path: str | os.PathLike[str], text_column: str | None = None, extras: Sequence[str] = ()
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Stream `(line, text, {column: value})` for every text of a .txt/.csv/.tsv/.jsonl file, reading it
    line by line (memory does not grow with the file); `extras` names other columns (fields) to keep,
    as strings for CSV/TSV and as JSON values for JSONL. The same checks and errors as `read_texts`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    if suffix == ".txt" and (text_column is not None or extras):
        raise InputError(f"{path}: a .txt file holds one text per line, without columns; use a .csv or .jsonl")
    column = TEXT_COLUMN if text_column is None else text_column
    found = 0
    with _open(path) as handle:
        if suffix == ".txt":
            records: Iterator[tuple[int, str, dict[str, Any]]] = (
                (n, check_text(line, f"{path}:{n}"), {}) for n, line in _numbered(path, handle) if line.strip()
            )
        elif suffix == ".jsonl":
            records = _jsonl(path, _numbered(path, handle), column, extras)
        else:
            records = _table(
                path, (line for _, line in _numbered(path, handle, ends=True)), _delimiter(suffix), column, extras
            )
        for record in records:
            found += 1
            yield record
    if not found:
        raise InputError(f"{path} has no texts; give a file with at least one text")


def _delimiter(suffix: str) -> str:
    return "\t" if suffix == ".tsv" else ","


def _open(path: Path) -> io.TextIOWrapper:
    """A UTF-8 text handle on a regular file (a byte-order mark dropped, line ends kept as they are)."""
    _read_check(path)
    try:
        return open(path, encoding="utf-8-sig", newline="")  # the caller closes it
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc}); check the path") from exc


def _numbered(path: Path, handle: io.TextIOWrapper, ends: bool = False) -> Iterator[tuple[int, str]]:
    """The file's lines with their numbers (LF, CRLF and CR ends; without them unless `ends`); bytes that are
    not UTF-8 are an `InputError` naming the line."""
    number = 0
    try:
        for line in handle:
            number += 1
            yield number, line if ends else line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}:{number + 1}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8"
        ) from exc


def _nonempty(text: str, path: Path, line: int) -> str:
    if not text.strip():
        raise InputError(f"{path}:{line}: the text is empty; fill it in or remove the line")
    return text
