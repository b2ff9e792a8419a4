"""Dataset runs: a whole input file explained into resumable Parquet shards with a manifest (see docs/runs.md).

`run_dataset` plans and drives a run (local processes or Ray), `load_run` reads one back, `summarize` computes
the dataset views (per-class words, faithfulness distributions, lists worth a look).
"""

from trexplain.runs.job import RunSummary, run_dataset
from trexplain.runs.load import load_run

__all__ = ["RunSummary", "load_run", "run_dataset"]
