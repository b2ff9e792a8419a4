"""Edit sources: for one word of a text, the replacements to try ("" deletes the word).

Each source is a small class called with a `Slot` (the text, the word's span in it, a seeded generator) and
returning replacement strings; `Combined` joins several, dropping repeats and the word itself. Nothing is
downloaded: neighbours come from the model's own input embeddings, a masked LM only from a local folder.
"""

from __future__ import annotations

import csv
import io
import json
import random
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from trexplain.errors import InputError, ModelLoadError
from trexplain.models.adapter import ModelAdapter
from trexplain.models.words import graphemes, is_alphabetic

EDIT_NAMES = ("delete", "embed", "char", "mlm", "words")
DEFAULT_EDITS = ("delete", "embed", "char")


@dataclass(frozen=True)
class Slot:
    """One word to edit: the current `text`, the word's character span in it, and a generator seeded by the
    probe's seed and the word's place (the same seed gives the same edits)."""

    text: str
    start: int
    end: int
    rng: random.Random

    @property
    def word(self) -> str:
        return self.text[self.start : self.end]


class EditSource:
    """Replacements for the word of a slot; subclasses set `name` and implement `__call__`."""

    name: ClassVar[str]

    def __call__(self, slot: Slot) -> list[str]:
        raise NotImplementedError


def keep_case(word: str, replacement: str) -> str:
    """`replacement` in the case pattern of `word`: UPPER, Capitalised or as given."""
    if len(word) > 1 and word.isupper():
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


class Delete(EditSource):
    """Remove the word."""

    name = "delete"

    def __call__(self, slot: Slot) -> list[str]:
        return [""]


@dataclass
class Neighbours(EditSource):
    """The `k` nearest whole-word vocabulary entries to the word in the model's input-embedding space (cosine),
    in the word's case. Words split into several tokens use the mean of their pieces' embeddings."""

    adapter: ModelAdapter
    k: int = 20
    name: ClassVar[str] = "embed"

    def __call__(self, slot: Slot) -> list[str]:
        word = slot.word
        if not is_alphabetic(word) or self.k < 1:
            return []
        table = embedding_table(self.adapter)
        ids = self.adapter.tokenize(word, add_special_tokens=False)["input_ids"]
        if not ids:
            return []
        query = torch.nn.functional.normalize(table.weights[ids].float().mean(0), dim=0)
        similarity = table.normalised @ query
        order = torch.argsort(similarity, descending=True).tolist()
        out, lowered = [], word.lower()
        for index in order:
            candidate = table.words[index]
            if candidate.lower() != lowered:
                out.append(keep_case(word, candidate))
            if len(out) == self.k:
                break
        return out


@dataclass(frozen=True)
class EmbeddingTable:
    """Whole-word vocabulary entries (their text) and their input embeddings, raw and unit length."""

    words: list[str]
    weights: Tensor
    normalised: Tensor


_TABLES: weakref.WeakKeyDictionary[ModelAdapter, EmbeddingTable] = weakref.WeakKeyDictionary()


def embedding_table(adapter: ModelAdapter) -> EmbeddingTable:
    """The adapter's whole-word embedding table, computed once per adapter (special tokens and subword
    continuations — WordPiece `##x`, SentencePiece pieces without `▁`, BPE pieces without `Ġ` — left out)."""
    if adapter in _TABLES:
        return _TABLES[adapter]
    weights = token_embedding_module(adapter).weight.detach().float().cpu()
    vocab = adapter.tokenizer.get_vocab()
    special = set(adapter.tokenizer.all_special_ids)
    marker = _word_marker(vocab)
    keep_ids, words = [], []
    for token, index in vocab.items():
        if index in special or index >= weights.shape[0]:
            continue
        text = _whole_word(token, marker)
        if text is not None and len(text) > 1 and is_alphabetic(text):
            keep_ids.append(index)
            words.append(text)
    if not keep_ids:
        raise InputError(f"{adapter.name}'s vocabulary has no whole-word entries; drop 'embed' from the edits")
    chosen = weights[keep_ids]
    table = EmbeddingTable(words, weights, torch.nn.functional.normalize(chosen, dim=1))
    _TABLES[adapter] = table
    return table


def token_embedding_module(adapter: ModelAdapter) -> torch.nn.Embedding:
    """The model's token-embedding table (its input embeddings, else the first `nn.Embedding` of its
    embedding module)."""
    module = adapter.model.get_input_embeddings() if hasattr(adapter.model, "get_input_embeddings") else None
    if module is None:
        module = next((m for m in adapter.embedding_module.modules() if isinstance(m, torch.nn.Embedding)), None)
    if module is None:
        raise InputError(
            f"{adapter.name} has no token embedding table; drop 'embed' from the edits and use candidates='source'"
        )
    return module


