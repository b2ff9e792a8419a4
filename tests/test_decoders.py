"""Decoder classifiers (Llama, Mistral, Qwen2, Qwen3, Gemma2, Gemma3 text, Phi-3, GPT-2) on tiny random configs
built here: last-token pooling as transformers does it (left or right padding), removals that keep it valid, the
pad stand-in, CP-LRP conservation, bit-identical forwards under the rules, captum equality, IG completeness, batch
= single and word roll-up for byte-level BPE (`Ġ`) and SentencePiece (`▁`) tokenizers."""

from __future__ import annotations

import warnings

import pytest
import torch
from tokenizers import Tokenizer, processors
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    Gemma2Config,
    Gemma3TextConfig,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen3Config,
)

from tests.family_checks import (
    assert_batched_equals_single,
    assert_cp_lrp_conserves,
    assert_gradients_equal_captum,
    assert_rules_keep_forward,
    relative_gap,
    zero_bias_double,
)
from tests.tiny import FIXTURES, LABELS
from trexplain.methods import Targets, get_method
from trexplain.methods.lrp import attnlrp_rules, cp_lrp_rules, lrp_attribution
from trexplain.methods.lrp_attention import AttentionRule
from trexplain.methods.lrp_rules import IdentityRule, LayerNormRule, LinearRule, RMSNormRule
from trexplain.models import ModelAdapter
from trexplain.models.batch import ModelInputs
from trexplain.models.families import family_for
from trexplain.models.pooling import last_positions
from trexplain.perturb import remove

DECODERS = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "gpt2")
SENTENCEPIECE = ("llama", "mistral", "gemma2", "gemma3", "phi3")
"""Families whose released tokenizers are SentencePiece (`▁`, BOS first); Qwen and GPT-2 use byte-level BPE."""
TEXT = "I can't believe this just happened!"
WORDS = ["I", "can't", "believe", "this", "just", "happened", "!"]
TEXTS = [TEXT, "What a terrible waste of time."]
SHORT, LONG = "Nothing special.", "The movie was wonderful, the acting superb and the music lovely."


def decoder_tokenizer(family: str) -> PreTrainedTokenizerFast:
    """The stored Unigram tokenizer with a BOS first (Llama, Mistral, Gemma, Phi-3), or the stored byte-level BPE
    without special tokens (Qwen: pad `<pad>`; GPT-2: no pad token, EOS = BOS = UNK, as released)."""
    if family in SENTENCEPIECE:
        tok = Tokenizer.from_file(str(FIXTURES / "unigram.json"))
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 0)]
        )
        specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
        return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=64, **specials)
    tok = Tokenizer.from_file(str(FIXTURES / "bpe.json"))
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    specials = dict(
        bos_token="</s>", eos_token="</s>", unk_token="</s>", pad_token=None if family == "gpt2" else "<pad>"
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=64, **specials)


def decoder_config(family: str, vocab_size: int, **scale: int):
    """2 layers, hidden 32, 4 query heads sharing 2 key/value heads (GPT-2: 4 heads, no pad id, as released);
    `scale` overrides the sizes (hidden_size, num_hidden_layers, intermediate_size, max_position_embeddings), e.g.
    for benchmarks."""
    common = dict(num_labels=3, id2label=dict(enumerate(LABELS)), label2id={x: i for i, x in enumerate(LABELS)})
    common |= dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=2, initializer_range=0.1)
    size = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    size |= dict(intermediate_size=48, max_position_embeddings=64, pad_token_id=1) | scale
    if family == "gpt2":
        return GPT2Config(
            n_embd=size["hidden_size"],
            n_layer=size["num_hidden_layers"],
            n_head=size["num_attention_heads"],
            n_inner=size["intermediate_size"],
            n_positions=size["max_position_embeddings"],
            pad_token_id=None,
            **common,
        )
    head_dim = size["hidden_size"] // size["num_attention_heads"]
    if family == "gemma2":
        return Gemma2Config(**size, head_dim=head_dim, attn_logit_softcapping=5.0, sliding_window=8, **common)
    if family == "gemma3":
        return Gemma3TextConfig(**size, head_dim=head_dim, sliding_window=8, **common)
    configs = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config, "phi3": Phi3Config}
    if family == "qwen3":
        return Qwen3Config(**size, head_dim=head_dim, **common)
    return configs[family](**size, **common)


def tiny_decoder(family: str) -> ModelAdapter:
    tokenizer = decoder_tokenizer(family)
    torch.manual_seed(0)
    config = decoder_config(family, len(tokenizer))
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GPT-2's pad stand-in, tested below
        return ModelAdapter(model, tokenizer, family=family_for(config.model_type), labels=LABELS, name=family)


