"""Arrow/Parquet storage of explanations: the schema, an exact round trip, atomic writes and typed errors."""

from __future__ import annotations

import math
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import trexplain
from trexplain import explain
from trexplain.arrow import SCHEMA, from_arrow, from_parquet, to_arrow, to_parquet
from trexplain.diagnostics import Diagnostics
from trexplain.errors import InputError
from trexplain.explanation import SCHEMA_VERSION, Explanation
from trexplain.layout import TextLayout

TEXTS = ["I can't believe this just happened!", "ok", "Zoë's café — naïve, 100% 👍 <b>bold</b> & more words here."]
NAN_PAYLOAD = np.array([0x7FC0_0001], dtype=np.uint32).view(np.float32)[0]


@pytest.fixture(scope="module")
def real(tiny):
    """Real explanations: layer scores (cp-lrp), all targets and one, texts of different lengths."""
    return (
        explain(TEXTS, tiny["bert"], "cp-lrp", target="all")
        + explain(TEXTS, tiny["roberta"], "gxi", target="all")
        + explain(TEXTS[:2], tiny["distilbert"], "ig", target=2, params={"steps": 8})
    )


@pytest.fixture()
def hostile():
    """A hand-built explanation with awkward text, special floats and NaN in its diagnostics."""
    text = 'Zoë 👩‍👩‍👧 <script>alert("x")</script>\x00\t\n\x1b[31m\u202e end'
    layout = TextLayout(
        text=text,
        tokens=("[CLS]", "Zoë", "👩‍👩‍👧", '<script>alert("x")</script>', "\x00\t\n\x1b[31m\u202e", "[SEP]"),
        offsets=((0, 0), (0, 3), (4, 12), (13, 40), (40, 48), (0, 0)),
        word_ids=(-1, 0, 1, 2, 3, -1),
        words=((0, 3), (4, 12), (13, 40), (40, 48)),
        special=(True, False, False, False, False, True),
    )
    scores = np.array(
        [[0.1, -0.0, np.inf, -np.inf, 1e-45, 3.4e38], [np.nan, NAN_PAYLOAD, 1 / 3, -2.5, 0.0, 7.0]], np.float32
    )
    diagnostics = Diagnostics(
        {"relative_error": [math.nan, 0.5], "spread": math.inf, "note": "naïve <i>ok</i>", "raw": {"a": [1, None]}},
        {"relative_error": ["target"]},
    )
    return Explanation(
        layout=layout,
        labels=["négatif", "😐", "<positive>"],
        logits=np.array([-0.0, 1.5, -3.25], np.float32),
        targets=[2, 0],
        scores=scores,
        method="hand",
        model="tests/ünïcode",
        params={"steps": 4, "baseline": "pad", "nested": {"x": [1.5, None]}},
        diagnostics=diagnostics,
        layer_scores=np.arange(3 * 2 * 6, dtype=np.float32).reshape(3, 2, 6) / 7,
    )


@pytest.fixture()
def bare():
    """Empty text and params, no diagnostics or layer scores, one target, no words."""
    layout = TextLayout("", ("<s>", "</s>"), ((0, 0), (0, 0)), (-1, -1), (), (True, True))
    return Explanation(
        layout=layout, labels=["a", "b"], logits=[0.25, -1.0], targets=[1], scores=[[0.0, 0.5]], method="m"
    )


def bits(array: np.ndarray) -> np.ndarray:
    assert array.dtype == np.float32
    return array.view(np.uint32)


def assert_identical(back: list[Explanation], xs: list[Explanation]) -> None:
    assert len(back) == len(xs)
    for a, b in zip(back, xs, strict=True):
        assert a.to_json() == b.to_json()  # == is False for NaN scores (even x == x): tolist() makes new NaNs
        np.testing.assert_array_equal(bits(a.scores), bits(b.scores))
        np.testing.assert_array_equal(bits(a.logits), bits(b.logits))
        assert (a.layer_scores is None) == (b.layer_scores is None)
        if b.layer_scores is not None:
            np.testing.assert_array_equal(bits(a.layer_scores), bits(b.layer_scores))
        assert a.diagnostics.axes == b.diagnostics.axes
        assert a.diagnostics.identity == b.diagnostics.identity
        assert a.layout == b.layout


