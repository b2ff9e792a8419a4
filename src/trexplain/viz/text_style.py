"""What every terminal view shares: `visible` (control characters shown as symbols, never acting on the
terminal) and the one line naming an explanation's identity check."""

from __future__ import annotations

from trexplain.diagnostics import identity_phrase
from trexplain.explanation import Explanation

# C0 controls (newline and tab included) → their control pictures (ESC → ␛), DEL → ␡, C1 controls → \x80..,
# bidirectional overrides and line/paragraph separators → \u202e..: nothing in a text can move the cursor,
# change colours or the title, ring the bell or reorder what is shown.
PICTURES: dict[int, str] = {
    **{c: chr(0x2400 + c) for c in range(0x20)},
    0x7F: "\u2421",
    **{c: f"\\x{c:02x}" for c in range(0x80, 0xA0)},
    **{ord(c): f"\\u{ord(c):04x}" for c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2028\u2029"},
    **{c: f"\\u{c:04x}" for c in range(0x2066, 0x206A)},
    **{c: f"\\u{c:04x}" for c in range(0xD800, 0xE000)},  # lone surrogates (undecodable argument bytes)
}


def visible(text: object) -> str:
    """`text` as a string with every control character replaced by a visible symbol (see `PICTURES`)."""
    return str(text).translate(PICTURES)


def identity_lines(explanation: Explanation, row: int) -> list[str]:
    """The method's identity check for target row `row`, e.g. "completeness error 0.0012 (score sum vs …)"."""
    identity = explanation.diagnostics.identity
    return [] if identity is None else [identity_phrase(identity.kind, identity.error_for(row))]


def base_value_lines(explanation: Explanation, row: int) -> list[str]:
    """The method's base value for target row `row` (KernelSHAP: the output with every word removed, from which
    the scores add up to the output), as shap's plots show it; none for a method without one."""
    if "base_value" not in explanation.diagnostics:
        return []
    value = explanation.diagnostics.target(row)["base_value"]
    return [f"base value {float(value):.4g} (output with every word removed; base + Σ scores = output)"]