@pytest.fixture(scope="module")
def decoders():
    return {family: tiny_decoder(family) for family in DECODERS}


def left_padded(inputs: ModelInputs) -> ModelInputs:
    """The same rows padded on the left, positions counted from each row's first real token."""
    lengths = inputs.attention_mask.sum(1)
    width = inputs.input_ids.shape[1]
    shift = (width - lengths)[:, None]
    source = (torch.arange(width)[None] - shift) % width
    ids, mask = inputs.input_ids.gather(1, source), inputs.attention_mask.gather(1, source)
    mask = mask * (torch.arange(width)[None] >= shift)
    positions = (mask.cumsum(1) - 1).clamp_min(0)
    return ModelInputs(ids, mask, positions)


# --------------------------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("family", DECODERS)
def test_pooling_reads_the_last_real_token_as_transformers_does(decoders, family):
    adapter = decoders[family]
    assert adapter.family.name == family and adapter.family.pooling == "last"
    batch = adapter.encode([SHORT, LONG])
    logits = adapter.forward(batch.inputs).logits
    for row, text in enumerate([SHORT, LONG]):
        alone = adapter.tokenize([text], return_tensors="pt")
        with torch.no_grad():
            expected = adapter.model(**alone).logits  # transformers' own pooling, one unpadded text
        torch.testing.assert_close(logits[row : row + 1], expected, rtol=1e-5, atol=1e-6)
    if adapter.config.pad_token_id is not None:  # transformers' pooling on the right-padded batch (by pad id)
        with torch.no_grad():
            expected = adapter.model(input_ids=batch.inputs.input_ids, attention_mask=batch.inputs.attention_mask)
        torch.testing.assert_close(logits, expected.logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", DECODERS)
def test_left_padding_gives_the_right_paddings_logits(decoders, family):
    adapter = decoders[family]
    batch = adapter.encode([SHORT, LONG])
    left = left_padded(batch.inputs)
    assert left.attention_mask[0, 0] == 0 and (last_positions(left.attention_mask) == left.input_ids.shape[1] - 1).all()
    torch.testing.assert_close(adapter.forward(left).logits, adapter.forward(batch.inputs).logits, rtol=1e-5, atol=1e-5)


def test_last_positions_hand_computed():
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 0], [0, 0, 0, 0, 0]])
    assert last_positions(mask).tolist() == [2, 4, 2, 0]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_removal_never_moves_the_pooled_token_onto_a_pad(decoders, family):
    adapter = decoders[family]
    batch = adapter.encode([TEXT])
    n = batch.lengths[0]
    removed = torch.zeros(2, n, dtype=torch.bool)
    removed[0, -1] = True  # the last word, the one the head reads
    removed[1, 1:-1] = True
    with torch.no_grad():
        for strategy in ("delete", "pad", "unk"):
            inputs = remove(adapter, batch, 0, removed, strategy)
            index = last_positions(inputs.attention_mask)
            rows = torch.arange(2)
            assert (inputs.attention_mask[rows, index] == 1).all()
            hidden = adapter.forward(inputs, output_hidden_states=True).hidden_states[-1]
            head = adapter.model.score(hidden[rows, index])
            torch.testing.assert_close(adapter.forward(inputs).logits, head, rtol=1e-6, atol=1e-6)
            if strategy == "unk":  # the filled token stays the pooled one, even where UNK is the pad id (GPT-2)
                assert index.tolist() == [n - 1, n - 1]
    if family == "gpt2":  # GPT-2's UNK is its EOS, the pad stand-in: transformers' by-id rule would move left
        assert adapter.tokenizer.unk_token_id == adapter.pad_token_id


def test_a_tokenizer_without_pad_gets_a_stand_in_and_stays_unchanged():
    tokenizer = decoder_tokenizer("gpt2")
    model = AutoModelForSequenceClassification.from_config(decoder_config("gpt2", len(tokenizer))).eval()
    with pytest.warns(UserWarning, match="no pad token; batches are padded with its EOS token '</s>'"):
        adapter = ModelAdapter(model, tokenizer, family=family_for("gpt2"), labels=LABELS, name="gpt2")
    assert tokenizer.pad_token is None and adapter.tokenizer.pad_token == "</s>"
    assert model.config.pad_token_id is None and model.get_input_embeddings().num_embeddings == len(tokenizer)
    batch = adapter.encode([SHORT, LONG])
    assert batch.inputs.input_ids[0, -1] == adapter.tokenizer.eos_token_id


def test_gemma_embedding_site_includes_the_scale(decoders):
    adapter = decoders["gemma3"]
    batch = adapter.encode([TEXT])
    table = adapter.model.model.embed_tokens.weight[batch.inputs.input_ids]
    torch.testing.assert_close(adapter.embed(batch.inputs), table * 32**0.5)


