"""The bundled decoder demo (`demo-decoder`, a small Qwen2 in `models/decoder_demo/`): the folder, its stated
held-out accuracy, and `trexplain explain/evaluate/report/probe/concepts/run/serve` on it through the command
line, each checked against the model's own outputs (prediction = argmax, CP-LRP conservation, one row per text)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from trexplain.cli import app
from trexplain.models import load_model
from trexplain.models.demo import DECODER_DEMO_DIR, LABELS, corpus_path

runner = CliRunner()
TEXTS = [
    "@united thanks for the wonderful flight, the crew was great",
    "my flight got cancelled again, worst airline ever",
    "the weather in boston is cloudy today",
    "I love my new phone but the battery is awful",
    "@JetBlue no complaints at all, see you next week",
]
FILES = ("MODEL_CARD.md", "NOTICE", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


@pytest.fixture(scope="module")
def decoder():
    return load_model("demo-decoder")


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("decoder-demo") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n")
    return path


def invoke(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def predicted(decoder, texts: list[str]) -> list[int]:
    return decoder.logits(decoder.encode(texts).inputs, batch_size=250).argmax(-1).tolist()


def test_the_folder_is_a_small_qwen2_with_gqa_and_eos_as_pad():
    assert sorted(p.name for p in DECODER_DEMO_DIR.iterdir()) == list(FILES)
    assert sum(p.stat().st_size for p in DECODER_DEMO_DIR.iterdir()) < 10 * 2**20
    config = json.loads((DECODER_DEMO_DIR / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForSequenceClassification"] and config["model_type"] == "qwen2"
    assert config["num_key_value_heads"] < config["num_attention_heads"]  # grouped-query attention
    tokenizer = json.loads((DECODER_DEMO_DIR / "tokenizer_config.json").read_text())
    assert tokenizer["tokenizer_class"] == "Qwen2Tokenizer" and tokenizer["bos_token"] is None
    assert tokenizer["pad_token"] == tokenizer["eos_token"] == "<|endoftext|>"  # as Qwen2 ships
    assert config["pad_token_id"] is None and config["id2label"] == {str(i): label for i, label in enumerate(LABELS)}
    with safe_open(str(DECODER_DEMO_DIR / "model.safetensors"), "pt") as weights:
        names = weights.keys()
        assert {weights.get_tensor(k).dtype for k in names} == {torch.float16}
        v_biases = [weights.get_tensor(k) for k in names if k.endswith("v_proj.bias")]
    assert v_biases and all(not b.any() for b in v_biases)  # held at zero: CP-LRP conserves exactly


def test_loads_by_name_and_the_head_reads_the_appended_eos(decoder):
    assert decoder.name == "demo-decoder" and decoder.family.name == "qwen2" and decoder.labels == LABELS
    assert decoder.card.startswith("# trexplain demo decoder")
    assert decoder.tokenizer.pad_token == decoder.tokenizer.eos_token == "<|endoftext|>"
    assert decoder.pad_record == "'<|endoftext|>' (id 0), the tokenizer's own"
    batch = decoder.encode(TEXTS[:1])
    assert batch.tokens[0][-1] == "<|endoftext|>" and bool(batch.special_mask[0, -1])  # the token the head reads


def test_a_pad_stand_in_is_recorded_and_encoders_record_none(tiny_dirs):
    from tests.test_decoders import tiny_decoder
    from trexplain import explain

    gpt2 = tiny_decoder("gpt2")  # no pad token, as released: its EOS stands in
    assert gpt2.pad_record == f"'</s>' (id {gpt2.pad_token_id}), standing in: the tokenizer has no pad token"
    (explained,) = explain(TEXTS[0], gpt2, "gxi")
    assert explained.diagnostics["pad_token"] == gpt2.pad_record
    bert = load_model(tiny_dirs["bert"])
    (encoded,) = explain(TEXTS[0], bert, "gxi")
    assert bert.pad_record is None and "pad_token" not in encoded.diagnostics


def test_held_out_accuracy_is_the_one_the_card_states(decoder):
    frame = pd.read_csv(corpus_path(), encoding_errors="replace")
    test = frame[frame["split"] == "test"].sort_values("text", key=lambda t: t.str.len())  # little padding
    texts = list(test["text"])
    guesses = [p for i in range(0, len(texts), 250) for p in predicted(decoder, texts[i : i + 250])]
    accuracy = float(np.mean([LABELS[p] == s for p, s in zip(guesses, test["sentiment"], strict=True)]))
    assert len(texts) == 2000 and accuracy > float((test["sentiment"] == "negative").mean()) + 0.2
    assert f"**{accuracy:.3f}**" in decoder.card


def test_explain_records_prediction_conservation_and_pad(decoder):
    result = invoke(["explain", *TEXTS[:2], "--model", "demo-decoder", "--method", "cp-lrp", "--json"])
    records = json.loads(result.stdout)
    for record, index, text in zip(records, predicted(decoder, TEXTS[:2]), TEXTS[:2], strict=True):
        assert record["model"] == "demo-decoder" and record["prediction"]["label"] == LABELS[index]
        [entry] = record["explanations"]
        logits = decoder.logits(decoder.encode([text]).inputs)[0]
        assert entry["target_index"] == index and entry["tokens"][-1] == "<|endoftext|>"
        assert entry["diagnostics"]["logit"] == pytest.approx(float(logits[index]), abs=1e-5)
        assert sum(entry["scores"]) == pytest.approx(float(logits[index]), abs=1e-5)  # bias-free: conserved
        assert entry["diagnostics"]["identity"]["error"] < 1e-5
        assert entry["diagnostics"]["pad_token"] == decoder.pad_record


def test_evaluate_ranks_methods_against_the_random_floor(texts_file):
    args = ["evaluate", "--input", str(texts_file), "--model", "demo-decoder", "--method", "cp-lrp", "--method", "gxi"]
    table = json.loads(invoke([*args, "--json"]).stdout)
    assert table["model"] == "demo-decoder" and table["texts"] == len(TEXTS)
    assert {r["method"] for r in table["rows"]} == {"cp-lrp", "gxi", "random"}
    for row in table["rows"]:
        assert row["n"] == len(TEXTS) and -1 <= row["comprehensiveness"] <= 1 and -1 <= row["sufficiency"] <= 1
        assert row["margin"] == pytest.approx(row["comprehensiveness"] - row["sufficiency"])


def test_report_holds_the_model_card_and_prediction(decoder, tmp_path):
    out = tmp_path / "report.html"
    invoke(["report", TEXTS[1], "--model", "demo-decoder", "--method", "cp-lrp", "--out", str(out)])
    page = out.read_text()
    assert "trexplain demo decoder" in page and "demo-decoder" in page
    assert LABELS[predicted(decoder, TEXTS[1:2])[0]] in page


def test_probe_counts_its_queries_against_the_model(decoder):
    data = json.loads(invoke(["probe", TEXTS[0], "--model", "demo-decoder", "--json", "--budget", "30"]).stdout)
    assert data["queries"] <= 30 and data["original"] == TEXTS[0]
    assert data["original_prediction"] == LABELS[predicted(decoder, TEXTS[:1])[0]]
    assert data["new_prediction"] == LABELS[predicted(decoder, [data["edited"]])[0]]
    assert data["success"] == (data["new_prediction"] != data["original_prediction"])


def test_concepts_fit_on_the_residual_stream(texts_file, tmp_path):
    pytest.importorskip("sklearn", reason="concept dictionaries need scikit-learn: pip install 'trexplain[concepts]'")
    out = tmp_path / "concepts"
    args = ["concepts", "fit", "--input", str(texts_file), "--model", "demo-decoder", "--layer", "1", "--out", str(out)]
    invoke([*args, "-k", "2", "--importance-texts", "2", "--deletion-texts", "2", "--param", "max_iter=20"])
    meta = json.loads((out / "concepts.json").read_text())["meta"]
    assert meta["model_source"] == "demo-decoder" and meta["texts"] == len(TEXTS)


def test_run_writes_one_row_per_text_and_method(decoder, texts_file, tmp_path):
    from trexplain.runs import load_run

    out = tmp_path / "run"
    invoke(["run", "--input", str(texts_file), "--out", str(out), "--model", "demo-decoder", "--method", "gxi"])
    loaded = load_run(out)
    assert [e.text for e in loaded] == TEXTS and {e.method for e in loaded} == {"gxi"}
    assert [e.targets[0] for e in loaded] == predicted(decoder, TEXTS)


def test_serve_explains_on_loopback(decoder, monkeypatch):
    pytest.importorskip("fastapi", reason="the web app needs the app extra: pip install 'trexplain[app]'")
    pytest.importorskip("httpx", reason="FastAPI's test client needs httpx: pip install httpx")
    import uvicorn
    from fastapi.testclient import TestClient

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda web, **kwargs: served.update(web=web, **kwargs))
    invoke(["serve", "--model", "demo-decoder"])
    assert served["host"] == "127.0.0.1"
    with TestClient(served["web"], base_url=f"http://127.0.0.1:{served['port']}") as client:
        reply = client.post("/api/explain", json={"texts": TEXTS[:1], "methods": ["cp-lrp"]})
    assert reply.status_code == 200, reply.text
    [record] = reply.json()["records"]
    assert record["model"] == "demo-decoder"
    assert record["prediction"]["label"] == LABELS[predicted(decoder, TEXTS[:1])[0]]
