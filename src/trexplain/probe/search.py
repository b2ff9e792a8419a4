"""The search: a small edit that changes the prediction (untargeted) or reaches a class (targeted).

Words are tried in the order a ranking gives: an attribution method (re-ranked after every accepted edit),
leave-one-out `deletion` (one query per word, once, before any edit, as TextFooler and AblationFlip do) or
`random` (seeded). For the word tried, every edit source proposes replacements; they are scored by the
counting `Oracle` and the best that improves the objective is kept — greedy, or the best `beam`
states. With `candidates="gradient"` (the default for attribution rankings) a word's candidates are first
ordered by a first-order estimate of their effect (`probe.estimate`, one counted gradient pass per text
state) and only the first `tries` (default 12) are kept. Candidates are scored in growing chunks (1, 2, 4,
… up to `chunk`) that stop at the first success.
The search stops at success, when no word is left to try, at the word limit, or at the budget.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from trexplain import checks
from trexplain.api import adapter_of, explain
from trexplain.errors import InputError
from trexplain.explanation import Explanation
from trexplain.methods.base import DEFAULT_METHOD, available_methods, get_method
from trexplain.models.adapter import ModelAdapter
from trexplain.probe.constraints import Constraints, similarity
from trexplain.probe.edits import DEFAULT_EDITS, Combined, EditSource, Slot, make_edits
from trexplain.probe.estimate import Gradient, by_estimate, gradient
from trexplain.probe.oracle import Oracle, Scored, count_passes

RANDOM, DELETION = "random", "deletion"
SEARCH_RANKINGS = (RANDOM, DELETION)
GRADIENT, SOURCE = "gradient", "source"
CANDIDATE_ORDERS = (GRADIENT, SOURCE)
ALL = "all"
GRADIENT_TRIES = 12  # candidates scored per word by default when they are in gradient order


@dataclass(frozen=True)
class _State:
    """A point of the search: which original words are replaced (by what; "" deletes), which were tried,
    the order to try the rest in, and the model's scores of the resulting text."""

    changes: tuple[tuple[int, str], ...]
    tried: frozenset[int]
    order: tuple[int, ...]
    text: str
    spans: tuple[tuple[int, int], ...]
    scored: Scored
    fresh: bool = False  # its text is new: an attribution ranking must be recomputed on it

    def next_word(self) -> int | None:
        return next((j for j in self.order if j not in self.tried), None)


@dataclass
class ProbeResult:
    """One probe: the texts, the word diff, both predictions, what it cost, and (optionally) both explanations.

    `queries` = `ranking_queries` + `search_queries`: rows the classifier ran to score texts (the original
    included). `attribution_passes`: rows the ranking's attribution method ran (forward passes; a gradient
    method's backward is not counted apart), reported separately.
    """

    original: str
    edited: str
    labels: tuple[str, ...]
    original_class: int
    new_class: int
    original_probabilities: list[float]
    new_probabilities: list[float]
    target: int | None
    success: bool
    changes: list[dict[str, Any]]
    segments: list[dict[str, str]]
    words_changed: int
    words_total: int
    ranking: str
    edits: list[str]
    ranking_queries: int
    search_queries: int
    attribution_passes: int
    budget: int | None
    budget_exhausted: bool
    similarity: float | None
    seconds: float
    seed: int
    explanations: tuple[Explanation, Explanation] | None = None

    @property
    def queries(self) -> int:
        return self.ranking_queries + self.search_queries

    @property
    def fraction_changed(self) -> float:
        return self.words_changed / max(1, self.words_total)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, labels by name, and each explanation's text record entries."""
        out: dict[str, Any] = {
            "original": self.original,
            "edited": self.edited,
            "labels": list(self.labels),
            "original_prediction": self.labels[self.original_class],
            "new_prediction": self.labels[self.new_class],
            "original_probabilities": self.original_probabilities,
            "new_probabilities": self.new_probabilities,
            "target": None if self.target is None else self.labels[self.target],
            "success": self.success,
            "changes": self.changes,
            "segments": self.segments,
            "words_changed": self.words_changed,
            "words_total": self.words_total,
            "fraction_changed": round(self.fraction_changed, 6),
            "ranking": self.ranking,
            "edits": self.edits,
            "queries": self.queries,
            "ranking_queries": self.ranking_queries,
            "search_queries": self.search_queries,
            "attribution_passes": self.attribution_passes,
            "budget": self.budget,
            "budget_exhausted": self.budget_exhausted,
            "similarity": self.similarity,
            "seconds": round(self.seconds, 4),
            "seed": self.seed,
        }
        if self.explanations is not None:
            out["explanations"] = [
                {"text": e.text, "prediction": e.predicted_label, "entries": e.record()} for e in self.explanations
            ]
        return out


