"""--no-dense-per-channel: dynamic-range files whose FULLY_CONNECTED older runtimes load."""

from __future__ import annotations

import json

import numpy as np

from converters import keras_to_tflite
from kdedge.stages.export import min_runtime_version


def _fc_versions(content: bytes) -> set[int]:
    from tensorflow.lite.python import schema_py_generated as schema
    model = schema.Model.GetRootAs(content, 0)
    fc = schema.BuiltinOperator.FULLY_CONNECTED
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    return {c.Version() for c in codes if max(c.BuiltinCode(), c.DeprecatedBuiltinCode()) == fc}


def _runtime_tuple(content: bytes) -> tuple[int, ...]:
    return tuple(int(x) for x in min_runtime_version(content).split("."))


def test_per_tensor_dense_scales_need_an_older_runtime_and_keep_the_outputs():
    import tf_keras as keras
    keras.utils.set_random_seed(0)
    # 64x64 weights: above the 1024-element floor under which the converter leaves a weight float.
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(3)])
    per_channel = keras_to_tflite(model, "dynamic")
    per_tensor = keras_to_tflite(model, "dynamic", dense_per_channel=False)
    assert max(_fc_versions(per_channel)) >= 12  # what LiteRT >= 2.17 reads
    assert max(_fc_versions(per_tensor)) < 12
    assert _runtime_tuple(per_tensor) < _runtime_tuple(per_channel) and _runtime_tuple(per_tensor) < (2, 14)

    from ai_edge_litert.interpreter import Interpreter
    x = np.random.default_rng(0).normal(size=(16, 64)).astype(np.float32)
    want = model(x).numpy()
    for content in (per_channel, per_tensor):
        interp = Interpreter(model_content=content)
        interp.resize_tensor_input(interp.get_input_details()[0]["index"], x.shape)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        got = interp.get_tensor(interp.get_output_details()[0]["index"])
        assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    # float32 and int8 ignore the setting
    assert keras_to_tflite(model, "float32", dense_per_channel=False) == keras_to_tflite(model, "float32")


def test_export_records_the_setting(pipeline_run, tmp_path):
    from kdedge.cli import main
    out = tmp_path / "export"
    main(["export", "--distill-dir", str(pipeline_run / "distill"), "--teacher-dir", str(pipeline_run / "teacher"),
          "--data", str(pipeline_run / "data"), "--modes", "dynamic", "--no-teacher", "--no-dense-per-channel",
          "--check-examples", "16", "--out", str(out)])
    assert json.loads((out / "config.json").read_text())["dense_per_channel"] is False
    assert (out / "student_dynamic.tflite").is_file()
