"""Quantization-aware training of the students (converters/qat.py), at toy sizes.

Per supported arch: quantize, train a few steps, convert to int8 TFLite, and
check the file against the QAT Keras model it came from.
"""

import numpy as np
import pytest

from converters.errors import ConverterError
from converters.qat import QAT_ARCHS, load_qat, qat_to_tflite, quantize_student
from kdedge.models.student import build_student, save_weights
from kdedge.runtime import TFLiteModel
from tests.support import MAX_LEN, epochs_of, fit_steps, synthetic_task, tiny_student_config

VOCAB = 20


def _train(model, x, y, epochs):
    return fit_steps(model, epochs_of(x, y, epochs))


@pytest.fixture(scope="module", params=QAT_ARCHS)
def trained(request):
    """A float student, its QAT copy trained a few epochs, and the int8 file converted from it."""
    student = build_student(tiny_student_config(request.param), vocab_size=VOCAB)
    float_weights = [w.copy() for w in student.get_weights()]
    x, y = synthetic_task(192, seed=1)
    qat = quantize_student(student, calibration=x[:64])
    before = [w.numpy().copy() for w in qat.trainable_weights]
    losses = _train(qat, x, y, epochs=4)

    def representative():
        for row in x[:48]:
            yield [row[None]]

    return {"arch": request.param, "student": student, "float_weights": float_weights, "qat": qat,
            "before": before, "losses": losses, "tflite": qat_to_tflite(qat, representative)}


def test_quantize_student_wraps_a_copy_that_trains(trained):
    qat, student = trained["qat"], trained["student"]
    assert {type(layer).__name__ for layer in qat.layers[1:]} == {"QuantizeWrapperV2"}
    assert qat.layers[0].dtype == "int32"  # the ids go in as they are, no fake-quant on them
    # The input model is untouched: same weights, no wrappers.
    for a, b in zip(student.get_weights(), trained["float_weights"]):
        np.testing.assert_array_equal(a, b)
    assert "QuantizeWrapperV2" not in {type(layer).__name__ for layer in student.layers}
    assert np.isfinite(trained["losses"]).all()
    moved = [not np.array_equal(a, b.numpy()) for a, b in zip(trained["before"], qat.trainable_weights)]
    assert all(moved), [w.name for w, m in zip(qat.trainable_weights, moved) if not m]


def _weight_inputs(lite):
    """The weight tensor of every GATHER (table), CONV_2D and FULLY_CONNECTED op."""
    tensors = {t["index"]: t for t in lite.interpreter.get_tensor_details()}
    ops = lite.interpreter._get_ops_details()
    return ([tensors[op["inputs"][0]] for op in ops if op["op_name"] == "GATHER"
             and tensors[op["inputs"][0]]["shape"].tolist() == [VOCAB, 8]]
            + [tensors[op["inputs"][1]] for op in ops if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")])


def test_qat_tflite_is_int8_with_the_int8_export_contract(trained):
    lite = TFLiteModel(content=trained["tflite"])
    assert [d["dtype"] for d in lite.inputs.values()] == [np.int32]
    assert lite.input_shape() == (1, MAX_LEN)
    assert lite.output["dtype"] == np.float32
    weights = _weight_inputs(lite)
    assert any(w["shape"].tolist() == [VOCAB, 8] for w in weights)  # the embedding table is among them
    assert len(weights) >= 3
    assert {w["dtype"] for w in weights} == {np.int8}, [(w["name"], w["dtype"]) for w in weights]
    # The gathered rows keep the table's scale (TFLite's int8 GATHER), which is the QAT range of the table.
    tensors = {t["index"]: t for t in lite.interpreter.get_tensor_details()}
    gather = next(op for op in lite.interpreter._get_ops_details() if op["op_name"] == "GATHER"
                  and tensors[op["inputs"][0]]["shape"].tolist() == [VOCAB, 8])
    table_scale = tensors[gather["inputs"][0]]["quantization"][0]
    assert tensors[gather["outputs"][0]]["quantization"][0] == table_scale
    embeddings = trained["qat"].get_layer("quant_embedding")
    (q_max,) = [w.numpy() for w in embeddings.weights if "embeddings_max" in w.name]
    assert table_scale == pytest.approx(q_max / 127, rel=1e-5)


def test_qat_tflite_tracks_the_qat_model(trained):
    check, _ = synthetic_task(32, seed=2)  # not the calibration or representative rows
    keras_out = trained["qat"](check, training=False).numpy()
    lite = TFLiteModel(content=trained["tflite"])
    out = np.concatenate([lite({"input_ids": row[None]}) for row in check])
    spread = np.ptp(keras_out)
    assert spread > 0.05  # trained: logits worth comparing
    # Layer boundaries and weights share the QAT ranges; tensors inside custom layers are calibrated at
    # conversion (attention, layer norm), so the transformer drifts most (~5% of the logit range).
    assert np.abs(out - keras_out).max() <= 0.1 * spread
    assert (out.argmax(1) == keras_out.argmax(1)).mean() >= 0.9


def test_calibration_starts_output_ranges_at_the_float_ranges():
    student = build_student(tiny_student_config("wordavg"), vocab_size=VOCAB)
    x, _ = synthetic_task(64, seed=3)
    import tensorflow as tf
    mean = tf.keras.Model(student.inputs, student.get_layer("masked_mean").output)(x).numpy()
    ranges = {w.name.split("/")[-1]: float(w.numpy()) for w in
              quantize_student(student, calibration=x).get_layer("quant_masked_mean").weights if "output" in w.name}
    assert ranges["output_min:0"] == pytest.approx(min(mean.min(), 0.0))
    assert ranges["output_max:0"] == pytest.approx(max(mean.max(), 0.0))
    # Without calibration: tfmot's initial [-6, 6], ~100x the float range of these toy activations.
    plain = quantize_student(student).get_layer("quant_masked_mean")
    assert [float(w.numpy()) for w in plain.weights if "output" in w.name] == [-6.0, 6.0]


def test_qat_weights_round_trip(trained, tmp_path):
    path = tmp_path / "qat.weights.h5"
    save_weights(trained["qat"], path)
    again = load_qat(build_student(tiny_student_config(trained["arch"]), vocab_size=VOCAB), path)
    for a, b in zip(trained["qat"].weights, again.weights):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    check, _ = synthetic_task(8, seed=4)
    np.testing.assert_array_equal(again(check, training=False).numpy(),
                                  trained["qat"](check, training=False).numpy())


def test_bilstm_qat_is_refused_with_a_config_error():
    with pytest.raises(ConverterError, match="bilstm"):
        quantize_student(build_student(tiny_student_config("bilstm"), vocab_size=VOCAB))
