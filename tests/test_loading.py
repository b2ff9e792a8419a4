"""Loading refuses silent wrong results: missing, renamed or mis-shaped weights, missing or misfit tokenizers."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, models
from transformers import AutoModel, AutoModelForSequenceClassification, PreTrainedTokenizerFast

from tests.tiny import FAMILIES, config_for, save_tiny, tokenizer_for
from trexplain.errors import ModelLoadError
from trexplain.models import load_model
from trexplain.models.demo import LABELS

HEADLESS = {
    "bert": "2 missing from the checkpoint (classifier.bias, classifier.weight)",
    "roberta": "4 missing from the checkpoint (classifier.dense.bias, classifier.dense.weight, "
    "classifier.out_proj.bias, … (4 in all))",
    "xlm-roberta": "4 missing from the checkpoint (classifier.dense.bias, classifier.dense.weight, "
    "classifier.out_proj.bias, … (4 in all))",
    "camembert": "4 missing from the checkpoint (classifier.dense.bias, classifier.dense.weight, "
    "classifier.out_proj.bias, … (4 in all))",
    "distilbert": "4 missing from the checkpoint (classifier.bias, classifier.weight, pre_classifier.bias, "
    "… (4 in all))",
    "electra": "4 missing from the checkpoint (classifier.dense.bias, classifier.dense.weight, "
    "classifier.out_proj.bias, … (4 in all))",
}


def _headless(family: str, folder: Path) -> Path:
    """A base checkpoint (`AutoModel`, no classifier head) of the tiny config, with its tokenizer."""
    tokenizer = tokenizer_for(family)
    torch.manual_seed(0)
    AutoModel.from_config(config_for(family, len(tokenizer))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _rewrite_weights(folder: Path, rename) -> Path:
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    save_file({rename(k): v for k, v in state.items()}, str(weights), metadata={"format": "pt"})
    return folder


def _edit_config(folder: Path, **changes) -> Path:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    return folder


def _load_error(path: Path, **kwargs) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load_model(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and "report" not in message, message
    return message


@pytest.mark.parametrize("family", FAMILIES)
def test_base_checkpoint_without_head_is_refused_naming_the_head(tmp_path, family):
    message = _load_error(_headless(family, tmp_path / family))
    assert HEADLESS[family] in message
    assert "base checkpoint without a trained classifier head" in message
    assert "allow_missing_weights=True" in message


def test_base_roberta_also_names_the_unused_pooler(tmp_path):
    message = _load_error(_headless("roberta", tmp_path / "roberta"))
    assert "2 in the checkpoint that the model does not use (pooler.dense.bias, pooler.dense.weight)" in message


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_renamed_weights_are_refused_naming_both_sides(tmp_path, family):
    folder = _rewrite_weights(save_tiny(family, tmp_path / family), lambda k: "encoder." + k)
    message = _load_error(folder)
    total = len(load_file(str(folder / "model.safetensors")))
    assert f"{total} in the checkpoint that the model does not use (encoder." in message
    assert f"({total} in all)" in message
    assert "weight names do not match the architecture" in message


def test_one_renamed_weight_is_named(tmp_path):
    folder = _rewrite_weights(save_tiny("bert", tmp_path / "bert"), lambda k: k.replace("classifier.", "head."))
    message = _load_error(folder)
    assert "2 missing from the checkpoint (classifier.bias, classifier.weight)" in message
    assert "2 in the checkpoint that the model does not use (head.bias, head.weight)" in message


@pytest.mark.parametrize(
    ("family", "changes", "named"),
    [
        ("bert", {"hidden_size": 64}, "bert.embeddings.LayerNorm.bias [32] in the checkpoint vs [64] from config.json"),
        ("distilbert", {"dim": 64}, "distilbert.embeddings.LayerNorm.bias [32] in the checkpoint vs [64]"),
        (
            "bert",
            {"id2label": {str(i): f"L{i}" for i in range(5)}, "label2id": {f"L{i}": i for i in range(5)}},
            "2 of another shape (classifier.bias [3] in the checkpoint vs [5] from config.json, "
            "classifier.weight [3, 32] in the checkpoint vs [5, 32] from config.json)",
        ),
    ],
)
def test_config_shapes_that_disagree_with_the_weights_are_named(tmp_path, family, changes, named):
    message = _load_error(_edit_config(save_tiny(family, tmp_path / family), **changes))
    assert named in message
    assert "config.json does not describe these weights" in message


def test_a_config_transformers_rejects_reaches_the_user_with_its_content(tmp_path):
    message = _load_error(_edit_config(save_tiny("bert", tmp_path / "bert"), num_attention_heads=5))
    assert "transformers could not load the model: ValueError: The hidden size (32) is not a multiple" in message


def test_truncated_weights_are_a_load_error_with_the_cause(tmp_path):
    folder = save_tiny("bert", tmp_path / "bert")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    message = _load_error(folder)
    assert "transformers could not load the model: SafetensorError" in message


@pytest.mark.parametrize(
    ("family", "removed"),
    [
        ("bert", ["tokenizer.json", "tokenizer_config.json"]),
        ("roberta", ["tokenizer.json", "tokenizer_config.json"]),
        ("xlm-roberta", ["tokenizer.json"]),
    ],
)
def test_missing_tokenizer_files_are_refused(tmp_path, family, removed):
    folder = save_tiny(family, tmp_path / family)
    for name in removed:
        (folder / name).unlink()
    message = _load_error(folder)
    assert "no tokenizer files (tokenizer.json, vocab.txt" in message
    assert "every word would be unknown" in message


@pytest.mark.parametrize(("family", "rows"), [("bert", 100), ("roberta", 300), ("xlm-roberta", 100)])
def test_a_tokenizer_larger_than_the_embeddings_is_refused(tmp_path, family, rows):
    folder = tmp_path / family
    tokenizer = tokenizer_for(family)
    AutoModelForSequenceClassification.from_config(config_for(family, rows)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    message = _load_error(folder)
    top = max(tokenizer.get_vocab().values())
    assert f"the tokenizer has {len(tokenizer)} tokens (ids up to {top}) but the embedding matrix has {rows} rows" in (
        message
    )


def test_a_tokenizer_of_special_tokens_only_is_refused(tmp_path):
    folder = save_tiny("bert", tmp_path / "bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(specials)}, unk_token="[UNK]"))
    PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(folder)
    assert "knows only its 5 special tokens" in _load_error(folder)


def test_opt_in_loads_a_headless_checkpoint_with_a_warning_naming_the_weights(tmp_path):
    folder = _headless("bert", tmp_path / "bert")
    with pytest.warns(UserWarning, match=r"2 missing from the checkpoint \(classifier\.bias, classifier\.weight\)"):
        adapter = load_model(folder, allow_missing_weights=True)
    assert adapter.labels == LABELS
    assert adapter.model.classifier.weight.shape == (3, 32)


def test_opt_in_also_covers_renamed_and_misshapen_weights(tmp_path):
    renamed = _rewrite_weights(save_tiny("bert", tmp_path / "renamed"), lambda k: k.replace("classifier.", "head."))
    with pytest.warns(UserWarning, match=r"head\.bias, head\.weight.*loaded anyway"):
        load_model(renamed, allow_missing_weights=True)
    misshapen = _edit_config(save_tiny("bert", tmp_path / "misshapen"), hidden_size=64)
    with pytest.warns(UserWarning, match=r"38 of another shape"):
        assert load_model(misshapen, allow_missing_weights=True).model.config.hidden_size == 64


@pytest.mark.parametrize("family", FAMILIES)
def test_a_complete_folder_loads_without_a_warning(tmp_path, family):
    folder = save_tiny(family, tmp_path / family)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapter = load_model(folder)
    assert adapter.labels == LABELS
    assert next(adapter.model.parameters()).dtype == torch.float32