def _word_marker(vocab: Mapping[str, int]) -> str:
    """How the vocabulary marks pieces: "##" (WordPiece continuations), "▁" or "Ġ" (word starts)."""
    counts = {m: sum(token.startswith(m) for token in vocab) for m in ("##", "▁", "Ġ")}
    return max(counts, key=lambda m: counts[m]) if any(counts.values()) else ""


def _whole_word(token: str, marker: str) -> str | None:
    """The word a vocabulary entry spells when it can stand alone as a word, else None."""
    if marker == "##":
        return None if token.startswith("##") else token
    if marker:
        return token[len(marker) :] if token.startswith(marker) else None
    return token


KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbouring_keys() -> dict[str, str]:
    rows = KEYBOARD
    out: dict[str, str] = {}
    for r, row in enumerate(rows):
        for c, key in enumerate(row):
            near = [row[c - 1] if c > 0 else "", row[c + 1] if c + 1 < len(row) else ""]
            for other in (r - 1, r + 1):
                if 0 <= other < len(rows):
                    near += [rows[other][j] for j in (c - 1, c, c + 1) if 0 <= j < len(rows[other])]
            out[key] = "".join(sorted(set("".join(near))))
    return out


NEIGHBOURING_KEYS = _neighbouring_keys()


@dataclass
class CharEdits(EditSource):
    """DeepWordBug's four character edits, one of each (positions and letters from the slot's seeded generator):
    swap two neighbouring letters, delete a letter, insert a letter, substitute a neighbouring key. A letter is a
    grapheme cluster, so a vowel sign or accent moves and goes with its letter."""

    name: ClassVar[str] = "char"
    kinds: tuple[str, ...] = ("swap", "delete", "insert", "key")

    def __call__(self, slot: Slot) -> list[str]:
        word, rng = slot.word, slot.rng
        letters = graphemes(word)
        if not is_alphabetic(word) or len(letters) < 2:
            return []
        out = []
        for kind in self.kinds:
            i = rng.randrange(len(letters))
            head, tail = "".join(letters[:i]), "".join(letters[i + 1 :])
            if kind == "swap":
                j = rng.randrange(len(letters) - 1)
                out.append("".join([*letters[:j], letters[j + 1], letters[j], *letters[j + 2 :]]))
            elif kind == "delete" and len(letters) >= 3:
                out.append(head + tail)
            elif kind == "insert":
                letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
                out.append(head + keep_case(letters[i - 1] if i else letters[0], letter) + letters[i] + tail)
            elif kind == "key":
                keys = NEIGHBOURING_KEYS.get(letters[i].lower(), "")
                if keys:
                    out.append(head + keep_case(letters[i], rng.choice(keys)) + tail)
        return out


@dataclass
class WordList(EditSource):
    """Replacements from a user list (word → replacements, matched ignoring case, given in the word's case)."""

    table: Mapping[str, Sequence[str]]
    name: ClassVar[str] = "words"

    def __post_init__(self) -> None:
        self.table = {str(k).lower(): [str(v) for v in vs] for k, vs in self.table.items()}

    def __call__(self, slot: Slot) -> list[str]:
        return [keep_case(slot.word, r) for r in self.table.get(slot.word.lower(), [])]

    @classmethod
    def read(cls, path: str | Path) -> WordList:
        """A list from JSON (`{"word": ["replacement", ...]}`) or CSV (rows `word,replacement[,replacement...]`)."""
        path = Path(path)
        if path.suffix.lower() not in (".json", ".csv"):
            raise InputError(f"{path}: a word list is a .json or .csv file")
        try:
            content = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8; save the word list as UTF-8") from exc
        except OSError as exc:
            raise InputError(f"cannot read the word list {path}: {exc.strerror or exc}; check the path") from exc
        table: dict[str, list[str]] = {}
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(content)
            except json.JSONDecodeError as exc:
                raise InputError(f'{path}: not valid JSON ({exc.msg}); write {{"word": ["replacement"]}}') from exc
            if not isinstance(data, dict):
                raise InputError(f"{path}: a word list is a JSON object of word → list of replacements")
            for key, value in data.items():
                values = [value] if isinstance(value, str) else value
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise InputError(f"{path}: the replacements of {key!r} must be a string or a list of strings")
                table.setdefault(key, []).extend(values)
        else:
            for number, row in enumerate(csv.reader(io.StringIO(content, newline="")), start=1):
                cells = [c.strip() for c in row if c.strip()]
                if len(cells) == 1:
                    raise InputError(f"{path}:{number}: give a word and at least one replacement")
                if cells:
                    table.setdefault(cells[0], []).extend(cells[1:])
        if not table:
            raise InputError(f"{path} has no words; give at least one word with replacements")
        return cls(table)


