import numpy as np
import pytest

from converters import keras_to_tflite
from kdedge.runtime import TFLiteModel
from kdedge.student import ARCHS, StudentConfig, build_student, load_student, masked_mean_layer, save_student


def _ids(n=16, max_len=12, vocab=50, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocab, size=(n, max_len)).astype(np.int32)
    for row, length in enumerate(rng.integers(1, max_len + 1, size=n)):
        ids[row, length:] = 0
    return ids


@pytest.mark.parametrize("arch", ARCHS)
def test_student_saves_loads_safely_and_exports_to_builtin_tflite(arch, tmp_path):
    cfg = StudentConfig(arch=arch, max_len=12, embed_dim=8, filters=4, hidden=8)
    model = build_student(cfg, vocab_size=50)
    ids = _ids()
    keras_out = model(ids, training=False).numpy()
    save_student(model, tmp_path / "s.keras")
    again = load_student(tmp_path / "s.keras")
    np.testing.assert_allclose(again(ids, training=False).numpy(), keras_out, atol=1e-6)
    # Builtin ops only (the converter is told so; a Flex op would fail conversion).
    lite = TFLiteModel(content=keras_to_tflite(model, "float32"))
    assert lite.input_shape() == (1, 12)
    out = np.concatenate([lite({"input_ids": r[None]}) for r in ids])
    np.testing.assert_allclose(out, keras_out, atol=1e-4)


def test_masked_mean_ignores_padding():
    import tensorflow as tf
    layer = masked_mean_layer()()
    ids = tf.constant([[3, 4, 0, 0]])
    emb = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0], [100.0, 100.0]]])
    np.testing.assert_allclose(layer([ids, emb]).numpy(), [[2.0, 3.0]])


@pytest.mark.parametrize("mode", ["teacher", "teacher-context"])
def test_teacher_embedding_init_has_requested_shape(tiny_teacher_init, mode):
    from kdedge.student import teacher_embeddings
    vocab = ["[PAD]", "[UNK]", "good", "bad", "film", "unseenword"]
    emb = teacher_embeddings(tiny_teacher_init, vocab, dim=4, mode=mode)
    assert emb.shape == (6, 4)
    assert np.all(emb[0] == 0) and np.abs(emb[2:]).sum() > 0
    # Different words get different vectors.
    assert not np.allclose(emb[2], emb[3])
