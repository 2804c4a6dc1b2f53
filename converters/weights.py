"""What pruning and clustering left in a model: zeros and distinct values per weight, and file sizes.

Works on a Keras student (:func:`sparsity_report`) and on a converted ``.tflite``
(:func:`tflite_weight_report`, read with LiteRT), so a test or report can check
that the structure survived conversion and quantization.
"""

from __future__ import annotations

import gzip

import numpy as np


def _big_weights(layer) -> list[tuple[str, np.ndarray]]:
    """(name, value) of the weights this module compresses in a plain layer, or in the layer a wrapper holds."""
    import tensorflow as tf

    from converters.sparsity import _CUSTOM_WEIGHTS, _bilstm_prunable

    layer = getattr(layer, "layer", layer)
    name = type(layer).__name__
    if isinstance(layer, tf.keras.layers.Embedding):
        names = ["embeddings"]
    elif isinstance(layer, (tf.keras.layers.Conv1D, tf.keras.layers.Dense)):
        names = ["kernel"]
    elif name in _CUSTOM_WEIGHTS or any(name == f"Compressible{k}" for k in _CUSTOM_WEIGHTS):
        names = list(_CUSTOM_WEIGHTS[name.removeprefix("Compressible")])
    elif name.removeprefix("Compressible") == "BiLSTMMaxPool":
        return [(w.name.split("/")[-1].split(":")[0], w.numpy()) for w in _bilstm_prunable(layer)]
    else:
        return []
    return [(n, np.asarray(getattr(layer, n))) for n in names]


def sparsity_report(model) -> dict:
    """Per layer and big weight: size, share of exact zeros and number of distinct values.

    Run it on a stripped model (or any plain student) to check that pruning
    or clustering survived; on a QAT model from :func:`converters.preserve_qat.preserve_qat` use the
    converted file's weights instead (:func:`tflite_weight_report`), since
    what the wrapper stores is not what it fake-quantizes.

    Returns:
        ``{"<layer>/<weight>": {"size": n, "zeros": share, "unique": k}, ...}``
    """
    report = {}
    for layer in model.layers:
        for name, value in _big_weights(layer):
            report[f"{layer.name}/{name}"] = {"size": int(value.size), "zeros": float(np.mean(value == 0)),
                                              "unique": int(np.unique(value).size)}
    return report


def tflite_weight_report(content: bytes) -> dict:
    """:func:`sparsity_report` of a ``.tflite`` file: the weight input of each GATHER, CONV_2D, FULLY_CONNECTED.

    Values as stored (int8 for an int8 file), which is what gzip sees:
    ``zeros`` counts the stored values that dequantize to 0 (the zero point:
    post-training int8 quantizes the embedding table asymmetrically, so its
    zeros are stored as the zero point, not as 0), ``unique`` the distinct
    stored values, ``unique_per_channel`` the most in one output channel
    of a per-channel quantized weight (each channel has its own scale, so
    8 clustered floats give at most 8 values per channel, not per tensor).
    The TF 2.21 converter quantizes FULLY_CONNECTED and CONV_2D weights per
    channel in post-training int8, and re-quantizes the TransformerBlock's
    fake-quantized (per tensor) kernels per channel in a QAT file too.
    """
    from ai_edge_litert import interpreter as litert

    interpreter = litert.Interpreter(model_content=content,
                                     experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    report = {}
    for op in interpreter._get_ops_details():
        position = {"GATHER": 0, "CONV_2D": 1, "FULLY_CONNECTED": 1}.get(op["op_name"])
        if position is None:
            continue
        detail = tensors[op["inputs"][position]]
        try:
            value = interpreter.get_tensor(detail["index"])
        except ValueError:  # not a constant
            continue
        params = detail["quantization_parameters"]
        zero = np.asarray(params["zero_points"]) if len(params["zero_points"]) else np.zeros(1, np.int64)
        if zero.size > 1:  # per channel: broadcast along the quantized axis
            shape = [1] * value.ndim
            shape[params["quantized_dimension"]] = zero.size
            zero = zero.reshape(shape)
        per_channel = len(params["scales"]) > 1
        channels = (np.moveaxis(value, params["quantized_dimension"], 0) if per_channel else value[None])
        report[detail["name"]] = {"size": int(value.size), "dtype": str(value.dtype),
                                  "zeros": float(np.mean(value == zero)), "unique": int(np.unique(value).size),
                                  "unique_per_channel": max(int(np.unique(c).size) for c in channels),
                                  "per_channel": per_channel}
    return report


def tflite_sizes(content: bytes) -> dict:
    """``{"bytes": raw size, "gzip_bytes": gzip -9 size}`` of a ``.tflite`` file (mtime 0: reproducible)."""
    return {"bytes": len(content), "gzip_bytes": len(gzip.compress(content, compresslevel=9, mtime=0))}
