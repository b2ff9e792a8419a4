"""A method describes itself: its card (signed?, layer site, identity, meanings of its diagnostics) travels inside
every Explanation, so an unregistered method of the user's renders as it declares in every view."""

from __future__ import annotations

import io
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pytest
import torch
from rich.console import Console

from trexplain import explain
from trexplain.diagnostics import TARGET, Diagnostics
from trexplain.explanation import Explanation
from trexplain.method_card import MethodCard
from trexplain.methods import available_methods
from trexplain.methods.base import Attribution, Method
from trexplain.viz import figures, terminal
from trexplain.viz.payload import build_payload


@dataclass
class Lengths(Method):
    """Not registered: each token's score is its position + 1 (unsigned), and the same map after every block."""

    name = "my-lengths"
    summary = "positions as magnitudes (a user's own method)"
    signed = False
    layer_site = "after block"
    meanings = MappingProxyType({"my_total": "sum of my magnitudes"})

    def attribute(self, adapter, batch, targets):
        logits = adapter.logits(batch.inputs).detach()
        chosen = targets(logits)
        n, k, t = len(batch), chosen.shape[1], batch.inputs.input_ids.shape[1]
        scores = torch.arange(1, t + 1, dtype=torch.float64).expand(n, k, t).clone()
        layers = scores.unsqueeze(1).expand(n, len(adapter.layers), k, t).clone()
        diagnostics = [Diagnostics({"my_total": scores[row].sum(-1)}, {"my_total": TARGET}) for row in range(n)]
        return Attribution(scores, logits, chosen, layers, diagnostics)


def plain(renderable, width: int = 200) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


@pytest.fixture(scope="module")
def mine(tiny):
    return explain("a good day", tiny["bert"], Lengths())[0]


def test_the_card_travels_in_the_explanation_and_its_records(mine):
    assert "my-lengths" not in available_methods()
    assert mine.card == MethodCard(
        "my-lengths", Lengths.summary, False, "after block", None, {"my_total": "sum of my magnitudes"}
    )
    again = Explanation.from_json(mine.to_json())
    assert again.card == mine.card and again == mine


def test_every_view_reads_the_card(mine):
    shown = plain(terminal.render(mine))
    assert terminal.UNSIGNED in shown and "+" not in shown.split("\n", 2)[2]
    table = plain(terminal.diagnostics_table(mine), width=300)
    assert "sum of my magnitudes" in table
    payload = build_payload([[mine]])
    assert payload["methods"]["my-lengths"] == {
        "summary": Lengths.summary,
        "signed": False,
        "layer_site": "after block",
        "meanings": {"my_total": "sum of my magnitudes"},
    }
    entry = payload["texts"][0]["explanations"][0]
    assert figures.method_card(payload, entry)["signed"] is False
    assert figures.method_card(payload, entry)["layer_site"] == "after block"


def test_a_registered_method_renders_as_an_unregistered_one_with_the_same_card(tiny, mine):
    """The registered `rollout` and the same scores under a user's card of the same properties: the views differ
    only by the name."""
    (rollout,) = explain("a good day", tiny["bert"], "rollout")
    card = MethodCard("my-rollout", rollout.card.summary, rollout.card.signed, rollout.card.layer_site)
    copy = rollout.replace(method=card.name, card=card)
    assert plain(terminal.render(copy)).replace("my-rollout", "rollout") == plain(terminal.render(rollout))
    ours, theirs = (build_payload([[e]])["methods"] for e in (copy, rollout))
    assert ours["my-rollout"] == theirs["rollout"]


def test_a_name_no_class_defined_gets_the_plain_card_in_every_view():
    e = Explanation(
        "ab",
        ["a", "b"],
        [[0, 1], [1, 2]],
        [0, 1],
        [[0, 1], [1, 2]],
        [False, False],
        labels=["x", "y"],
        logits=[0.0, 1.0],
        targets=[1],
        scores=np.array([[0.5, 0.25]]),
        method="external-x",
    )
    assert e.card == MethodCard("external-x")
    assert e.card.signed and build_payload([[e]])["methods"]["external-x"]["signed"] is True
    assert terminal.UNSIGNED not in plain(terminal.render(e))


def test_image_views_read_the_card():
    """An image explanation under a user's unsigned card: the patch grid and the overlay say unsigned, under a
    signed card both say signed (same scores)."""
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'trexplain[figures]'")
    from trexplain.models import digits
    from trexplain.viz import image as image_views
    from trexplain.viz.patch_grid import render_images

    picture = digits.upsample(digits.load_digits_data()[0][:1])[0]
    (gxi,) = explain(images=[picture], model="vit-demo", method="gxi")
    for signed in (False, True):
        card = MethodCard("my-patches", "a user's patch scores", signed)
        mine = gxi.replace(method=card.name, card=card)
        assert image_views.overlay(mine).options["signed"] is signed
        legend = plain(render_images([mine]))
        assert ("unsigned" in legend) is not signed and ("red opposes it" in legend) is signed
        payload = build_payload([[mine]])
        assert payload["methods"]["my-patches"]["signed"] is signed