def test_schema_types_and_version():
    assert SCHEMA.metadata[b"schema_version"] == str(SCHEMA_VERSION).encode()
    floats = pa.list_(pa.float32())
    spans = pa.list_(pa.list_(pa.int32(), 2))
    expected = {
        "schema_version": pa.int16(),
        "layout": pa.string(),
        "model": pa.string(),
        "method": pa.string(),
        "labels": pa.list_(pa.string()),
        "logits": floats,
        "targets": pa.list_(pa.int32()),
        "scores": pa.list_(floats),
        "layer_scores": pa.list_(pa.list_(floats)),
        "params": pa.string(),
        "diagnostics": pa.string(),
        "diagnostic_axes": pa.string(),
        "text": pa.string(),
        "tokens": pa.list_(pa.string()),
        "offsets": spans,
        "word_ids": pa.list_(pa.int32()),
        "words": spans,
        "special": pa.list_(pa.bool_()),
        "segments": spans,  # sentence pairs (issue 19): nullable, optional when reading
        "segmenter": pa.string(),  # how the words were found (issue 26): nullable, optional when reading
        **{name: SCHEMA.field(name).type for name in ("source", "image_size", "grid", "patch_size")},
        **{name: SCHEMA.field(name).type for name in ("special_tokens", "preprocessing", "image")},
    }
    assert {f.name: f.type for f in SCHEMA} == expected
    nullable = {f.name for f in SCHEMA if f.nullable}
    text = {"layer_scores", "text", "tokens", "offsets", "word_ids", "words", "special", "segments", "segmenter"}
    assert nullable == text | {"source", "image_size", "grid", "patch_size", "special_tokens", "preprocessing", "image"}


def test_round_trip_of_real_explanations_is_exact(real):
    assert {x.method for x in real} == {"cp-lrp", "gxi", "ig"}
    assert any(x.layer_scores is not None for x in real) and any(x.layer_scores is None for x in real)
    table = to_arrow(real)
    assert table.schema == SCHEMA and table.num_rows == len(real)
    back = from_arrow(table)
    assert back == real
    assert_identical(back, real)
    # rows keep their own sizes: tokens per text and targets per method
    assert [len(s) for s in table.column("scores").to_pylist()] == [len(x.targets) for x in real]
    assert [len(s[0]) for s in table.column("scores").to_pylist()] == [len(x.tokens) for x in real]
    assert table.column("layer_scores").null_count == sum(x.layer_scores is None for x in real)
    first = real[0]
    assert table.column("layer_scores")[0].as_py() == first.layer_scores.tolist()
    assert table.column("offsets")[0].as_py() == [list(o) for o in first.offsets]


def test_round_trip_of_hostile_and_bare_explanations(hostile, bare, real):
    xs = [hostile, bare, real[0], hostile]
    back = from_arrow(to_arrow(xs))
    assert_identical(back, xs)
    again = back[0]
    assert again.text == hostile.text and again.tokens == hostile.tokens and again.labels == hostile.labels
    assert math.isnan(again.diagnostics["relative_error"][0]) and again.diagnostics["spread"] == math.inf
    assert again.scores.view(np.uint32)[1, 1] == 0x7FC0_0001  # NaN payload kept
    assert str(again.scores[0, 1]) == "-0.0" and again.scores[0, 4] == np.float32(1e-45)
    assert dict(again.params) == {"steps": 4, "baseline": "pad", "nested": {"x": [1.5, None]}}
    finite = hostile.replace(scores=np.nan_to_num(hostile.scores))  # NaN left only in the diagnostics
    assert from_arrow(to_arrow([finite])) == [finite]
    assert back[1] == bare and dict(back[1].params) == {} and dict(back[1].diagnostics) == {}
    assert back[1].layer_scores is None and back[1].words == ()


def test_empty_list_round_trips():
    table = to_arrow([])
    assert table.num_rows == 0 and table.schema == SCHEMA
    assert from_arrow(table) == []


def test_columns_in_another_order_and_extra_columns(real):
    table = to_arrow(real[:4])
    shuffled = table.select(list(reversed(table.column_names))).append_column("split", pa.array(["test"] * 4))
    assert from_arrow(shuffled) == real[:4]


