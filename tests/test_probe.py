"""Probing reference checks on a hand-built model whose decision depends on one known word."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tests.tiny import wordpiece_tokenizer
from trexplain.errors import InputError
from trexplain.models.adapter import ModelAdapter
from trexplain.probe import Constraints, prober, trusted_method
from trexplain.probe.estimate import by_estimate, estimates, gradient
from trexplain.probe.search import _apply, _segments
from trexplain.probe.table import attack_table

TEXT = "the movie was wonderful and the music lovely"  # 8 words; "music" alone decides
PLAIN = "the acting was average and the movie lovely"  # no "music": class 0 whatever is deleted


class KeyWord(nn.Module):
    """logit 1 = 10 × (number of "music" tokens); logit 0 = 1: class 1 exactly when "music" is present."""

    def __init__(self, vocab: int, key: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 2)
        with torch.no_grad():
            self.embed.weight.zero_()
            self.embed.weight[key, 1] = 10.0
        self.register_buffer("bias", torch.tensor([1.0, 0.0]))
        self.rows = 0  # rows of every forward that reached the classifier

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        e = self.embed(input_ids) * attention_mask.unsqueeze(-1)
        self.rows += input_ids.shape[0]
        return e.sum(1) + self.bias


@pytest.fixture
def keyword():
    tokenizer = wordpiece_tokenizer()
    model = KeyWord(len(tokenizer.get_vocab()), tokenizer.convert_tokens_to_ids("music"))
    return ModelAdapter.from_module(model, model.embed, tokenizer, ["other", "music"], name="keyword")


def run(adapter, text=TEXT, target=None, **options):
    options.setdefault("ranking", "gxi")
    options.setdefault("edits", ("delete",))
    return prober(adapter, **options).run(text, target)


def test_attribution_ranking_finds_the_word_with_the_fewest_queries(keyword):
    result = run(keyword)
    assert result.success and result.edited == "the movie was wonderful and the lovely"
    assert result.changes == [{"index": 6, "original": "music", "edited": ""}]
    assert (result.original_class, result.new_class) == (1, 0)
    # the original text and the one deletion that flips it: nothing fewer can show a change
    assert (result.queries, result.ranking_queries, result.search_queries) == (2, 0, 2)
    assert result.attribution_passes == 1 and result.words_changed == 1 and result.words_total == 8


def test_deletion_ranking_costs_one_query_per_word_first(keyword):
    result = run(keyword, ranking="deletion")
    assert result.success and result.changes[0]["original"] == "music"
    # 1 original + 8 leave-one-out texts; the winning deletion is one of them, so the search adds nothing
    assert (result.ranking_queries, result.search_queries, result.attribution_passes) == (8, 1, 0)


@pytest.mark.parametrize("ranking", ["deletion", "random", "gxi"])
def test_query_count_equals_rows_run(keyword, ranking):
    model = keyword.model
    model.rows = 0
    result = run(keyword, ranking=ranking, edits=("delete", "char", "embed"))
    assert model.rows == result.queries + result.attribution_passes
    if ranking != "gxi":
        assert result.attribution_passes == 0


@pytest.mark.parametrize("budget", [1, 3, 7])
def test_budget_is_never_exceeded(keyword, budget):
    keyword.model.rows = 0
    result = run(keyword, PLAIN, target="music", ranking="random", edits=("delete", "char"),
                 constraints=Constraints(budget=budget))  # fmt: skip
    assert not result.success and result.queries == budget == keyword.model.rows
    assert result.budget_exhausted
    assert result.edited != "" and result.new_class == 0


def test_budget_too_small_for_deletion_ranking(keyword):
    result = run(keyword, ranking="deletion", constraints=Constraints(budget=4))
    assert result.queries == 4 and result.ranking_queries == 3


def test_protected_words_are_never_edited(keyword):
    result = run(keyword, edits=("delete", "char"), constraints=Constraints(protected=frozenset({"MUSIC"})))
    assert not result.success
    assert all(c["original"].lower() != "music" for c in result.changes)
    assert "music" in result.edited


def test_word_limit(keyword):
    result = run(keyword, PLAIN, target="music", ranking="random", edits=("delete",))
    assert not result.success and result.words_changed <= 1  # ⌊0.2 · 8⌋ = 1
    loose = run(keyword, PLAIN, target="music", ranking="random", constraints=Constraints(max_fraction=1.0))
    assert loose.words_changed == 0  # no deletion raises p(music): nothing is accepted


def test_targeted_reaches_the_class_with_a_word_list(keyword):
    words = {"movie": ["Music", "film"], "acting": ["music"]}
    result = run(keyword, PLAIN, target="music", edits=("words",), words=words)
    assert result.success and result.new_class == 1 == result.target
    assert result.edited in (
        "the music was average and the movie lovely",
        "the acting was average and the music lovely",
    )


def test_targeted_failure_reports_the_best_attempt(keyword):
    result = run(keyword, PLAIN, target="music", edits=("delete", "char"))
    assert not result.success and result.new_class == 0 and result.target == 1
    data = result.to_dict()
    assert data["target"] == "music" and data["success"] is False and data["new_prediction"] == "other"
    json.dumps(data)


def test_same_seed_same_result(keyword):
    def once(seed):
        data = run(keyword, PLAIN, target="music", ranking="random", edits=("char", "delete"), seed=seed,
                   constraints=Constraints(max_fraction=1.0)).to_dict()  # fmt: skip
        data.pop("seconds")
        return data

    assert once(3) == once(3)


def test_unknown_ranking_and_beam(keyword):
    with pytest.raises(InputError, match="unknown ranking"):
        prober(keyword, ranking="nope", edits=("delete",))
    with pytest.raises(InputError, match="beam"):
        prober(keyword, beam=0, edits=("delete",))
    with pytest.raises(InputError, match="budget"):
        Constraints(budget=0)
    with pytest.raises(InputError, match="max_fraction"):
        Constraints(max_fraction=0)


def test_beam_search_finds_it_too(keyword):
    result = run(keyword, beam=3, ranking="random", edits=("delete", "char"))
    assert result.success and result.changes[0]["original"] == "music"


def test_apply_and_segments():
    text = "Great movie, really!"
    spans = ((0, 5), (6, 11), (11, 12), (13, 19), (19, 20))
    assert _apply(text, spans, [(0, "")])[0] == "movie, really!"
    assert _apply(text, spans, [(1, "")])[0] == "Great, really!"
    assert _apply(text, spans, [(3, "")])[0] == "Great movie,!"
    new, new_spans = _apply(text, spans, [(1, "film"), (3, "")])
    assert new == "Great film,!" and new[slice(*new_spans[1])] == "film" and new_spans[3][0] == new_spans[3][1]
    segments = _segments(text, spans, {1: "film"})
    assert "".join(s["original"] for s in segments) == text
    assert "".join(s["edited"] for s in segments) == "Great film, really!"
    assert {"original": "movie", "edited": "film"} in segments


def test_trusted_method():
    rows = [
        {"rank": 1, "classes": "predicted", "method": "ig", "margin": 0.30, "se": 0.02},
        {"rank": 2, "classes": "predicted", "method": "cp-lrp", "margin": 0.28, "se": 0.02},
        {"rank": 3, "classes": "predicted", "method": "random", "margin": 0.05, "se": 0.01},
    ]
    assert trusted_method({"rows": rows}) == "ig"
    assert trusted_method(None) == "cp-lrp"
    weak = [{**rows[0], "margin": 0.055}, rows[2]]
    assert trusted_method({"table": {"rows": weak}}) == "cp-lrp"
    with pytest.raises(InputError, match="rows"):
        trusted_method({"verdict": "x"})


def test_attack_table(keyword):
    probers = [prober(keyword, ranking=r, edits=("delete",)) for r in ("gxi", "deletion")]
    table = attack_table(probers, [TEXT, PLAIN, TEXT], labels=["music", "music", "music"])
    attribution, deletion = table.rows
    assert attribution["original_accuracy"] == pytest.approx(2 / 3)
    assert attribution["attacked"] == 2 and attribution["success_rate"] == 1.0
    assert attribution["after_attack_accuracy"] == 0.0
    assert attribution["median_queries"] == 2 and deletion["median_queries"] == 9
    assert attribution["words_perturbed"] == pytest.approx(1 / 8)
    assert table.results["deletion"][1] is None
    unlabelled = attack_table(probers[:1], [TEXT, PLAIN]).rows[0]
    assert unlabelled["predicted_share"] == {"music": 0.5, "other": 0.5}
    json.dumps(table.to_dict())


def test_similarity_needs_hidden_states(keyword):
    with pytest.raises(InputError, match="hidden states"):
        run(keyword, constraints=Constraints(min_similarity=0.5))


@pytest.mark.parametrize(("candidates", "passes"), [("source", 1), ("gradient", 2)])
def test_attribution_reranks_once_per_accepted_edit(keyword, candidates, passes):
    # no edit ever helps (every deletion keeps "music"-less class 0), so nothing is accepted: one ranking only,
    # and (gradient order) one gradient of the one text state
    result = run(keyword, PLAIN, target="music", edits=("delete", "char"), candidates=candidates,
                 constraints=Constraints(max_fraction=1.0))  # fmt: skip
    assert result.words_changed == 0 and result.attribution_passes == passes


DECOYS = {"movie": ["film", "song", "show", "music"]}  # the flip comes last in the sources' order


def test_gradient_estimate_is_the_hand_computed_first_order_change(keyword):
    # logits = (1 + Σ e_t0, Σ e_t1); only "music" has an embedding, (0, 10). Targeted at class 1 from PLAIN:
    # g_t = ∂ log p1/∂ e_t = (−p0, p0) at every token, so the estimate is 10·p0 for "music", 0 for the others.
    grad = gradient(keyword, PLAIN, 1, 1.0)
    start = PLAIN.index("movie")
    p0 = float(torch.softmax(torch.tensor([1.0, 0.0]), 0)[0])
    assert grad.grads[1].tolist() == pytest.approx([-p0, p0])
    assert estimates(keyword, grad, start, start + 5, ["film", "music", ""]) == pytest.approx([0.0, 10 * p0, 0.0])
    assert by_estimate(keyword, grad, start, start + 5, DECOYS["movie"]) == ["music", "film", "song", "show"]
    # untargeted on TEXT (class 1): removing "music" (deleted, or any word without its embedding) gains
    # +10·q0 of the objective −log p1; "music" for "music" gains nothing
    grad = gradient(keyword, TEXT, 1, -1.0)
    start = TEXT.index("music")
    q0 = float(torch.softmax(torch.tensor([1.0, 10.0]), 0)[0])
    gains = estimates(keyword, grad, start, start + 5, ["", "tune", "music"])
    assert gains == pytest.approx([10 * q0, 10 * q0, 0.0], rel=1e-3, abs=1e-9)


def test_gradient_order_tries_the_flip_first(keyword):
    keyword.model.rows = 0
    ordered = run(keyword, PLAIN, target="music", edits=("words",), words=DECOYS, candidates="gradient")
    assert ordered.success and ordered.edited == "the acting was average and the music lovely"
    # the original text and the one replacement that flips it, plus one ranking and one gradient pass
    assert (ordered.queries, ordered.attribution_passes) == (2, 2) and keyword.model.rows == 4
    plain = run(keyword, PLAIN, target="music", edits=("words",), words=DECOYS, candidates="source")
    # the sources' order scores chunks of 1, 2 and then the last candidate: 4 candidates + the original
    assert plain.success and plain.edited == ordered.edited
    assert (plain.queries, plain.attribution_passes) == (5, 1)


def test_gradient_order_is_deterministic_and_checked(keyword):
    def once():
        data = run(keyword, PLAIN, target="music", edits=("char", "delete", "embed"), seed=2,
                   constraints=Constraints(max_fraction=1.0)).to_dict()  # fmt: skip
        data.pop("seconds")
        return data

    assert once() == once()
    deletion, gxi = prober(keyword, ranking="deletion", edits=("delete",)), prober(keyword, edits=("delete",))
    assert (deletion.candidates, deletion.tries) == ("source", "all")
    assert (gxi.candidates, gxi.tries) == ("gradient", 12)
    with pytest.raises(InputError, match="candidates"):
        prober(keyword, edits=("delete",), candidates="best")
    with pytest.raises(InputError, match="tries"):
        prober(keyword, edits=("delete",), tries=0)


def test_tries_caps_the_candidates_scored_per_word(keyword):
    # one candidate per word: in the sources' order that is "film" (no flip), in gradient order "music"
    plain = run(keyword, PLAIN, target="music", edits=("words",), words=DECOYS, candidates="source", tries=1)
    assert not plain.success and plain.queries == 2 and plain.edited == PLAIN
    ordered = run(keyword, PLAIN, target="music", edits=("words",), words=DECOYS, tries=1)
    assert ordered.success and ordered.queries == 2 and "music lovely" in ordered.edited
