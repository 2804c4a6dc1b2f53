import numpy as np
import pytest

from converters import keras_to_tflite
from kdedge.errors import ConfigError
from kdedge.models.layers import MaskedMean
from kdedge.models.student import ARCHS, build_student, load_student, save_student
from kdedge.runtime import TFLiteModel
from kdedge.stages.student import StudentConfig
from tests.support import epochs_of, fit_steps, synthetic_task, tiny_student_config, token_ids


def _op_names(content: bytes) -> list[str]:
    lite = TFLiteModel(content=content)
    return [d["op_name"] for d in lite.interpreter._get_ops_details()]


@pytest.mark.parametrize("arch", ARCHS)
def test_student_saves_loads_safely_and_exports_to_builtin_tflite(arch, tmp_path):
    model = build_student(tiny_student_config(arch), vocab_size=50)
    ids = token_ids()
    keras_out = model(ids, training=False).numpy()
    save_student(model, tmp_path / "s.keras")
    again = load_student(tmp_path / "s.keras")
    np.testing.assert_allclose(again(ids, training=False).numpy(), keras_out, atol=1e-6)
    # Builtin ops only (the converter is told so; a Flex op would fail conversion).
    lite = TFLiteModel(content=keras_to_tflite(model, "float32"))
    assert lite.input_shape() == (1, 12)
    # One interpreter, rows in turn: also catches state (e.g. an LSTM's) carried from one invoke to the next.
    out = np.concatenate([lite({"input_ids": r[None]}) for r in ids])
    np.testing.assert_allclose(out, keras_out, atol=1e-4)


def test_bilstm_lowers_to_fused_lstm_ops():
    ops = _op_names(keras_to_tflite(build_student(tiny_student_config("bilstm"), vocab_size=50), "float32"))
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2
    assert "WHILE" not in ops


@pytest.mark.parametrize("arch", ARCHS)
def test_student_int8_export_agrees_with_keras(arch):
    model = build_student(tiny_student_config(arch), vocab_size=20)
    x, y = synthetic_task(256, seed=1)
    fit_steps(model, epochs_of(x, y, 6))  # a few epochs, so the logits have margins worth comparing
    check, _ = synthetic_task(64, seed=2)
    keras_out = model(check, training=False).numpy()

    def representative():
        for row in x[:64]:
            yield [row[None]]

    content = keras_to_tflite(model, "int8", representative)
    lite = TFLiteModel(content=content)
    assert lite.inputs[next(iter(lite.inputs))]["dtype"] == np.int32
    out = np.concatenate([lite({"input_ids": r[None]}) for r in check])
    assert (out.argmax(1) == keras_out.argmax(1)).mean() >= 0.9
    np.testing.assert_array_equal(lite({"input_ids": check[:1]}), out[:1])  # nothing carried between invokes
    if arch == "bilstm":
        _assert_lstm_state_scale_matches_output(lite)


