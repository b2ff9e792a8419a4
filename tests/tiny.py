"""Tiny randomly initialised classifiers of every family, with tokenizers trained here (no hub)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AlbertConfig,
    AutoModelForSequenceClassification,
    BertConfig,
    CamembertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    ModernBertConfig,
    MPNetConfig,
    PreTrainedTokenizerFast,
    RobertaConfig,
    XLMRobertaConfig,
)

CORPUS = [
    "I can't believe this just happened!",
    "The movie was wonderful, the acting superb and the music lovely.",
    "What a terrible, boring and awful waste of time.",
    "Self-driving cars seem lazy; I don't trust them at all.",
    "Nothing special: an average day with average weather.",
    "Unbelievable!!! Best concert ever #happy",
    "Les voitures autonomes sont géniales et très pratiques.",
    "Die Musik war großartig, aber das Essen war schlecht.",
] * 20

LABELS = ["negative", "neutral", "positive"]
FIXTURES = Path(__file__).with_name("fixtures")
FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra")
"""The families every older test runs on; the families of issue 19 are `MORE_FAMILIES` (tests/test_families*.py)."""
MORE_FAMILIES = ("deberta-v2", "modernbert", "albert", "mpnet")
ALL_FAMILIES = (*FAMILIES, *MORE_FAMILIES)


def train_wordpiece() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok


def wordpiece_tokenizer() -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=_frozen("wordpiece"),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )


def train_bpe() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
    )
    return tok


def bpe_tokenizer() -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=_frozen("bpe"),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=64,
    )


def train_unigram() -> Tokenizer:
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.train_from_iterator(CORPUS, trainers.UnigramTrainer(vocab_size=150, special_tokens=specials, unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return tok


def sentencepiece_tokenizer(segments: bool = False) -> PreTrainedTokenizerFast:
    """The Unigram (`▁`) tokenizer; `segments`: pairs as `<s> A </s> B </s>` with token type 1 for B (as the
    ALBERT and DeBERTa-v3 tokenizers), else XLM-R's `<s> A </s></s> B </s>` without token types."""
    tok = _frozen("unigram")
    if segments:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1", special_tokens=[("<s>", 0), ("</s>", 2)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=64,
    )


TRAINERS = {"wordpiece": train_wordpiece, "bpe": train_bpe, "unigram": train_unigram}


def _frozen(kind: str) -> Tokenizer:
    """The tokenizer trained once by `python -m tests.tiny` and stored: WordPiece and Unigram training breaks
    ties in hash order, so retraining in every test process would give different vocabularies."""
    return Tokenizer.from_file(str(FIXTURES / f"{kind}.json"))


def tokenizer_for(family: str) -> PreTrainedTokenizerFast:
    if family in ("bert", "distilbert", "electra"):
        return wordpiece_tokenizer()
    if family in ("roberta", "modernbert", "mpnet"):
        return bpe_tokenizer()
    return sentencepiece_tokenizer(segments=family in ("albert", "deberta-v2"))


def config_for(family: str, vocab_size: int, **scale: int):
    """The tiny config of `family`; `scale` overrides its sizes (hidden_size, num_hidden_layers,
    num_attention_heads, intermediate_size, max_position_embeddings), e.g. for benchmarks."""
    common = dict(num_labels=3, id2label=dict(enumerate(LABELS)), label2id={x: i for i, x in enumerate(LABELS)})
    size = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=66,
    )
    size |= scale
    if family in ("albert", "modernbert") and "num_hidden_layers" not in scale:
        size["num_hidden_layers"] = 3  # ALBERT: one block called 3 times; ModernBERT: 1 global + 2 local layers
    if family == "bert":
        return BertConfig(**size, pad_token_id=0, **common)
    if family == "electra":
        return ElectraConfig(**size, embedding_size=size["hidden_size"] * 3 // 4, pad_token_id=0, **common)
    if family == "distilbert":
        return DistilBertConfig(
            vocab_size=vocab_size,
            dim=size["hidden_size"],
            n_layers=size["num_hidden_layers"],
            n_heads=size["num_attention_heads"],
            hidden_dim=size["intermediate_size"],
            max_position_embeddings=size["max_position_embeddings"] - 2,
            pad_token_id=0,
            **common,
        )
    if family in MORE_FAMILIES:
        return _more_config(family, size, common)
    cls = {"roberta": RobertaConfig, "xlm-roberta": XLMRobertaConfig, "camembert": CamembertConfig}[family]
    return cls(**size, pad_token_id=1, bos_token_id=0, eos_token_id=2, **common)


def _more_config(family: str, size: dict, common: dict):
    """Tiny configs of the issue-19 families, in the settings of their released checkpoints."""
    tokens = dict(pad_token_id=1, bos_token_id=0, eos_token_id=2)
    common = {**common, "initializer_range": 0.1}  # sharper attention than the default 0.02: the rules matter
    if family == "deberta-v2":  # DeBERTa-v3: shared keys, log buckets, no absolute positions, no token types
        return DebertaV2Config(
            **size,
            **tokens,
            relative_attention=True,
            pos_att_type=["p2c", "c2p"],
            position_buckets=8,
            max_relative_positions=-1,
            share_att_key=True,
            norm_rel_ebd="layer_norm",
            position_biased_input=False,
            type_vocab_size=0,
            pooler_hidden_size=size["hidden_size"],
            pooler_hidden_act="gelu",
            **common,
        )
    if family == "modernbert":  # layer 0 global, 1-2 local (window 4), rotary positions, gated GELU
        return ModernBertConfig(
            **size,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            cls_token_id=0,
            sep_token_id=2,
            local_attention=4,
            global_attn_every_n_layers=3,
            attention_bias=True,
            mlp_bias=True,
            norm_bias=True,
            classifier_bias=True,
            **common,
        )
    if family == "albert":  # one block shared by 3 layers, factorised 24-wide embeddings
        return AlbertConfig(
            **size,
            embedding_size=size["hidden_size"] * 3 // 4,
            num_hidden_groups=1,
            inner_group_num=1,
            hidden_act="gelu_new",
            **tokens,
            **common,
        )
    return MPNetConfig(**size, relative_attention_num_buckets=32, **tokens, **common)


def save_tiny(family: str, folder: Path, seed: int = 0, head: type = AutoModelForSequenceClassification) -> Path:
    """Write a random tiny model of `family` (a classifier, or the `head` class given, e.g. a masked LM) with its
    tokenizer to `folder` (safetensors)."""
    tokenizer = tokenizer_for(family)
    torch.manual_seed(seed)
    model = head.from_config(config_for(family, len(tokenizer)))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    FIXTURES.mkdir(exist_ok=True)
    for name, train in TRAINERS.items():
        train().save(str(FIXTURES / f"{name}.json"))


def ready_methods() -> list[str]:
    """Registered methods that run with no fitted folder: every one but those of cost "fitted" (amortized, whose
    explainer tests/test_amortize.py fits)."""
    from trexplain.methods import available_methods

    return [name for name, cls in available_methods().items() if cls.cost != "fitted"]
