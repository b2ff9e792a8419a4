"""Concept labels from a language model, and a score of how well each label predicts where its concept fires.

Labelling: each concept's strongest examples (`Example`: a text and the character spans of its activating
tokens) go to a chat model with those tokens marked `[[like this]]`; it answers a short label (≤ 5 words) and
a one-line description as JSON (plain text is parsed too). Scoring: the model gets the label and a seeded
shuffle of held-out texts, half where the concept fires and half where it does not (`Candidate`), and lists
the ones that match; accuracy, precision, recall and AUC say how far the label can be trusted. Every answer
is cached on disk (`llm.cached_chat`), so a rerun sends nothing, and `save_labels` writes `labels.json`.
See docs/concept-labels.md.

This module runs the two requests (`label_concepts`, `label_folder`) and gathers the public names of its parts:
`label_prompts` (what the model is shown), `label_parsing` (reading its answers), `label_scoring` (how far a label
can be trusted), `label_examples` (examples and candidates from activations) and `label_store` (`labels.json`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from trexplain.concepts.label_examples import (
    candidates_from_activations,
    examples_from_activations,
    examples_from_top_inputs,
    text_activations,
)
from trexplain.concepts.label_parsing import parse_label, parse_matches
from trexplain.concepts.label_prompts import (
    MAX_CHARS,
    Candidate,
    Example,
    Label,
    concept_index,
    label_messages,
    mark,
    score_messages,
)
from trexplain.concepts.label_scoring import LabelScore, score_labels
from trexplain.concepts.label_store import LABELS_FILE, load_labels, save_labels
from trexplain.concepts.llm import Chat, ChatClient, LLMError, ask_all
from trexplain.errors import InputError
from trexplain.io import check_output
from trexplain.progress import stage

__all__ = [
    "LABELS_FILE",
    "Candidate",
    "Example",
    "Label",
    "LabelScore",
    "candidates_from_activations",
    "examples_from_activations",
    "examples_from_top_inputs",
    "label_concepts",
    "label_folder",
    "label_messages",
    "load_labels",
    "mark",
    "parse_label",
    "parse_matches",
    "save_labels",
    "score_labels",
    "score_messages",
    "text_activations",
]

_NO_LABEL = "the model's answer held no label"


def label_concepts(
    examples: Mapping[int, Sequence[Example]],
    client: Chat,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    max_examples: int = 10,
    max_chars: int = MAX_CHARS,
    context: str | None = None,
    workers: int = 1,
) -> dict[int, Label]:
    """A label for every concept from its examples (strongest first), one request each (`workers` at a time),
    answers cached in `cache_dir`. A concept without examples, or whose answer holds no label, gets an empty
    label and a `problem` (and sends nothing / is not retried)."""
    if max_examples < 1 or max_chars < 20:
        raise InputError(f"max_examples must be ≥ 1 and max_chars ≥ 20, got {max_examples} and {max_chars}")
    shown = {concept_index(concept): list(chosen) for concept, chosen in examples.items()}
    asked = [c for c, chosen in shown.items() if chosen]
    prompts = [label_messages(shown[c], max_examples=max_examples, max_chars=max_chars, context=context) for c in asked]
    with stage(f"labelling {len(asked)} concepts with {client.model}", total=len(prompts)) as advance:
        answers = dict(zip(asked, ask_all(client, prompts, cache_dir, workers, advance), strict=True))
    labels: dict[int, Label] = {}
    for concept in shown:
        if concept not in answers:
            labels[concept] = Label(concept, "", "", client.model, "no activating examples")
            continue
        label, description = parse_label(answers[concept])
        labels[concept] = Label(concept, label, description, client.model, None if label else _NO_LABEL)
    return labels


def label_folder(
    folder: str | os.PathLike[str],
    examples: Mapping[int, Sequence[Example]],
    candidates: Mapping[int, Sequence[Candidate]] | None = None,
    *,
    base_url: str,
    model: str,
    api_key_env: str | None = "OPENAI_API_KEY",
    timeout: float = 60.0,
    retries: int = 3,
    score: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    max_examples: int = 10,
    per_prompt: int = 20,
    context: str | None = None,
    seed: int = 0,
    workers: int = 1,
) -> Path:
    """Label (and with `score`, score) concepts through the chat endpoint at `base_url` and write
    `folder/labels.json`; answers are cached in `cache_dir` (default `folder/labels-cache`), so a rerun, or one
    after a failure, asks only what is not answered yet. Returns the path of labels.json."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give the concepts folder to write labels.json into")
    if score and candidates is None:
        raise InputError("label scoring needs held-out candidates; pass them or score=False (--no-score)")
    check_output(folder / LABELS_FILE, what="concept labels")
    client = ChatClient(base_url, model, api_key_env=api_key_env, timeout=timeout, retries=retries)
    cache = folder / "labels-cache" if cache_dir is None else Path(cache_dir)
    try:
        labels = label_concepts(
            examples, client, cache_dir=cache, max_examples=max_examples, context=context, workers=workers
        )
        scores = (
            score_labels(
                labels, candidates or {}, client, cache_dir=cache, per_prompt=per_prompt, seed=seed, workers=workers
            )
            if score
            else None
        )
    except LLMError as exc:
        raise LLMError(
            f"{exc} (answers so far are cached in {cache}; rerun to continue)", url=exc.url, status=exc.status
        ) from exc
    return save_labels(folder, labels, scores)
