import numpy as np

from kdedge.logits_cache import cached_logits, teacher_key


def test_key_depends_on_texts_weights_and_length(tmp_path):
    (tmp_path / "tf_model.h5").write_bytes(b"weights-1")
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    k = teacher_key(tmp_path, ["a", "b"], 64)
    assert k == teacher_key(tmp_path, ["a", "b"], 64)
    assert k != teacher_key(tmp_path, ["a", "c"], 64)
    assert k != teacher_key(tmp_path, ["ab"], 64)
    assert k != teacher_key(tmp_path, ["a", "b"], 32)
    (tmp_path / "tf_model.h5").write_bytes(b"weights-2")
    assert k != teacher_key(tmp_path, ["a", "b"], 64)


def test_cache_computes_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.array([[1.0, 2.0]])

    first, hit1 = cached_logits(tmp_path, "k", compute)
    second, hit2 = cached_logits(tmp_path, "k", compute)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32
