"""GATHER -> RESHAPE, EMBEDDING_LOOKUP, RESHAPE: the same outputs, bitwise, for every student arch."""

from __future__ import annotations

import numpy as np
import pytest

from converters import keras_to_tflite
from converters.embedding_lookup import gather_to_embedding_lookup
from converters.errors import ConverterError
from kdedge.models.student import ARCHS, build_student
from kdedge.runtime import TFLiteModel
from tests.support import tiny_student_config, token_ids


def _ops(content: bytes) -> list[str]:
    return [d["op_name"] for d in TFLiteModel(content=content).interpreter._get_ops_details()]


@pytest.mark.parametrize("arch", [a for a in ARCHS if a != "bilstm"])
def test_the_rewrite_changes_no_output_bit(arch):
    content = keras_to_tflite(build_student(tiny_student_config(arch), vocab_size=50), "float32")
    new, count = gather_to_embedding_lookup(content)
    assert count == 1
    ops = _ops(new)
    assert "EMBEDDING_LOOKUP" in ops and ops.count("GATHER") == _ops(content).count("GATHER") - 1
    ids = token_ids(n=9)
    before, after = TFLiteModel(content=content), TFLiteModel(content=new)
    for row in ids:
        np.testing.assert_array_equal(after({"input_ids": row[None]}), before({"input_ids": row[None]}))
    # A batch of rows (the files take a batch dimension): resize both and compare.
    for lite in (before, after):
        lite.interpreter.resize_tensor_input(lite.interpreter.get_input_details()[0]["index"], list(ids.shape))
        lite.interpreter.allocate_tensors()
    np.testing.assert_array_equal(after({"input_ids": ids}), before({"input_ids": ids}))


def test_a_file_without_an_embedding_gather_is_left_as_it_is():
    content = keras_to_tflite(build_student(tiny_student_config("cnn"), vocab_size=50), "float32")
    once, _ = gather_to_embedding_lookup(content)
    twice, count = gather_to_embedding_lookup(once)
    assert count == 0 and twice == once


def test_not_a_tflite_file_is_a_converter_error():
    with pytest.raises(ConverterError, match="TFL3"):
        gather_to_embedding_lookup(b"PK\x03\x04 not a model")
