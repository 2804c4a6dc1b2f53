"""The teacher's forward passes over many texts: length-bucketed, batched, split across replicas.

:func:`predict_logits` labels texts (the eval split, the transfer set through the
logit store); :func:`predict_hidden` gives each word's contextual vector (the
student's embedding init).
"""

from __future__ import annotations

import weakref

import numpy as np

from kdedge.models.teacher import tokenize
from kdedge.progress import progress
from kdedge.training.batching import bucket_batches, pad_batch
from kdedge.training.distribute import distribute_batch, gather


# model -> {(kind, strategy id): (strategy, traced step)}. The logit store labels a large set shard by shard;
# a new tf.function per call traced the model again for every batch length of every shard (a BERT trace
# costs seconds, and TF warned about the retracing). One traced step per model, kind and strategy is reused.
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _traced_step(model, kind: str, make_forward, strategy):
    import tensorflow as tf

    steps = _STEPS.setdefault(model, {})
    cached = steps.get((kind, id(strategy)))
    if cached is not None and cached[0] is strategy:
        return cached[1]
    # The step sees the model through a weak proxy: a strong reference from the cached value would keep
    # the model (the dictionary's key) alive for good.
    forward = make_forward(weakref.proxy(model))

    @tf.function(reduce_retracing=True)
    def step(inputs):
        return gather(strategy, strategy.run(forward, args=inputs))

    steps[(kind, id(strategy))] = (strategy, step)
    return step


def _bucketed_forward(model, kind: str, make_forward, tokenizer, texts: list[str], max_len: int, batch_size: int,
                      width: int, desc: str, truncation: str = "head", strategy=None) -> np.ndarray:
    """Run ``make_forward(model)(ids, mask) -> [batch, width]`` over length-bucketed batches; rows in input order.

    The traced step of ``kind`` is kept with the model (weakly) and reused by later calls. Under a
    ``tf.distribute`` strategy each batch is split across its replicas.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    step = _traced_step(model, kind, make_forward, strategy)

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
    def make_forward(m):
        def forward(input_ids, attention_mask):
            return m(input_ids=input_ids, attention_mask=attention_mask, training=False).logits
        return forward

    return _bucketed_forward(model, "logits", make_forward, tokenizer, texts, max_len, batch_size,
                             model.config.num_labels, desc, truncation, strategy)


def predict_hidden(model, tokenizer, texts: list[str], max_len: int = 16, batch_size: int = 256) -> np.ndarray:
    """Mean last-layer hidden state over each text's tokens (no [CLS]/[SEP]), ``[n, hidden]``."""
    import tensorflow as tf

    def make_forward(m):
        def forward(input_ids, attention_mask):
            h = m.bert(input_ids=input_ids, attention_mask=attention_mask, training=False).last_hidden_state
            inner = tf.cast(attention_mask, h.dtype)
            inner = tf.concat([tf.zeros_like(inner[:, :1]), inner[:, 2:], tf.zeros_like(inner[:, :1])], axis=1)
            return tf.reduce_sum(h * inner[:, :, None], 1) / tf.maximum(tf.reduce_sum(inner, 1, keepdims=True), 1.0)
        return forward

    return _bucketed_forward(model, "hidden", make_forward, tokenizer, texts, max_len, batch_size,
                             model.config.hidden_size, "teacher word vectors")
