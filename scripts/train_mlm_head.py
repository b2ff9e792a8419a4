"""Train the demo's per-layer masked-word heads on its bundled tweet corpus, the encoder frozen.

Each training tweet gets `--copies` copies with about `--share` of its single-token words replaced by [MASK]
(BERT-style, at least one per copy); the frozen demo encoder runs once over the copies, and the hidden state
at the mask of every layer (0 = embeddings … 6 = the last block's output) is kept. One small head per layer
(Linear, GELU, LayerNorm, decoded through the demo's own word embeddings) is trained on those states, choosing
among the words that occur in the training tweets at least `--min-count` times (a CPU-sized softmax; a held-out
word outside that list counts as a miss). Held-out accuracy is measured on the corpus's test tweets, one
masked word per tweet as `trexplain layers` masks, next to the floor of the 5 most frequent training words.
Writes `masked_head.safetensors` (float16) and `masked_head.json` (recipe and accuracy) into `--out`.
Run: `python scripts/train_mlm_head.py --out src/trexplain/models/demo` (30 minutes on a 2-core machine
shared with other jobs, most of it the encoder's forward passes).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from trexplain.inspect.layer_heads import HEAD_FILE, LayerHeads
from trexplain.io import write_text
from trexplain.models.demo import build_demo_model, corpus_path

METRICS_FILE = "masked_head.json"


def maskable(tokens: list[str]) -> list[int]:
    """Positions of tokens that are whole alphabetic words (not a subword piece, not followed by one)."""
    out = []
    for i, token in enumerate(tokens[1:-1], start=1):
        follows = tokens[i + 1]
        if token.isalpha() and not token.startswith("##") and not follows.startswith("##"):
            out.append(i)
    return out


def word_list(tokenizer, texts: list[str], min_count: int) -> Tensor:
    """Sorted token ids of the maskable words seen at least `min_count` times in `texts`: the heads' output."""
    counts: Counter[int] = Counter()
    for text in texts:
        tokens = tokenizer(text, truncation=True, max_length=64)["input_ids"]
        counts.update(tokens[i] for i in maskable(tokenizer.convert_ids_to_tokens(tokens)))
    return torch.tensor(sorted(token for token, n in counts.items() if n >= min_count))


def masked_copies(
    tokenizer, texts: list[str], copies: int, share: float, seed: int
) -> list[tuple[list[int], list[int]]]:
    """`copies` copies of each text's token ids with the positions to mask: about `share` of its maskable words,
    at least one; a text without a maskable word gives none."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        ids = tokenizer(text, truncation=True, max_length=64)["input_ids"]
        positions = maskable(tokenizer.convert_ids_to_tokens(ids))
        for _ in range(copies if positions else 0):
            out.append((ids, sorted(rng.sample(positions, max(1, round(share * len(positions)))))))
    return out


def masked_states(model, tokenizer, texts: list[str], copies: int, share: float, seed: int) -> tuple[Tensor, Tensor]:
    """Hidden states at every mask `[N, L+1, D]` and the masked token ids `[N]`; the encoder runs once per copy."""
    states, targets = [], []
    with torch.no_grad():
        batch = masked_copies(tokenizer, texts, copies, share, seed)
        for start in range(0, len(batch), 64):
            chunk = batch[start : start + 64]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_token_id)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (original, positions) in enumerate(chunk):
                ids[row, : len(original)] = torch.tensor(original)
                ids[row, positions] = tokenizer.mask_token_id
                mask[row, : len(original)] = 1
                targets.extend(original[i] for i in positions)
            hidden = torch.stack(model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states, 1)
            rows = torch.tensor([row for row, (_, positions) in enumerate(chunk) for _ in positions])
            where = torch.tensor([i for _, positions in chunk for i in positions])
            states.append(hidden[rows, :, where])  # [masks, L+1, D]
    return torch.cat(states), torch.tensor(targets)


def top_k_accuracy(logits: Tensor, targets: Tensor, k: int) -> float:
    """Share of rows whose target is among the k highest logits."""
    return float((logits.topk(k, dim=-1).indices == targets[:, None]).any(-1).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder to write the head and its metrics into.")
    parser.add_argument("--copies", type=int, default=2, help="Masked copies of each training tweet.")
    parser.add_argument("--share", type=float, default=0.2, help="Share of a copy's words masked (at least one).")
    parser.add_argument("--held-out", type=int, default=400, help="Test tweets to measure on, one masked word each.")
    parser.add_argument("--min-count", type=int, default=2, help="Training occurrences a word needs to be guessed.")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    model, tokenizer = build_demo_model()
    corpus = pd.read_csv(corpus_path())
    train_texts = corpus.loc[corpus["split"] == "train", "text"].tolist()
    test_texts = corpus.loc[corpus["split"] == "test", "text"].tolist()
    train_x, train_y = masked_states(model, tokenizer, train_texts, args.copies, args.share, args.seed)
    test_x, test_y = masked_states(model, tokenizer, test_texts[: args.held_out], 1, 0.0, args.seed + 1)
    vocabulary = word_list(tokenizer, train_texts, args.min_count)
    print(f"{len(train_y)} training and {len(test_y)} held-out masked words; {len(vocabulary)} words to choose from")
    position = torch.full((model.config.vocab_size,), -1, dtype=torch.long)
    position[vocabulary] = torch.arange(len(vocabulary))
    known = position[train_y] >= 0
    train_x, train_y = train_x[known], train_y[known]
    train_targets = position[train_y]

    heads = LayerHeads(model.get_input_embeddings().weight, vocabulary, train_x.shape[1])
    optimizer = torch.optim.AdamW(heads.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * -(-len(train_y) // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps, pct_start=0.1)
    heads.train()
    for epoch in range(args.epochs):
        order = torch.randperm(len(train_y))
        total = 0.0
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            logits = heads.word_logits(train_x[batch].transpose(0, 1))  # [L+1, B, N]
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), train_targets[batch].repeat(logits.shape[0]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}: loss {total / len(order):.3f}")
    heads.eval()
    heads.save(args.out / HEAD_FILE)
    # measured on the saved float16 weights, as shipped
    heads = LayerHeads.load(args.out / HEAD_FILE, model.get_input_embeddings().weight)
    with torch.no_grad():
        logits = heads(test_x.transpose(0, 1))
    frequent = torch.tensor([token for token, _ in Counter(train_y.tolist()).most_common(5)])
    floor = float(torch.isin(test_y, frequent).float().mean())
    layers = [
        {
            "hidden_state": layer,
            "top1": round(top_k_accuracy(logits[layer], test_y, 1), 4),
            "top5": round(top_k_accuracy(logits[layer], test_y, 5), 4),
        }
        for layer in range(logits.shape[0])
    ]
    metrics = {
        "recipe": {
            "copies_per_tweet": args.copies,
            "masked_share": args.share,
            "min_count": args.min_count,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "training_words": len(train_y),
            "held_out_words": len(test_y),
            "word_list": len(vocabulary),
            "held_out_in_word_list": round(float((position[test_y] >= 0).float().mean()), 4),
            "seconds": round(time.perf_counter() - started, 1),
        },
        "most_frequent_5_floor_top5": round(floor, 4),
        "layers": layers,
    }
    write_text(args.out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n", what="masked-LM head metrics")
    for row in layers:
        print(f"hidden state {row['hidden_state']}: top-1 {row['top1']:.3f}  top-5 {row['top5']:.3f}")
    print(f"floor (the 5 most frequent training words): top-5 {floor:.3f}")


if __name__ == "__main__":
    main()