@dataclass
class Prober:
    """A configured search for one model: reuse it for many texts (the edit sources' tables are built once).

    `candidates`: how each word's replacements are ordered before scoring — "gradient" (first-order estimate,
    one counted attribution pass per text state) or "source" (as the edit sources give them); None picks
    "gradient" for attribution rankings and "source" for `deletion`/`random`, which stay black-box.
    `tries`: the most candidates scored per word (the first in that order), or "all"; None picks
    `GRADIENT_TRIES` with gradient order and "all" with source order.
    """

    adapter: ModelAdapter
    ranking: str = DEFAULT_METHOD
    edits: EditSource = field(default_factory=Combined)
    constraints: Constraints = field(default_factory=Constraints)
    beam: int = 1
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    explain: bool = False
    batch_size: int = 64
    chunk: int = 8
    candidates: str | None = None
    tries: int | str | None = None

    def __post_init__(self) -> None:
        if self.ranking not in SEARCH_RANKINGS and self.ranking not in available_methods():
            names = ", ".join([*SEARCH_RANKINGS, *available_methods()])
            raise InputError(f"unknown ranking {self.ranking!r}; use one of {names}")
        self.params = checks.method_params(self.params)
        if self.ranking not in SEARCH_RANKINGS:
            get_method(self.ranking, **self.params)  # bad parameters fail before any work
        elif self.params:
            raise InputError(f"params are for an attribution ranking; the ranking {self.ranking!r} takes none")
        self.beam = checks.whole(self.beam, "beam", least=1)
        self.chunk = checks.whole(self.chunk, "chunk", least=1)
        self.batch_size = checks.whole(self.batch_size, "batch_size", least=1)
        self.seed = checks.whole(self.seed, "seed")
        if self.candidates is None:
            self.candidates = SOURCE if self.ranking in SEARCH_RANKINGS else GRADIENT
        if self.candidates not in CANDIDATE_ORDERS:
            raise InputError(f"candidates must be one of {', '.join(CANDIDATE_ORDERS)}, got {self.candidates!r}")
        if self.tries is None:
            self.tries = GRADIENT_TRIES if self.candidates == GRADIENT else ALL
        tries = self.tries
        if tries != ALL and (isinstance(tries, bool) or not isinstance(tries, int) or tries < 1):
            raise InputError(f"tries must be 'all' or a whole number of at least 1, got {tries!r}")

    # ------------------------------------------------------------------ run
    def run(self, text: str, target: str | int | None = None) -> ProbeResult:
        """Probe one text: untargeted (`target` None: change the prediction) or reach class `target`."""
        began = time.perf_counter()
        wanted = checks.goal(target)
        goal = None if wanted is None else self.adapter.label_index(wanted)
        oracle = Oracle(
            self.adapter,
            self.constraints.budget,
            pooled=self.constraints.min_similarity is not None,
            batch_size=self.batch_size,
        )
        layout = self.adapter.encode([text]).layouts[0]
        spans = tuple(layout.words)
        words = [text[s:e] for s, e in spans]
        editable = [j for j, w in enumerate(words) if self.constraints.editable(w)]
        limit = self.constraints.max_words(len(words))
        passes = [0]
        first = oracle.score([text])[0]
        if first is None:
            raise InputError("the query budget does not cover even the original text; give a budget of at least 1")
        original_class = first.predicted
        root = _State((), frozenset(), (), text, spans, first)
        ranking_queries = 0
        done = self._success(root, original_class, goal)
        if not done and editable:
            before = oracle.used
            root = replace(root, order=self._first_order(root, editable, original_class, goal, oracle, passes))
            ranking_queries = oracle.used - before
        best = root
        beam = [root]
        grads: dict[str, Gradient] = {}
        while not done and beam and oracle.left != 0:
            expansions = []
            for state in beam:
                j = state.next_word() if len(state.changes) < limit else None
                if j is not None:
                    start, end = state.spans[j]
                    slot = Slot(state.text, start, end, random.Random(f"{self.seed}:{j}:{words[j]}"))
                    cands = self.edits(slot)
                    if self.candidates == GRADIENT and len(cands) > 1:
                        grad = self._gradient(state.text, original_class, goal, grads, passes)
                        cands = by_estimate(self.adapter, grad, start, end, cands)
                    if self.tries != ALL:
                        cands = cands[: self.tries]
                    expansions.append((state, j, cands))
            if not expansions:
                break
            built = [[_apply(text, spans, (*state.changes, (j, r))) for r in cands] for state, j, cands in expansions]
            scores = self._score([t for group in built for t, _ in group], oracle, original_class, goal)
            pool, cursor = [], 0
            for (state, j, cands), group in zip(expansions, built, strict=True):
                moved = replace(state, tried=state.tried | {j}, fresh=False)
                pool.append(moved)
                for r, (new_text, new_spans) in zip(cands, group, strict=True):
                    scored = scores[cursor]
                    cursor += 1
                    if scored is None or not self.constraints.similar(first.pooled, scored.pooled):
                        continue
                    changes = tuple(sorted((*state.changes, (j, r))))
                    child = _State(changes, moved.tried, state.order, new_text, new_spans, scored, fresh=True)
                    if self._objective(child, original_class, goal) > self._objective(state, original_class, goal):
                        pool.append(child)
            winners = [s for s in pool if self._success(s, original_class, goal)]
            if winners:
                best = min(winners, key=lambda s: (len(s.changes), -self._objective(s, original_class, goal), s.text))
                done = True
                break
            beam = self._select(pool, original_class, goal)
            beam = [self._rerank(s, editable, original_class, goal, passes) for s in beam]
            best = max([best, *beam], key=lambda s: (self._objective(s, original_class, goal), -len(s.changes)))
        explanations = self._explain_both(text, best.text, passes) if self.explain else None
        return self._result(
            text, spans, words, best, first, goal, done, ranking_queries, oracle, passes[0], began, explanations
        )

    # --------------------------------------------------------------- pieces
    def _gradient(
        self, text: str, original: int, goal: int | None, grads: dict[str, Gradient], passes: list[int]
    ) -> Gradient:
        """The objective's gradient at `text`'s token embeddings, once per text (counted as attribution passes)."""
        if text not in grads:
            cls, sign = (original, -1.0) if goal is None else (goal, 1.0)
            with count_passes(self.adapter) as counter:
                grads[text] = gradient(self.adapter, text, cls, sign)
            passes[0] += counter[0]
        return grads[text]

    def _score(self, texts: list[str], oracle: Oracle, original: int, goal: int | None) -> list[Scored | None]:
        """Scores of the candidates in order, in chunks of 1, 2, 4, … up to `chunk`; once a chunk holds a
        success the rest are not run (None), so the last step costs only what it needs."""
        out: list[Scored | None] = []
        start, size = 0, 1
        while start < len(texts):
            scored = oracle.score(texts[start : start + size])
            start, size = start + size, min(2 * size, self.chunk)
            out += scored
            won = any(s is not None and (s.predicted == goal if goal is not None else s.predicted != original)
                      for s in scored)  # fmt: skip
            if won or oracle.left == 0:
                break
        return out + [None] * (len(texts) - len(out))

    def _objective(self, state: _State, original: int, goal: int | None) -> float:
        """What the search raises: the target's probability, or 1 − the original class's probability."""
        p = state.scored.probabilities
        return float(p[goal]) if goal is not None else 1.0 - float(p[original])

    def _success(self, state: _State, original: int, goal: int | None) -> bool:
        predicted = state.scored.predicted
        return predicted == goal if goal is not None else predicted != original

    def _select(self, pool: list[_State], original: int, goal: int | None) -> list[_State]:
        """The best `beam` distinct states: highest objective, then fewest changes, then text (deterministic)."""
        unique: dict[tuple, _State] = {}
        for s in pool:
            unique.setdefault((s.changes, s.tried), s)
        ranked = sorted(unique.values(), key=lambda s: (-self._objective(s, original, goal), len(s.changes), s.text))
        return ranked[: self.beam]

    def _first_order(
        self, root: _State, editable: list[int], original: int, goal: int | None, oracle: Oracle, passes: list[int]
    ) -> tuple[int, ...]:
        """The first order of the words: random (seeded), leave-one-out deletion (counted) or attribution."""
        if self.ranking == RANDOM:
            order = list(editable)
            random.Random(self.seed).shuffle(order)
            return tuple(order)
        if self.ranking == DELETION:
            texts = [_apply(root.text, root.spans, ((j, ""),))[0] for j in editable]
            scored = oracle.score(texts)
            values = {}
            for j, s in zip(editable, scored, strict=True):
                if s is None:
                    values[j] = -np.inf
                elif goal is None:
                    values[j] = float(root.scored.probabilities[original] - s.probabilities[original])
                else:
                    values[j] = float(s.probabilities[goal] - root.scored.probabilities[goal])
            return tuple(sorted(editable, key=lambda j: (-values[j], j)))
        return self._attribution_order(root, editable, original, goal, passes)

    def _rerank(self, state: _State, editable: list[int], original: int, goal: int | None, passes: list[int]) -> _State:
        """An attribution ranking is recomputed once on each newly edited text; the others keep their first order."""
        if self.ranking in SEARCH_RANKINGS or not state.fresh:
            return replace(state, fresh=False)
        left = [j for j in editable if j not in state.tried]
        return replace(state, order=self._attribution_order(state, left, original, goal, passes), fresh=False)

    def _attribution_order(
        self, state: _State, candidates: list[int], original: int, goal: int | None, passes: list[int]
    ) -> tuple[int, ...]:
        """Words by their attribution: most support for the current class first (untargeted), or most
        support for the current class minus support for the target (targeted)."""
        if not candidates:
            return ()
        current = state.scored.predicted if goal is not None else original
        classes = [current] if goal is None or goal == current else [current, goal]
        method = get_method(self.ranking, **self.params)
        with count_passes(self.adapter) as counter:
            (e,) = explain([state.text], self.adapter, method, target=classes)
        passes[0] += counter[0]
        scores = e.word_scores(classes[0])
        if len(classes) == 2:
            scores = scores - e.word_scores(classes[1])
        values = _per_original_word(e, scores, state.spans)
        return tuple(sorted(candidates, key=lambda j: (-values.get(j, -np.inf), j)))

    def _explain_both(self, original: str, edited: str, passes: list[int]) -> tuple[Explanation, Explanation]:
        """Each text explained for its own prediction (the ranking's method, or cp-lrp for random/deletion);
        not part of the search, so not counted."""
        name = DEFAULT_METHOD if self.ranking in SEARCH_RANKINGS else self.ranking
        params = {} if self.ranking in SEARCH_RANKINGS else dict(self.params)
        first, second = explain([original, edited], self.adapter, name, params=params)
        return first, second

    def _result(
        self,
        text: str,
        spans: tuple[tuple[int, int], ...],
        words: list[str],
        best: _State,
        first: Scored,
        goal: int | None,
        success: bool,
        ranking_queries: int,
        oracle: Oracle,
        passes: int,
        began: float,
        explanations: tuple[Explanation, Explanation] | None,
    ) -> ProbeResult:
        changes = [{"index": j, "original": words[j], "edited": r} for j, r in best.changes]
        sim = None
        if self.constraints.min_similarity is not None:
            sim = round(similarity(first.pooled, best.scored.pooled), 6)
        return ProbeResult(
            original=text,
            edited=best.text,
            labels=self.adapter.labels,
            original_class=first.predicted,
            new_class=best.scored.predicted,
            original_probabilities=[round(float(p), 6) for p in first.probabilities],
            new_probabilities=[round(float(p), 6) for p in best.scored.probabilities],
            target=goal,
            success=success,
            changes=changes,
            segments=_segments(text, spans, dict(best.changes)),
            words_changed=len(best.changes),
            words_total=len(words),
            ranking=self.ranking,
            edits=list(getattr(self.edits, "names", [self.edits.name])),
            ranking_queries=ranking_queries,
            search_queries=oracle.used - ranking_queries,
            attribution_passes=passes,
            budget=self.constraints.budget,
            budget_exhausted=oracle.exhausted or (oracle.left == 0 and not success),
            similarity=sim,
            seconds=time.perf_counter() - began,
            seed=self.seed,
            explanations=explanations,
        )


