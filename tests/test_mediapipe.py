"""MediaPipe Tasks runs kdedge's student files unchanged, with kdedge's own ids and scores.

Google's MediaPipe ``TextClassifier`` (the C++ core Android, iOS and the Web run)
loads each exported ``.tflite`` with no code of ours; its scores must equal
:class:`kdedge.TextClassifier`'s, and an id-echo model (output = its input ids)
shows that kdedge's format-3 tokenizer gives MediaPipe's ids on every text.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

# Installed by the README's install line (and .ci/run): a missing mediapipe fails here rather than skipping.
from mediapipe.tasks.python import text as mp_text
from mediapipe.tasks.python.core import base_options as mp_base

from kdedge import TextClassifier
from kdedge.errors import StageInputError
from kdedge.text.tokenizer import RegexTokenizer
from tests.support import make_sentences, tiny_student_config

ARCHS = ("cnn", "wordavg", "bilstm", "transformer")
MAX_LEN = 16
CAFE = "café"
TEXTS = [
    "", "   \t\n ", "!!! ... ,,, ???", "good film", "GOOD Film, really GOOD.", "gOOd film", "a boring, dull movie",
    "great 😀😀 film 🎬", unicodedata.normalize("NFC", f"un {CAFE} délicieux"),
    unicodedata.normalize("NFD", f"un {CAFE} délicieux"), "東京タワーは素晴らしい映画です", "Привет, отличный фильм!",
    "Ünïcödé ÀÉÎÕÜ ñ ß ẞ", "don't isn't it's rock'n'roll", "snake_case and 123 456.78", "good\x00bad bad bad",
    "x" * 100_000, "the film " * 400, "مرحبا بالعالم", "नमस्ते दुनिया", "ǆ Ǆ ǅ", "TAB\tSEP\u00a0NBSP\u2028LS",
]


def _vocab_texts() -> list[str]:
    return [s for s, _ in make_sentences(200, 5)] + [t for t in TEXTS if len(t) < 1000]


@pytest.fixture(scope="module")
def tokenizer() -> RegexTokenizer:
    return RegexTokenizer.build(_vocab_texts(), MAX_LEN, vocab_size=120)


def _stamp(content: bytes, tokenizer, labels, output="probabilities") -> bytes:
    from kdedge.stages.export import _Card
    card = _Card(labels=labels, output=output, arch="test", dataset="test", author="kdedge tests", license=None)
    return card.stamp(content, tokenizer, "test.tflite", "test")


def _mediapipe(path):
    options = mp_text.TextClassifierOptions(base_options=mp_base.BaseOptions(model_asset_path=str(path)))
    return mp_text.TextClassifier.create_from_options(options)


def _scores(result, k: int) -> np.ndarray:
    out = np.full(k, np.nan)
    for c in result.classifications[0].categories:
        out[c.index] = c.score
    return out


@pytest.fixture(scope="module")
def id_echo(tmp_path_factory, tokenizer):
    """A ``.tflite`` whose output is its own input ids (float), with the tokenizer's metadata."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, MAX_LEN], tf.int32, name="input_ids")])
    def echo(ids):
        return tf.cast(ids, tf.float32) + 0.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([echo.get_concrete_function()], echo)
    content = _stamp(converter.convert(), tokenizer, [str(i) for i in range(MAX_LEN)], output="logits")
    path = tmp_path_factory.mktemp("echo") / "echo.tflite"
    path.write_bytes(content)
    return path


def test_kdedge_ids_equal_the_ids_mediapipe_feeds(id_echo, tokenizer):
    mp = _mediapipe(id_echo)
    try:
        ours = tokenizer.encode(TEXTS)
        for text, row in zip(TEXTS, ours):
            theirs = _scores(mp.classify(text), MAX_LEN).astype(np.int64)
            assert theirs.tolist() == row.tolist(), repr(text[:60])
    finally:
        mp.close()
    # The text set exercises the contract: case variants share an id, other casings are unknown,
    # punctuation and emoji are never tokens, NFC and NFD differ, a NUL ends the text.
    good = tokenizer.token_id("good")
    assert tokenizer.encode(["GOOD Good gOOd"])[0][:3].tolist() == [good, good, tokenizer.unk_id]
    assert tokenizer.encode(["!!! 😀"])[0].tolist() == [0] * MAX_LEN
    assert tokenizer.encode(["good\x00film"])[0][:2].tolist() == [good, 0]


