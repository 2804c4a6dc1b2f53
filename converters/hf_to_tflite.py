"""Convert a transformers TF BERT classifier to TFLite at a fixed length."""

from __future__ import annotations


def hf_bert_to_tflite(model, max_len: int) -> bytes:
    """Convert ``TFBertForSequenceClassification`` to a float32 TFLite flatbuffer.

    The graph takes ``input_ids`` and ``attention_mask``, both int32
    ``[1, max_len]``, and returns float32 ``logits`` ``[1, num_labels]``;
    ``token_type_ids`` are zeros (single-sentence tasks). Only TFLite builtin
    ops are allowed, so the result runs on a plain LiteRT.

    Args:
        model: a built ``TFBertForSequenceClassification``. It is not modified.
        max_len: the fixed sequence length (pad shorter inputs with 0 / mask 0).

    Returns:
        The ``.tflite`` file contents.
    """
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
    return converter.convert()
