"""Convert a tf-keras student to TFLite, with optional post-training quantization."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

QUANT_MODES = ("float32", "dynamic", "float16", "int8")


def keras_to_tflite(model, mode: str = "float32",
                    representative: Callable[[], Iterable[list[np.ndarray]]] | None = None,
                    dense_per_channel: bool = True) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer with builtin ops only.

    Args:
        model: a tf-keras model with a fixed input shape. It is not modified.
        mode: one of :data:`QUANT_MODES`:
            ``float32`` no quantization; ``dynamic`` int8 weights, float
            activations; ``float16`` float16 weights; ``int8`` full-integer
            weights and activations, calibrated on ``representative``. Integer
            inputs (token ids) stay int32 and the logits stay float32 so the
            model is a drop-in replacement for the float one.
        representative: required for ``int8``: a callable yielding lists of
            input arrays (one list per calibration example), e.g. real token
            sequences from the train split.
        dense_per_channel: ``dynamic`` only: one int8 scale per output channel of each dense
            (FULLY_CONNECTED) weight, TF 2.21's default. Its op version (12) needs LiteRT >= 2.17;
            False writes one scale per tensor (op version 9), which older runtimes load
            (tflite-runtime 2.14 measured; ``org.tensorflow:tensorflow-lite:2.16.1``, the last on
            Maven Central, by its version): ``benchmarks/results/runtimes.md``.

    Returns:
        The ``.tflite`` file contents.

    Raises:
        ValueError: unknown ``mode``, or ``int8`` without ``representative``.
    """
    import tensorflow as tf

    if mode not in QUANT_MODES:
        raise ValueError(f"unknown quantization mode {mode!r} (choose {', '.join(QUANT_MODES)})")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # A private converter attribute (TF 2.x), the only switch for it; tested in
        # tests/stages/test_export_compat.py so a TF upgrade that drops it fails there.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not dense_per_channel
    elif mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        if representative is None:
            raise ValueError("int8 quantization needs a representative dataset")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()
