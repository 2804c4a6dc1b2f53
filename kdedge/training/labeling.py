"""The teacher's forward passes over many texts: length-bucketed, batched, split across replicas.

:func:`predict_logits` labels texts (the eval split, the transfer set through the
logit store); :func:`predict_hidden` gives each word's contextual vector (the
student's embedding init).
"""

from __future__ import annotations

import numpy as np

from kdedge.models.teacher import tokenize
from kdedge.progress import progress
from kdedge.training.batching import bucket_batches, pad_batch
from kdedge.training.distribute import distribute_batch, gather


def _bucketed_forward(forward, tokenizer, texts: list[str], max_len: int, batch_size: int, width: int,
                      desc: str, truncation: str = "head", strategy=None) -> np.ndarray:
    """Run ``forward(ids, mask) -> [batch, width]`` over length-bucketed batches; rows in input order.

    Under a ``tf.distribute`` strategy each batch is split across its replicas.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()

    @tf.function(reduce_retracing=True)
    def step(inputs):
        return gather(strategy, strategy.run(forward, args=inputs))

    ids = tokenize(tokenizer, texts, max_len, truncation)
    lengths = np.array([len(s) for s in ids])
    out = np.zeros((len(texts), width), dtype=np.float32)
    batches = bucket_batches(lengths, batch_size)
    for batch in progress(batches, desc=desc, unit="batch", leave=False, disable=True if desc is None else None):
        b_ids, b_mask = pad_batch([ids[i] for i in batch], max_len)
        out[batch] = step(distribute_batch(strategy, b_ids, b_mask)).numpy()
    return out


def predict_logits(model, tokenizer, texts: list[str], max_len: int, batch_size: int = 64,
                   desc: str = "teacher logits", truncation: str = "head", strategy=None) -> np.ndarray:
    """Teacher logits ``[len(texts), num_labels]`` (float32) in the input order.

    ``strategy``: the ``tf.distribute`` strategy the model was built under (default: none).
    """
    def forward(input_ids, attention_mask):
        return model(input_ids=input_ids, attention_mask=attention_mask, training=False).logits

    return _bucketed_forward(forward, tokenizer, texts, max_len, batch_size, model.config.num_labels, desc,
                             truncation, strategy)


def predict_hidden(model, tokenizer, texts: list[str], max_len: int = 16, batch_size: int = 256) -> np.ndarray:
    """Mean last-layer hidden state over each text's tokens (no [CLS]/[SEP]), ``[n, hidden]``."""
    import tensorflow as tf

    def forward(input_ids, attention_mask):
        h = model.bert(input_ids=input_ids, attention_mask=attention_mask, training=False).last_hidden_state
        inner = tf.cast(attention_mask, h.dtype)
        inner = tf.concat([tf.zeros_like(inner[:, :1]), inner[:, 2:], tf.zeros_like(inner[:, :1])], axis=1)
        return tf.reduce_sum(h * inner[:, :, None], 1) / tf.maximum(tf.reduce_sum(inner, 1, keepdims=True), 1.0)

    return _bucketed_forward(forward, tokenizer, texts, max_len, batch_size, model.config.hidden_size,
                             "teacher word vectors")
