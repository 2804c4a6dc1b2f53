"""A cnn file rewritten to run at any length: same outputs at its own length and at n + k ids."""

from __future__ import annotations

import numpy as np
import pytest

from converters import keras_to_tflite
from converters.errors import ConverterError
from converters.trailing_pad import check_trailing_pad, skip_trailing_padding, token_counts
from tests.support import representative, tiny_student_config, token_ids

MAX_LEN = 24


def _run(content: bytes, ids: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=content, num_threads=1)
    index = it.get_input_details()[0]["index"]
    it.resize_tensor_input(index, list(ids.shape), strict=False)
    it.allocate_tensors()
    it.set_tensor(index, ids)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def cnn():
    from kdedge.models.student import build_student
    return build_student(tiny_student_config("cnn", max_len=MAX_LEN), 60, num_labels=3)


@pytest.mark.parametrize("mode", ["float32", "dynamic", "int8"])
def test_a_cnn_runs_at_its_length_and_at_n_plus_k_with_the_same_outputs(cnn, mode):
    ids = token_ids(40, MAX_LEN, vocab=60, seed=1)
    ids[:5, 3:] = 0  # a few short rows: most of their windows are padding
    original = keras_to_tflite(cnn, mode, representative(ids) if mode == "int8" else None)
    rewritten, k = skip_trailing_padding(original)
    assert k == 5  # the widest convolution (3, 4, 5)
    assert check_trailing_pad(original, rewritten, k, ids) <= 1e-6
    full = _run(original, ids[:1])
    for row, n in zip(ids, token_counts(ids)):
        ref = _run(original, row[None])
        for length in range(min(MAX_LEN, n + k), MAX_LEN + 1):
            assert np.abs(_run(rewritten, row[None, :length]) - ref).max() <= 1e-6
    # still a batch file, and still [1, MAX_LEN] for MediaPipe and plain LiteRT
    assert np.abs(_run(rewritten, ids[:4]) - np.concatenate([_run(original, r[None]) for r in ids[:4]])).max() <= 1e-6
    assert np.array_equal(_run(rewritten, ids[:1]), full)
    from ai_edge_litert.interpreter import Interpreter
    assert Interpreter(model_content=rewritten).get_input_details()[0]["shape"].tolist() == [1, MAX_LEN]


def test_a_claim_too_small_is_caught():
    from kdedge.models.student import build_student
    model = build_student(tiny_student_config("cnn", max_len=MAX_LEN), 60, num_labels=3)
    table = model.get_layer("embedding").get_weights()[0]
    table[0] = 10.0  # a loud <PAD>: its windows are the max of some channels
    model.get_layer("embedding").set_weights([table])
    ids = np.zeros((40, MAX_LEN), dtype=np.int32)
    ids[:, :4] = np.random.default_rng(2).integers(2, 60, size=(40, 4))  # four tokens: at n + 1 = 5 ids no
    # all-padding window of width 3, 4 or 5 is left
    original = keras_to_tflite(model, "float32")
    rewritten, _ = skip_trailing_padding(original)
    with pytest.raises(ConverterError, match="changes outputs"):
        check_trailing_pad(original, rewritten, 1, ids)


@pytest.mark.parametrize("arch", ["wordavg", "transformer", "bilstm"])
def test_other_architectures_are_left_alone(arch):
    from kdedge.models.student import build_student
    model = build_student(tiny_student_config(arch, max_len=MAX_LEN), 60, num_labels=2)
    assert skip_trailing_padding(keras_to_tflite(model, "float32")) is None


def test_token_counts_find_the_last_real_id():
    ids = np.array([[5, 6, 0, 0], [0, 0, 0, 0], [7, 0, 8, 0], [1, 2, 3, 4]])
    assert token_counts(ids).tolist() == [2, 0, 3, 4]
