"""Long inputs: peak memory and time of cp-lrp, attnlrp and IG at 512, 2k and 8k tokens against one forward+backward
of the same input, on a tiny-but-deep random Llama classifier (8 layers, hidden 256, 4 query heads sharing 2
key/value heads, float32, CPU, one thread, one text, the predicted class).

The reference is the model as transformers runs it by default (sdpa attention): embeddings → logits → gradient of
the predicted logit. Each figure is measured in a fresh subprocess (`python -m benchmarks.bench_long_inputs measure
WHAT LENGTH ATTENTION`), so no allocation of an earlier measurement is counted: the model and the input are built,
the kernel's peak-RSS mark is reset to the current RSS (`5` written to /proc/self/clear_refs, Linux), the work runs
once, and the peak growth is VmHWM − VmRSS-at-reset from /proc/self/status (all memory the work touched: autograd's
saved tensors, transients, allocator slack). Times: that run, or the median of three below 8k tokens.

Slow (half an hour on one busy core): run it by name, `python -m benchmarks.run long_inputs`, or alone,
`python -m benchmarks.bench_long_inputs`.
Eager attention keeps the L×L probabilities of every layer (1 GiB per layer at 8k), so it runs only below 8k.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.common import Context
from tests.test_decoders import decoder_config, decoder_tokenizer
from tests.tiny import LABELS
from trexplain.methods import Targets, get_method
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules, lrp_attribution
from trexplain.models import ModelAdapter
from trexplain.models.batch import Batch
from trexplain.models.families import family_for

FAMILY = "llama"
LAYERS = 8
SCALE = {"hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024, "max_position_embeddings": 8192}
LENGTHS = (512, 2048, 8192)
EAGER_LENGTHS = (512, 2048)
IG = {"steps": 4, "adaptive": False}
"""IG at a fixed 4 Gauss-Legendre nodes (4 gradient rows; the default adaptive IG spends 16 or more): its memory is
bounded by the rows per forward (at most `TOKEN_BUDGET` = 4096 tokens: 4, 2 and 1 rows here), its time grows as
steps × forward+backward."""
WHATS = ("fwd+bwd", "cp-lrp", "attnlrp", "ig")
REPEATS_BELOW_8K = 3
WORDS = ("the", "a", "was")


def long_decoder(attention: str) -> ModelAdapter:
    """The random 8-layer Llama classifier with `attention` ("sdpa" or "eager"), positions for 8k tokens."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = decoder_tokenizer(FAMILY)
    tokenizer.model_max_length = SCALE["max_position_embeddings"]
    torch.manual_seed(0)
    config = decoder_config(FAMILY, len(tokenizer), **SCALE, num_hidden_layers=LAYERS)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attention).eval()
    return ModelAdapter(model, tokenizer, family=family_for(config.model_type), labels=LABELS, name=FAMILY)


def long_batch(adapter: ModelAdapter, length: int) -> Batch:
    """One text of exactly `length` tokens (BOS + words the tokenizer keeps whole)."""
    batch = adapter.encode([" ".join(WORDS[i % len(WORDS)] for i in range(length - 1))])
    if batch.inputs.input_ids.shape[1] != length:
        raise RuntimeError(f"expected {length} tokens, the tokenizer gave {batch.inputs.input_ids.shape[1]}")
    return batch


def work(what: str, adapter: ModelAdapter, batch: Batch) -> Callable[[], None]:
    """The call measured for `what`: one forward+backward, or a method on the predicted class."""
    targets = Targets("predicted", adapter)
    if what == "fwd+bwd":

        def forward_backward() -> None:
            embeddings = adapter.embed(batch.inputs).requires_grad_(True)
            logits = adapter.forward(batch.inputs, embeddings=embeddings).logits
            torch.autograd.grad(logits[0, logits[0].argmax()], embeddings)

        return forward_backward
    if what in ("cp-lrp", "attnlrp"):
        rules = cp_lrp_rules if what == "cp-lrp" else attnlrp_rules
        return lambda: lrp_attribution(adapter, batch, targets, rules())
    method = get_method("ig", **IG)
    return lambda: method.attribute(adapter, batch, targets)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(what: str, length: int, attention: str) -> dict[str, float]:
    """Peak RSS growth (MiB) and time (ms) of `what` on a fresh model, in this process (see the module docstring)."""
    torch.set_num_threads(1)
    adapter = long_decoder(attention)
    call = work(what, adapter, long_batch(adapter, length))
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    times = []
    for _ in range(1 if length >= 8192 else REPEATS_BELOW_8K):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return {"peak_mib": (_status_kb("VmHWM") - before) / 1024, "ms": statistics.median(times)}


def in_subprocess(what: str, length: int, attention: str) -> dict[str, float]:
    """`measure` in a fresh interpreter (this file's `measure` command), its JSON line parsed."""
    command = [sys.executable, "-m", "benchmarks.bench_long_inputs", "measure", what, str(length), attention]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> list[dict]:
    """Per length: each method's peak memory and time ÷ the sdpa forward+backward's; cp-lrp on eager attention
    below 8k."""
    rows = []
    for length in LENGTHS:
        reference = in_subprocess("fwd+bwd", length, "sdpa")
        runs = [(what, "sdpa") for what in WHATS] + [
            (what, "eager") for what in ("fwd+bwd", "cp-lrp") if length in EAGER_LENGTHS
        ]
        for what, attention in runs:
            found = reference if (what, attention) == ("fwd+bwd", "sdpa") else in_subprocess(what, length, attention)
            rows.append(
                {
                    "section": "long_inputs",
                    "name": f"{what} [{attention}, {length} tokens]",
                    "ms": round(found["ms"], 1),
                    "x_fwd_bwd": round(found["ms"] / reference["ms"], 2),
                    "peak_mib": round(found["peak_mib"], 1),
                    "x_peak_fwd_bwd": round(found["peak_mib"] / reference["peak_mib"], 2),
                }
            )
    ctx.notes.append(
        f"long_inputs: random {FAMILY} {LAYERS}×{SCALE['hidden_size']}, float32, 1 thread; ratios against the sdpa "
        "forward+backward of the same length, each figure from its own subprocess"
    )
    return rows


def _table(rows: list[dict]) -> str:
    columns = list(rows[0])[1:]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows])


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
    else:
        print(_table(run(Context(long_decoder("sdpa"), []))))