@pytest.fixture(scope="module")
def students(tmp_path_factory, tokenizer):
    """Every arch's students (float32 and int8) with their metadata, 3 labels, converted as ``kdedge export``
    converts them: the cnn rewritten to run at any length, the bilstm's LSTMs unrolled."""
    from converters.trailing_pad import skip_trailing_padding
    from kdedge.models.student import build_student, export_graph
    from kdedge.stages.export import ExportConfig, convert, with_softmax

    folder = tmp_path_factory.mktemp("students")
    calib = tokenizer.encode(_vocab_texts()[:64])
    files = {}
    for arch in ARCHS:
        model = build_student(tiny_student_config(arch, max_len=MAX_LEN), len(tokenizer.vocab), num_labels=3)
        model = with_softmax(export_graph(model))
        for mode in ("float32", "int8"):
            rep = (lambda: ([r[None, :]] for r in calib)) if mode == "int8" else None
            content = convert(model, mode, rep, ExportConfig())
            flexible = skip_trailing_padding(content)
            assert (flexible is not None) == (arch == "cnn")
            if flexible is not None:
                assert flexible[1] == 5  # the widest convolution
                content = flexible[0]
            content = _stamp(content, tokenizer, ["sad", "meh", "happy"])
            files[(arch, mode)] = folder / f"{arch}_{mode}.tflite"
            files[(arch, mode)].write_bytes(content)
    return files


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_mediapipe_and_kdedge_classify_alike(students, arch, mode):
    path = students[(arch, mode)]
    ours = TextClassifier(path)
    assert ours.labels == ["sad", "meh", "happy"] and ours.max_len == MAX_LEN
    probs = ours.probabilities(TEXTS)
    mp = _mediapipe(path)
    try:
        for text, row in zip(TEXTS, probs):
            theirs = _scores(mp.classify(text), 3)
            assert np.abs(theirs - row).max() <= 1e-5, repr(text[:60])
            assert int(np.argmax(theirs)) == int(np.argmax(row))
    finally:
        mp.close()
    assert ours.batchable and ours._batches >= len(TEXTS)  # one batched call (padded to a power of two)
    one_by_one = np.concatenate([ours.probabilities([t]) for t in TEXTS])
    assert np.abs(one_by_one - probs).max() <= 1e-5
    single = TextClassifier(path)  # holds one row after its first call: the rest take the per-request path
    one_at_a_time = np.concatenate([single.probabilities([t]) for t in TEXTS + TEXTS[:1]])
    assert single._batches == 1 and np.abs(one_at_a_time - np.concatenate([probs, probs[:1]])).max() <= 1e-5
    # The cnn ran the short texts at 8 ids, not 16: the same scores as MediaPipe's at the file's length.
    assert (single.trailing_pad, sorted(single._short)) == ((5, [8]) if arch == "cnn" else (None, []))
    top = ours.classify(["good film"], top_k=2)[0]
    assert len(top) == 2 and top[0].score >= top[1].score and top[0].label in ours.labels


def test_plain_litert_runs_the_file_as_before(students, tokenizer):
    """Metadata changes no op: the stamped file and the bare conversion give identical outputs."""
    from converters import keras_to_tflite
    from kdedge.models.student import build_student
    from kdedge.runtime import TFLiteModel
    from kdedge.stages.export import with_softmax

    model = with_softmax(build_student(tiny_student_config("cnn", max_len=MAX_LEN), len(tokenizer.vocab),
                                       num_labels=3))
    bare = keras_to_tflite(model, "float32")
    stamped = _stamp(bare, tokenizer, ["a", "b", "c"])
    ids = tokenizer.encode(TEXTS)
    for a, b in ((TFLiteModel(content=bare), TFLiteModel(content=stamped)),):
        for row in ids:
            assert np.array_equal(a({"input_ids": row[None]}), b({"input_ids": row[None]}))


def test_files_without_metadata_or_broken_are_refused_in_one_line(tmp_path, students):
    from converters import keras_to_tflite
    from kdedge.models.student import build_student

    bare = tmp_path / "bare.tflite"
    bare.write_bytes(keras_to_tflite(build_student(tiny_student_config("cnn"), 30), "float32"))
    with pytest.raises(StageInputError, match="has no TFLite metadata"):
        TextClassifier(bare)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(StageInputError, match="not a valid .tflite file"):
        TextClassifier(junk)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(students[("cnn", "float32")].read_bytes()[:-200])  # the archive's directory is gone
    with pytest.raises(StageInputError, match="associated files are missing or damaged"):
        TextClassifier(cut)
    with pytest.raises(StageInputError, match="file not found"):
        TextClassifier(tmp_path / "nope.tflite")


def test_fused_bilstm_does_not_load_in_mediapipe_so_export_unrolls_it(tmp_path, tokenizer, capsys):
    """Measured, not assumed: MediaPipe refuses the fused LSTM's computed state. The unrolled graph (export's
    default) has the same outputs and carries metadata; ``--lstm fused`` gets no metadata, said in one line."""
    from converters import keras_to_tflite
    from kdedge.errors import ConfigError
    from kdedge.models.student import build_student, export_graph, has_fused_lstm
    from kdedge.stages.export import ExportConfig, metadata_card

    model = build_student(tiny_student_config("bilstm", max_len=MAX_LEN), len(tokenizer.vocab), num_labels=2)
    path = tmp_path / "bilstm.tflite"
    path.write_bytes(_stamp(keras_to_tflite(model, "float32"), tokenizer, ["neg", "pos"]))
    with pytest.raises(Exception, match="is a variable"):
        _mediapipe(path)
    # kdedge itself runs it (LiteRT), one text at a time since the fused LSTM cannot take a batch.
    ours = TextClassifier(path)
    many = ours.probabilities(TEXTS[:6])
    one = np.concatenate([ours.probabilities([t]) for t in TEXTS[:6]])
    assert np.array_equal(many, one) and ours._batches in (False, 1)
    unrolled = export_graph(model)
    assert has_fused_lstm(model) and not has_fused_lstm(unrolled) and export_graph(unrolled) is unrolled
    ids = tokenizer.encode(TEXTS)
    assert np.abs(model.predict(ids, verbose=0) - unrolled.predict(ids, verbose=0)).max() <= 1e-6
    (tmp_path / "data").mkdir()
    assert metadata_card(unrolled, tokenizer, tmp_path / "data", tmp_path, ExportConfig(metadata="on")) is not None
    assert capsys.readouterr().out == ""
    assert metadata_card(model, tokenizer, tmp_path / "data", tmp_path, ExportConfig(lstm="fused")) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "no metadata" in out[0] and "--lstm fused" in out[0]
    with pytest.raises(ConfigError, match="--metadata on: the student cannot carry MediaPipe metadata"):
        metadata_card(model, tokenizer, tmp_path / "data", tmp_path, ExportConfig(metadata="on", lstm="fused"))