def test_chunked_and_sliced_tables(real, hostile):
    xs = [*real, hostile]
    table = pa.concat_tables([to_arrow(xs[:3]), to_arrow(xs[3:])])
    assert table.column("scores").num_chunks == 2
    assert_identical(from_arrow(table), xs)
    assert_identical(from_arrow(to_arrow(xs).slice(2, 3)), xs[2:5])


def test_parquet_round_trip(tmp_path, real, hostile):
    xs = [*real, hostile]
    path = to_parquet(xs, tmp_path / "run.parquet")
    assert path == tmp_path / "run.parquet" and os.listdir(tmp_path) == ["run.parquet"]
    assert pq.read_schema(path).metadata[b"schema_version"] == str(SCHEMA_VERSION).encode()
    assert_identical(from_parquet(path), xs)


def test_failed_parquet_write_leaves_no_file(tmp_path, monkeypatch, real):
    def broken(table, where, **kwargs):  # `where`: the temporary file's handle
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(InputError, match="disk full"):  # atomic_file names the path
        to_parquet(real, tmp_path / "new.parquet")
    assert os.listdir(tmp_path) == []

    old = tmp_path / "old.parquet"
    old.write_bytes(b"the previous run")
    with pytest.raises(InputError, match="disk full"):  # atomic_file names the path
        to_parquet(real, old)
    assert os.listdir(tmp_path) == ["old.parquet"] and old.read_bytes() == b"the previous run"


def one_line_error(table: pa.Table, match: str) -> str:
    with pytest.raises(InputError, match=match) as caught:
        from_arrow(table)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_columns_are_named(real):
    table = to_arrow(real[:2])
    assert "write explanation tables" in one_line_error(table.drop_columns(["scores", "method"]), "method, scores")
    one_line_error(table.drop_columns(["tokens"]), "lacks the column.s. tokens")


def test_newer_schema_version_is_refused(real):
    table = to_arrow(real[:2])
    newer = pa.array([SCHEMA_VERSION, SCHEMA_VERSION + 1], pa.int16())
    column = table.set_column(table.schema.get_field_index("schema_version"), SCHEMA.field("schema_version"), newer)
    assert "upgrade trexplain" in one_line_error(column, f"schema_version {SCHEMA_VERSION + 1} .column")
    metadata = table.replace_schema_metadata({"schema_version": str(SCHEMA_VERSION + 1)})
    one_line_error(metadata, f"schema_version {SCHEMA_VERSION + 1} .schema metadata")


def test_unknown_layout_is_refused(real):
    table = to_arrow(real[:2])
    kinds = pa.array(["text", "hologram"])
    table = table.set_column(table.schema.get_field_index("layout"), SCHEMA.field("layout"), kinds)
    assert "reads text" in one_line_error(table, "unknown layout 'hologram'")


def test_other_unreadable_tables(real, tmp_path):
    table = to_arrow(real[:2])
    wrong = table.set_column(table.schema.get_field_index("scores"), "scores", pa.array(["x", "y"]))
    one_line_error(wrong, "column 'scores' is string")
    broken_json = table.set_column(
        table.schema.get_field_index("params"), SCHEMA.field("params"), pa.array(["{", "{}"])
    )
    one_line_error(broken_json, "column 'params' row 0 is not JSON")
    with pytest.raises(InputError, match=r"pyarrow\.Table"):
        from_arrow(real)
    (tmp_path / "no.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="as Parquet"):
        from_parquet(tmp_path / "no.parquet")


def test_unencodable_text_is_a_typed_error(bare):
    lone = bare.replace(layout=TextLayout("\ud800", ("<s>", "</s>"), ((0, 0), (0, 0)), (-1, -1), (), (True, True)))
    with pytest.raises(InputError, match="not valid Unicode"):
        to_arrow([lone])
    with pytest.raises(InputError, match="takes Explanations"):
        to_arrow([bare.to_dict()])


def test_exported():
    assert trexplain.to_arrow is to_arrow and trexplain.from_arrow is from_arrow
    assert {"to_arrow", "from_arrow"} <= set(trexplain.__all__)