def _assert_lstm_state_scale_matches_output(lite):
    """The int8 LSTM kernel writes h with its state tensor's scale and copies it to the output as is."""
    tensors = {t["index"]: t for t in lite.interpreter.get_tensor_details()}
    lstms = [op for op in lite.interpreter._get_ops_details() if op["op_name"] == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    assert len(lstms) == 2
    for op in lstms:
        state, output = tensors[op["inputs"][18]], tensors[op["outputs"][0]]
        assert state["dtype"] == output["dtype"] == np.int8
        assert state["quantization"] == output["quantization"]


def _same_weights(src, dst):
    """Copy ``src``'s weights into ``dst`` (built for a shorter max_len: position tables are cut)."""
    for a, b in zip(src.weights, dst.weights):
        value = a.numpy()
        b.assign(value[:b.shape[0]] if a.shape != b.shape else value)


@pytest.mark.parametrize("arch", ["bilstm", "transformer"])
def test_padding_does_not_leak_into_logits(arch):
    """Logits of a sentence must not depend on how much padding follows it, nor on the padding's vector."""
    long_model = build_student(tiny_student_config(arch, max_len=20), vocab_size=50)
    short_model = build_student(tiny_student_config(arch, max_len=12), vocab_size=50)
    _same_weights(long_model, short_model)
    short = token_ids(16, 12, seed=3)
    long = np.concatenate([short, np.zeros((16, 8), np.int32)], axis=1)  # the same rows, 8 more pads
    want = short_model(short, training=False).numpy()
    np.testing.assert_allclose(long_model(long, training=False).numpy(), want, atol=1e-5)

    # A different vector for the padding id changes nothing either.
    table = long_model.get_layer("embedding")
    pad_vector = np.random.default_rng(0).normal(0, 5, table.get_weights()[0].shape[1])
    table.embeddings[0].assign(pad_vector.astype(np.float32))
    np.testing.assert_allclose(long_model(long, training=False).numpy(), want, atol=1e-5)

    # Control: real tokens at those positions do change the logits, far beyond the tolerance above.
    filled = np.where(long == 0, 7, long).astype(np.int32)
    assert np.abs(long_model(filled, training=False).numpy() - want).max() > 1e-3


@pytest.mark.parametrize("kwargs, flag", [
    ({"arch": "transformer", "embed_dim": 64, "heads": 3}, "--heads"),
    ({"lstm_units": 0}, "--lstm-units"),
    ({"layers": 0}, "--layers"),
    ({"ff_dim": 0}, "--ff-dim"),
])


def test_student_config_rejects_bad_sizes(kwargs, flag):
    with pytest.raises(ConfigError, match=flag):
        StudentConfig(**kwargs).validate()


def test_masked_mean_ignores_padding():
    import tensorflow as tf
    layer = MaskedMean()
    ids = tf.constant([[3, 4, 0, 0]])
    emb = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0], [100.0, 100.0]]])
    np.testing.assert_allclose(layer([ids, emb]).numpy(), [[2.0, 3.0]])


@pytest.mark.parametrize("mode", ["teacher", "teacher-context"])
def test_teacher_embedding_init_has_requested_shape(tiny_teacher_init, mode):
    from kdedge.training.embedding_init import teacher_embeddings
    vocab = ["[PAD]", "[UNK]", "good", "bad", "film", "unseenword"]
    emb = teacher_embeddings(tiny_teacher_init, vocab, dim=4, mode=mode)
    assert emb.shape == (6, 4)
    assert np.all(emb[0] == 0) and np.abs(emb[2:]).sum() > 0
    # Different words get different vectors.
    assert not np.allclose(emb[2], emb[3])


def test_teacher_embedding_init_is_the_pca_of_the_teacher_vectors_and_unk_is_the_teachers_unk(tiny_teacher_init):
    """The rows are the teacher's word vectors projected on their top principal components (recomputed here
    from the teacher's embedding table), [UNK] is the teacher's [UNK] projected alike (not [PAD]'s zero)."""
    from kdedge.models.teacher import load_teacher, word_vectors
    from kdedge.training.embedding_init import teacher_embeddings

    vocab = ["[PAD]", "[UNK]", "good", "bad", "film", "boring", "great", "movie"]
    emb = teacher_embeddings(tiny_teacher_init, vocab, dim=3, mode="teacher")
    model, tok = load_teacher(tiny_teacher_init)
    vecs = word_vectors(model, tok, vocab[2:]).astype(np.float64)
    unk = model.bert.embeddings.weight.numpy()[tok.unk_token_id].astype(np.float64)
    mean = vecs.mean(0)
    _, _, vt = np.linalg.svd(vecs - mean, full_matrices=False)
    scale = 0.05 / ((vecs - mean) @ vt[:3].T).std()
    np.testing.assert_allclose(emb[2:], (vecs - mean) @ vt[:3].T * scale, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(emb[1], (unk - mean) @ vt[:3].T * scale, rtol=1e-4, atol=1e-6)
    assert np.linalg.norm(emb[1]) > 0.1 * np.linalg.norm(emb[2:], axis=1).mean()  # not [PAD]