def _per_original_word(
    explanation: Explanation, scores: np.ndarray, spans: Sequence[tuple[int, int]]
) -> dict[int, float]:
    """Scores of the edited text's words summed onto the original words whose (current) spans they overlap."""
    out: dict[int, float] = {}
    for j, (start, end) in enumerate(spans):
        if start == end:
            continue
        out[j] = float(sum(scores[w] for w, (s, e) in enumerate(explanation.words) if s < end and start < e))
    return out


def _apply(
    text: str, spans: Sequence[tuple[int, int]], changes: Sequence[tuple[int, str]]
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The original `text` with word j (original character span `spans[j]`) replaced per `changes` ("" deletes
    it and one space next to it), and every original word's span in the result (empty when deleted)."""
    new = dict(changes)
    out: list[str] = []
    length = 0
    new_spans = []
    cursor = 0
    for j, (start, end) in enumerate(spans):
        gap = text[cursor:start]
        word = new.get(j, text[start:end])
        if j in new and word == "":
            following = text[end : spans[j + 1][0]] if j + 1 < len(spans) else text[end:]
            if (gap == "" or gap[-1:].isspace() or length == 0) and following[:1].isspace():
                end += 1  # the space after a deleted word goes with it
            elif gap[-1:].isspace() and not following:
                gap = gap.rstrip()
        out.append(gap)
        length += len(gap)
        new_spans.append((length, length + len(word)))
        out.append(word)
        length += len(word)
        cursor = end
    out.append(text[cursor:])
    return "".join(out), tuple(new_spans)


def _segments(text: str, spans: Sequence[tuple[int, int]], changes: Mapping[int, str]) -> list[dict[str, str]]:
    """The word diff: pieces of the original text, each `{"original", "edited"}` (equal where unchanged)."""
    out: list[dict[str, str]] = []
    cursor = 0
    for j, (start, end) in enumerate(spans):
        if j in changes:
            if start > cursor:
                out.append({"original": text[cursor:start], "edited": text[cursor:start]})
            out.append({"original": text[start:end], "edited": changes[j]})
            cursor = end
    if cursor < len(text):
        out.append({"original": text[cursor:], "edited": text[cursor:]})
    return out


def trusted_method(trust: Mapping[str, Any] | str | PathLike[str] | None) -> str:
    """The ranking to use by default: the best method of a saved trust table (`trexplain evaluate --json`
    output, or a `FaithfulnessTable.to_dict()`) whose margin over the random floor exceeds one standard
    error, on the predicted class; cp-lrp without a table or when no method clears the floor."""
    if trust is None:
        return DEFAULT_METHOD
    data = trust
    if not isinstance(trust, Mapping):
        try:
            data = json.loads(Path(trust).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read the trust table {trust}: {exc}; give `trexplain evaluate --json` output"
            ) from exc
    rows = None
    if isinstance(data, Mapping):
        rows = data.get("rows") or (data.get("table") or {}).get("rows")
    if not isinstance(rows, list):
        raise InputError("a trust table needs 'rows' (the output of `trexplain evaluate --json`)")
    own = [r for r in rows if isinstance(r, Mapping) and r.get("classes", "predicted") == "predicted"]
    floor = next((r for r in own if r.get("method") == RANDOM), None)
    methods = available_methods()
    for row in sorted(own, key=lambda r: r.get("rank", 0)):
        name = row.get("method")
        if name == RANDOM or name not in methods or floor is None:
            continue
        if row["margin"] - (row.get("se") or 0.0) > floor["margin"]:
            return str(name)
    return DEFAULT_METHOD


def probe(
    text: str,
    model: ModelAdapter | str | None = None,
    *,
    target: str | int | None = None,
    edits: Sequence[str] = DEFAULT_EDITS,
    ranking: str | None = None,
    trust: Mapping[str, Any] | str | PathLike[str] | None = None,
    constraints: Constraints | None = None,
    beam: int = 1,
    seed: int = 0,
    neighbours: int = 20,
    mlm: str | PathLike[str] | None = None,
    words: str | PathLike[str] | Mapping[str, Sequence[str]] | None = None,
    params: Mapping[str, Any] | None = None,
    explain: bool = False,
    candidates: str | None = None,
    tries: int | str | None = None,
) -> ProbeResult:
    """Find a small edit of `text` that changes the model's prediction, or reaches class `target`.

    `ranking`: an attribution method name, "deletion" or "random" (default: the trusted method of `trust`,
    else cp-lrp); `edits`: sources by name (delete, embed, char, mlm with `mlm` folder, words with `words`);
    `candidates`: "gradient" or "source" order of each word's replacements, `tries`: how many of them are
    scored per word (None: see `Prober`).
    """
    return prober(
        model, edits=edits, ranking=ranking, trust=trust, constraints=constraints, beam=beam, seed=seed,
        neighbours=neighbours, mlm=mlm, words=words, params=params, explain=explain, candidates=candidates,
        tries=tries,
    ).run(text, target)  # fmt: skip


def prober(
    model: ModelAdapter | str | None = None,
    *,
    edits: Sequence[str] = DEFAULT_EDITS,
    ranking: str | None = None,
    trust: Mapping[str, Any] | str | PathLike[str] | None = None,
    constraints: Constraints | None = None,
    beam: int = 1,
    seed: int = 0,
    neighbours: int = 20,
    mlm: str | PathLike[str] | None = None,
    words: str | PathLike[str] | Mapping[str, Sequence[str]] | None = None,
    params: Mapping[str, Any] | None = None,
    explain: bool = False,
    candidates: str | None = None,
    tries: int | str | None = None,
) -> Prober:
    """A `Prober` for `model` (a ModelAdapter, a folder or None for the demo) with these settings."""
    adapter = adapter_of(model)
    return Prober(
        adapter,
        ranking=ranking or trusted_method(trust),
        edits=make_edits(edits, adapter, neighbours=neighbours, mlm=mlm, words=words),
        constraints=constraints or Constraints(),
        beam=beam,
        seed=seed,
        params=dict(params or {}),
        explain=explain,
        candidates=candidates,
        tries=tries,
    )
