"""Convert a transformers TF BERT classifier to TFLite at a fixed length."""

from __future__ import annotations


TEACHER_MODES = ("float32", "dynamic", "int8")


def hf_bert_to_tflite(model, max_len: int, mode: str = "float32", representative=None) -> bytes:
    """Convert ``TFBertForSequenceClassification`` to a TFLite flatbuffer.

    The graph takes ``input_ids`` and ``attention_mask``, both int32
    ``[1, max_len]``, and returns float32 ``logits`` ``[1, num_labels]``;
    ``token_type_ids`` are zeros (single-sentence tasks). Only TFLite builtin
    ops are allowed, so the result runs on a plain LiteRT.

    Args:
        model: a built ``TFBertForSequenceClassification``. It is not modified.
        max_len: the fixed sequence length (pad shorter inputs with 0 / mask 0).
        mode: ``float32``; ``dynamic`` (int8 weights, float activations: dynamic-range quantization);
            ``int8`` (full integer: int8 weights and activations, calibrated on ``representative``;
            the ids stay int32 and the logits float32, and only int8 builtin kernels are allowed,
            so the conversion fails rather than leave an op in float).
        representative: for ``int8``, a callable yielding ``[input_ids, attention_mask]`` int32
            ``[1, max_len]`` pairs of real texts.

    Returns:
        The ``.tflite`` file contents.

    Raises:
        ConverterError: an unknown mode, or ``int8`` without ``representative``.
    """
    from converters.errors import ConverterError

    if mode not in TEACHER_MODES:
        raise ConverterError(f"mode must be one of {', '.join(TEACHER_MODES)}, got {mode!r}")
    if mode == "int8" and representative is None:
        raise ConverterError("int8 needs a representative dataset")
    import tensorflow as tf

    class _Serving(tf.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        @tf.function(input_signature=[tf.TensorSpec([1, max_len], tf.int32, name="input_ids"),
                                      tf.TensorSpec([1, max_len], tf.int32, name="attention_mask")])
        def serve(self, input_ids, attention_mask):
            logits = self.m(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=tf.zeros_like(input_ids), training=False).logits
            return {"logits": logits}

    module = _Serving(model)
    fn = module.serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()