@dataclass
class MaskedLM(EditSource):
    """The `k` most likely whole words a local masked language model puts in the word's place."""

    model: Any
    tokenizer: Any
    k: int = 20
    name: ClassVar[str] = "mlm"
    calls: int = 0

    @classmethod
    def load(cls, folder: str | Path, k: int = 8) -> MaskedLM:
        """A masked LM from a local folder: safetensors weights only, no remote code."""
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        from trexplain.models.checkpoint import quiet_transformers

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"{folder} is not a model folder (no config.json); give a local masked-LM folder")
        if not any(folder.glob("*.safetensors")):
            raise ModelLoadError(f"{folder} has no .safetensors weights; the masked LM must be saved as safetensors")
        try:
            with quiet_transformers():  # no "Loading weights" bar on stderr
                tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
                model = AutoModelForMaskedLM.from_pretrained(
                    folder, trust_remote_code=False, use_safetensors=True, local_files_only=True
                )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load a masked LM from {folder}: {exc}") from exc
        if tokenizer.mask_token_id is None:
            raise ModelLoadError(f"the tokenizer in {folder} has no mask token; give a masked language model")
        return cls(model.eval(), tokenizer, k)

    @torch.no_grad()
    def __call__(self, slot: Slot) -> list[str]:
        word = slot.word
        if not is_alphabetic(word) or self.k < 1:
            return []
        masked = slot.text[: slot.start] + str(self.tokenizer.mask_token) + slot.text[slot.end :]
        enc = self.tokenizer(masked, return_tensors="pt", truncation=True)
        where = (enc["input_ids"][0] == self.tokenizer.mask_token_id).nonzero()
        if not len(where):
            return []
        self.calls += 1
        logits = self.model(**enc).logits[0, int(where[0])]
        marker = _word_marker(self.tokenizer.get_vocab())
        special = set(self.tokenizer.all_special_ids)
        out, lowered = [], word.lower()
        for index in torch.argsort(logits, descending=True)[: 50 * self.k].tolist():
            if index in special:
                continue
            text = _whole_word(self.tokenizer.convert_ids_to_tokens(index), marker)
            if text and is_alphabetic(text) and text.lower() != lowered:
                out.append(keep_case(word, text))
            if len(out) == self.k:
                break
        return out


@dataclass
class Combined(EditSource):
    """Every source's replacements in order, each once, without the word itself."""

    sources: list[EditSource] = field(default_factory=list)
    name: ClassVar[str] = "combined"

    def __call__(self, slot: Slot) -> list[str]:
        seen = {slot.word}
        out = []
        for source in self.sources:
            for replacement in source(slot):
                if replacement not in seen:
                    seen.add(replacement)
                    out.append(replacement)
        return out

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]


def make_edits(
    names: Iterable[str],
    adapter: ModelAdapter,
    *,
    neighbours: int = 20,
    mlm: str | Path | None = None,
    words: str | Path | Mapping[str, Sequence[str]] | None = None,
) -> Combined:
    """The edit sources by name (`delete`, `embed`, `char`, `mlm` with a folder, `words` with a list)."""
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in EDIT_NAMES]
    if unknown or not names:
        raise InputError(f"unknown edit source(s) {', '.join(unknown) or '(none)'}; use {', '.join(EDIT_NAMES)}")
    sources: list[EditSource] = []
    for name in names:
        if name == "delete":
            sources.append(Delete())
        elif name == "embed":
            embedding_table(adapter)
            sources.append(Neighbours(adapter, neighbours))
        elif name == "char":
            sources.append(CharEdits())
        elif name == "mlm":
            if mlm is None:
                raise InputError("the 'mlm' edits need a masked-LM folder (CLI: --mlm DIR)")
            sources.append(MaskedLM.load(mlm, neighbours))
        elif name == "words":
            if words is None:
                raise InputError("the 'words' edits need a word list (CLI: --words FILE.json|FILE.csv)")
            sources.append(words if isinstance(words, WordList) else _word_list(words))
    return Combined(sources)


def _word_list(words: str | Path | Mapping[str, Sequence[str]]) -> WordList:
    return WordList(words) if isinstance(words, Mapping) else WordList.read(words)
