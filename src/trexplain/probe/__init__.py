"""Probing: attribution-guided adversarial and counterfactual texts, with every model query counted.

`probe(text, model)` finds a small edit that changes the prediction (or, with `target`, reaches a class);
`probe_texts` runs it over a data set and `attack_table` summarises it as attack papers do.
"""

from trexplain.probe.constraints import DEFAULT_BUDGET, DEFAULT_MAX_FRACTION, Constraints
from trexplain.probe.edits import DEFAULT_EDITS, EDIT_NAMES, make_edits
from trexplain.probe.search import DELETION, RANDOM, Prober, ProbeResult, probe, prober, trusted_method

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_EDITS",
    "DEFAULT_MAX_FRACTION",
    "DELETION",
    "EDIT_NAMES",
    "RANDOM",
    "Constraints",
    "ProbeResult",
    "Prober",
    "make_edits",
    "probe",
    "prober",
    "trusted_method",
]
