"""`MethodCard`: what a method says about its scores (signed?, where its layer scores sit, its identity check, what
each diagnostic it writes means), carried inside every Explanation so that views and records never need the method.

Every `Method` subclass leaves its card here when its class is defined (registered or not), so an Explanation built
with the method's name alone (an older record, an Arrow row) still finds it; a name no class defined gets the
plain card: signed scores, no layer site, no identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trexplain.errors import InputError

LAYER_SITES = ("block input", "after block", "block attention")


@dataclass(frozen=True)
class MethodCard:
    """The self-description of one method.

    `signed`: scores take both signs (green/red) rather than magnitudes; `layer_site`: where row l of
    `layer_scores` is taken (one of `LAYER_SITES`, or None without per-layer scores); `identity`: the identity its
    scores satisfy ("completeness", "conservation", "efficiency" or None); `meanings`: one line per diagnostic key
    the method writes.
    """

    name: str
    summary: str = ""
    signed: bool = True
    layer_site: str | None = None
    identity: str | None = None
    meanings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"a method card needs a non-empty name, got {self.name!r}")
        if self.layer_site is not None and self.layer_site not in LAYER_SITES:
            raise InputError(f"layer_site {self.layer_site!r} is not one of {', '.join(LAYER_SITES)} (or None)")
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "meanings", MappingProxyType({str(k): str(v) for k, v in self.meanings.items()}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "signed": self.signed,
            "layer_site": self.layer_site,
            "identity": self.identity,
            "meanings": dict(self.meanings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MethodCard:
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise InputError("'method_card' must be a JSON object with a 'name'")
        meanings = data.get("meanings") or {}
        if not isinstance(meanings, Mapping):
            raise InputError("'method_card.meanings' must be a JSON object")
        return cls(
            data["name"],
            str(data.get("summary") or ""),
            data.get("signed", True) is not False,
            data.get("layer_site"),
            data.get("identity"),
            meanings,
        )


KNOWN: dict[str, MethodCard] = {}


def remember(card: MethodCard, replace: bool = False) -> None:
    """Keep `card` for explanations that name its method only; a name already known stays unless `replace`."""
    if replace or card.name not in KNOWN:
        KNOWN[card.name] = card


def card_for(name: str) -> MethodCard:
    """The card a defined method class left under `name`, else the plain card of that name."""
    return KNOWN.get(name) or MethodCard(name)