@pytest.mark.parametrize("family", DECODERS)
def test_words_roll_up_for_byte_level_bpe_and_sentencepiece(decoders, family):
    batch = decoders[family].encode([TEXT, "Unbelievable!!! Best  concert ever", "Die Musik war großartig."])
    marker = "▁" if family in SENTENCEPIECE else "Ġ"
    assert any(marker in token for token in batch.tokens[0])
    assert [TEXT[s:e] for s, e in batch.words[0]] == WORDS
    word_ids = batch.word_ids[0, : batch.lengths[0]]
    assert (word_ids[0] == -1) == (family in SENTENCEPIECE)  # the BOS is special, never a word
    assert set(word_ids[word_ids >= 0].tolist()) == set(range(len(WORDS)))
    assert [batch.texts[1][s:e] for s, e in batch.words[1]] == ["Unbelievable", "!!!", "Best", "concert", "ever"]
    assert [batch.texts[2][s:e] for s, e in batch.words[2]] == ["Die", "Musik", "war", "großartig", "."]


# ------------------------------------------------------------------------------------------------ LRP
@pytest.mark.parametrize("family", DECODERS)
@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_cp_lrp_conserves_the_logit_exactly_without_biases(decoders, family, gamma):
    assert_cp_lrp_conserves(decoders[family], TEXTS, gamma)


def test_gpt2_conv1d_gets_the_linear_rule(decoders):
    adapter = zero_bias_double(decoders["gpt2"])
    batch = adapter.encode(TEXTS)
    plain, boosted = (get_method("cp-lrp", gamma=g).attribute(adapter, batch, Targets("all", adapter)) for g in (0, 1))
    assert not any(isinstance(m, nn.Linear) for m in adapter.model.transformer.h.modules())  # Conv1D only
    assert (plain.scores - boosted.scores).abs().max() > 1e-3


@pytest.mark.parametrize("family", ["llama", "phi3"])
def test_gate_and_rmsnorm_rules_are_needed_for_conservation(decoders, family):
    adapter = zero_bias_double(decoders[family])
    batch = adapter.encode(TEXTS)
    full = [AttentionRule("hold"), LayerNormRule(), IdentityRule(), LinearRule()]
    for rules in (full, [*full[:2], RMSNormRule(), *full[2:]]):
        result = lrp_attribution(adapter, batch, Targets("all", adapter), rules)
        assert relative_gap(result.scores, result.logits, result.targets).max() > 1e-4


@pytest.mark.parametrize("family", DECODERS)
@pytest.mark.parametrize("rules", [cp_lrp_rules, attnlrp_rules])
def test_rules_leave_forward_values_bit_identical(decoders, family, rules):
    assert_rules_keep_forward(decoders[family], TEXTS, rules)


@pytest.mark.parametrize("family", DECODERS)
def test_attnlrp_ratio_is_reported(decoders, family):
    adapter = zero_bias_double(decoders[family])
    result = get_method("attnlrp").attribute(adapter, adapter.encode(TEXTS), Targets("all", adapter))
    ratio = torch.tensor([d["conservation"] for d in result.diagnostics], dtype=torch.float64)
    torch.testing.assert_close(ratio, result.scores.sum(-1) / result.logits.gather(1, result.targets))
    assert torch.isfinite(result.scores).all()


# ----------------------------------------------------------------------------------- against captum
@pytest.mark.parametrize("family", DECODERS)
def test_gradients_and_ig_equal_captum(decoders, family):
    adapter = zero_bias_double(decoders[family], zero_bias=False)  # float64: 16-step sums agree beyond float32 noise
    assert_gradients_equal_captum(adapter, TEXTS)
    batch = adapter.encode(TEXTS)
    # the pad baseline is the zero vector (padding_idx rows), where RMSNorm saturates within α ≈ √(ε/mean x²): the
    # path changes most right by the baseline, so Gemma needs more nodes than the default 256 (found adaptively)
    adaptive = get_method("ig", max_steps=1024).attribute(decoders[family], batch, Targets("all", adapter))
    for entry in adaptive.diagnostics:
        for error, f_x, f_b in zip(entry["completeness_error"], entry["f_input"], entry["f_baseline"], strict=True):
            assert error <= 1e-3 + 1e-3 * abs(f_x - f_b), entry


# ------------------------------------------------------------------------------- every method, batched
@pytest.mark.parametrize("family", DECODERS)
def test_every_method_runs_batched_as_one_at_a_time(decoders, family):
    assert_batched_equals_single(decoders[family], SHORT, LONG)
