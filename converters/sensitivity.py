"""Per-layer int8 quantization error of a student, and mixed precision that keeps the worst layers float.

Built on TensorFlow Lite's quantization debugger
(``tf.lite.experimental.QuantizationDebugger``, TF 2.21): it converts the model
to int8 with a NumericVerify op after every quantized op, runs the
representative rows, and compares each op's dequantized int8 output with the
float output of the same op fed the same (quantized) inputs -- so each number
is that layer's own error, not the error accumulated before it. Per op:

* ``mse``: mean squared difference between dequantized int8 and float output;
* ``rel_mse``: ``mse`` over the float output's mean square (scale-free: comparable
  across layers);
* ``cosine``: cosine similarity of the two outputs, flattened, over all rows.

:func:`mixed_precision_tflite` converts with the named ops left in float
(``denylisted_nodes``): the rest stays int8, the file grows by those ops'
float weights.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def _converter(model, representative):
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    return converter


def _cosine(float_values, quant_values, scale, zero_point) -> float:
    f = np.concatenate([np.asarray(v, np.float64).ravel() for v in float_values])
    q = np.concatenate([(np.asarray(v, np.float64).ravel() - zero_point) * scale for v in quant_values])
    denom = np.linalg.norm(f) * np.linalg.norm(q)
    return float(f @ q / denom) if denom else 1.0


def _float_mean_square(float_values, quant_values, scale, zero_point) -> float:
    return float(np.mean([np.mean(np.square(np.asarray(v, np.float64))) for v in float_values]))


def layer_sensitivity(model, representative: Callable[[], Iterable[list[np.ndarray]]]) -> list[dict]:
    """Quantization error of every int8 op of ``model``, worst first (by ``rel_mse``).

    Args:
        model: a float tf-keras student (not modified).
        representative: yields ``[ids [1, max_len] int32]`` rows (calibration and debug data).

    Returns:
        One dict per quantized op: ``op`` (TFLite op name, e.g. ``FULLY_CONNECTED``),
        ``tensor`` (the output tensor's name: the node to pass to
        :func:`mixed_precision_tflite`), ``mse``, ``rel_mse``, ``cosine``.
    """
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={"cosine": _cosine, "float_ms": _float_mean_square})
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=_converter(model, representative), debug_dataset=representative, debug_options=options)
    debugger.run()
    rows = []
    for name, stats in debugger.layer_statistics.items():
        tensor, op = _operand(debugger, name)
        mse = float(stats.get("mean_squared_error", np.nan))
        float_ms = float(stats.get("float_ms", np.nan))
        rows.append({"op": op, "tensor": tensor, "mse": mse, "rel_mse": mse / float_ms if float_ms else float("inf"),
                     "cosine": float(stats["cosine"])})
    return sorted(rows, key=lambda r: -r["rel_mse"])


def _operand(debugger, name: str) -> tuple[str, str]:
    """(node name, op name) of the quantized op a NumericVerify output tensor checks.

    The node name is what ``denylisted_nodes`` matches, read by the debugger's own
    ``_get_operand_name_and_index`` as its ``layer_statistics_dump`` does (TF 2.21; a
    private method, hence the fallback).
    """
    try:
        tensor, idx = debugger._get_operand_name_and_index(name)
        op = debugger._quant_interpreter._get_op_details(debugger._defining_op[idx])["op_name"]
    except (AttributeError, KeyError, IndexError, ValueError):
        tensor, op = name.removeprefix("NumericVerify/").rsplit(":", 1)[0], "?"
    return tensor, op


def mixed_precision_tflite(model, representative: Callable[[], Iterable[list[np.ndarray]]],
                           float_nodes: list[str]) -> bytes:
    """int8 ``.tflite`` of ``model`` with the ops producing ``float_nodes`` (tensor names from
    :func:`layer_sensitivity`) left in float; int32 ids in, float logits out."""
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(float_nodes))
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=_converter(model, representative), debug_dataset=representative, debug_options=options)
    return debugger.get_nondebug_quantized_model()
