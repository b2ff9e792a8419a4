"""How far a concept label can be trusted: the labelling model is given the label and a seeded shuffle of held-out
texts, half where the concept fires and half where it does not (`Candidate`), and lists those the label describes;
accuracy, precision, recall and AUC compare its answers with the truth (`LabelScore`)."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from trexplain.concepts.label_parsing import parse_matches
from trexplain.concepts.label_prompts import MAX_CHARS, Candidate, Label, concept_index, score_messages
from trexplain.concepts.llm import Chat, ask_all
from trexplain.errors import InputError
from trexplain.progress import stage


@dataclass(frozen=True)
class LabelScore:
    """How well a label picks its concept's texts among held-out ones (see `score_labels`).

    Counts are over the texts the model answered for; `unanswered` texts (an answer with no list of numbers)
    are left out of every rate, `invalid` counts listed numbers that name no text. A rate is None when its
    denominator is 0."""

    concept: int
    label: str
    positives: int
    negatives: int
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    unanswered: int
    invalid: int
    requests: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    auc: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_labels(
    labels: Mapping[int, Label],
    candidates: Mapping[int, Sequence[Candidate]],
    client: Chat,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    per_prompt: int = 20,
    seed: int = 0,
    max_chars: int = MAX_CHARS,
    workers: int = 1,
) -> dict[int, LabelScore]:
    """For every labelled concept with candidates: ask, `per_prompt` texts a request (`workers` requests at a
    time), which of its candidates (shuffled with `seed` and the concept index) the label describes, and
    compare with which are positive.

    accuracy = (TP + TN) / answered, precision = TP / (TP + FP), recall = TP / (TP + FN). The model answers
    yes or no per text, so the ROC curve has one point and AUC = (1 + TPR − FPR) / 2 (balanced accuracy; 0.5
    is chance) — the same number as the Mann–Whitney AUC of the 0/1 answers."""
    if per_prompt < 1:
        raise InputError(f"per_prompt must be ≥ 1, got {per_prompt}")
    candidates = {concept_index(c): pool for c, pool in candidates.items()}
    todo = [c for c in sorted(labels) if labels[c].label and candidates.get(c)]
    pools, chunks = {}, []  # chunks: (concept, its candidates in this request)
    for concept in todo:
        pool = list(candidates[concept])
        if not all(isinstance(c, Candidate) and isinstance(c.text, str) for c in pool):
            raise InputError(f"concept {concept}: candidates must be Candidate(text, positive) objects")
        random.Random(f"{seed}:{concept}").shuffle(pool)
        pools[concept] = pool
        chunks += [(concept, pool[start : start + per_prompt]) for start in range(0, len(pool), per_prompt)]
    prompts = [score_messages(labels[c], [x.text for x in chunk], max_chars=max_chars) for c, chunk in chunks]
    with stage(f"scoring {len(todo)} labels with {client.model}", total=len(prompts)) as advance:
        replies = ask_all(client, prompts, cache_dir, workers, advance)
    answers: dict[int, list[bool | None]] = {c: [] for c in todo}
    invalid = dict.fromkeys(todo, 0)
    requests = dict.fromkeys(todo, 0)
    for (concept, chunk), reply in zip(chunks, replies, strict=True):
        picked, bad = parse_matches(reply, len(chunk))
        answers[concept] += [None if picked is None else i in picked for i in range(len(chunk))]
        invalid[concept] += bad
        requests[concept] += 1
    return {
        c: _score(c, labels[c].label, [x.positive for x in pools[c]], answers[c], invalid[c], requests[c]) for c in todo
    }


def _score(
    concept: int, label: str, truth: list[bool], answers: list[bool | None], invalid: int, requests: int
) -> LabelScore:
    pairs = [(t, a) for t, a in zip(truth, answers, strict=True) if a is not None]
    tp = sum(t and a for t, a in pairs)
    fp = sum(a and not t for t, a in pairs)
    tn = sum(not t and not a for t, a in pairs)
    fn = sum(t and not a for t, a in pairs)
    positives, negatives = tp + fn, fp + tn
    # (1 + TPR − FPR) / 2 over one denominator, so that e.g. 0.8 comes out as exactly 0.8
    auc = _ratio(positives * negatives + tp * negatives - fp * positives, 2 * positives * negatives)
    return LabelScore(
        concept=concept,
        label=label,
        positives=positives,
        negatives=negatives,
        true_positives=tp,
        false_positives=fp,
        true_negatives=tn,
        false_negatives=fn,
        unanswered=len(answers) - len(pairs),
        invalid=invalid,
        requests=requests,
        accuracy=_ratio(tp + tn, len(pairs)),
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, positives),
        auc=auc,
    )


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None
