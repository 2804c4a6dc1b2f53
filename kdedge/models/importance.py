"""Teacher-measured word importance: what each vocabulary word is worth to the distilled student.

``kdedge compress``'s ``vocab=N`` keeps the ``N`` words whose loss would cost
most (:func:`word_importance`); ``vocabf=N`` ranks by frequency instead.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kdedge.text.tokenizer import WordTokenizer


def _log_softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def word_importance(model, tokenizer: WordTokenizer, texts: Sequence[str], teacher_logits: np.ndarray | None = None,
                    temperature: float = 1.0, batch_size: int = 1024) -> np.ndarray:
    """Per vocabulary id, how much the model loses when that word becomes [UNK]: exactly what pruning does.

    For every text ``x`` and every distinct word ``w`` in it, ``x`` is re-run
    with all of ``w``'s occurrences replaced by [UNK] (``x \\ w``), and

    - with ``teacher_logits`` (one row per text): the increase of the
      distillation loss, ``KL(p_T(x) || p_S(x \\ w)) - KL(p_T(x) || p_S(x))``
      (both at ``temperature``; the teacher's entropy cancels, so it is a
      difference of cross-entropies), i.e. how much the student's agreement
      with the teacher drops without the word -- negative if it improves;
    - without: ``KL(p_S(x) || p_S(x \\ w))``, how much the output moves.

    ``importance[w]`` is the sum over the texts containing ``w`` (the mean
    effect times the word's document frequency), so a rare decisive word and
    a frequent mildly useful one are compared in the unit that pruning costs:
    total loss over the transfer set. Words never seen score 0; [PAD], [UNK]
    (and bucket ids) score 0 too.

    Why occlusion rather than gradient x embedding saliency: it measures the
    pruning edit itself (not a first-order guess of it), works without a
    teacher, and for a tiny student is cheap enough.

    Cost: one forward pass per (text, distinct word) pair plus one per text,
    i.e. about ``n_texts x (1 + distinct words per text)`` examples, in
    batches of ``batch_size``; memory ``batch_size x max_len`` ids. SST-2's
    67k train phrases (~9 words each) make ~0.7M forwards. Measured batched
    Keras throughput (max_len 64, vocab 16k, embed 64, 2 shared CPU cores):
    wordavg ~170k examples/s, cnn ~15k/s, i.e. ~5 s and ~45 s for SST-2;
    bilstm and transformer are several times slower. Subsample ``texts`` to
    go faster.

    Returns:
        float64 ``[len(tokenizer.vocab)]`` (plus the buckets of a
        :class:`HashedWordTokenizer`).
    """
    import tensorflow as tf

    ids = tokenizer.encode(texts)
    rows = tokenizer.num_ids
    if teacher_logits is not None and len(teacher_logits) != len(ids):
        raise ValueError(f"{len(teacher_logits)} teacher logits rows for {len(ids)} texts")
    predict = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec([None, ids.shape[1]], tf.int32)])

    def log_probs(x: np.ndarray) -> np.ndarray:
        return np.concatenate([_log_softmax(predict(x[i:i + batch_size]).numpy(), temperature)
                               for i in range(0, len(x), batch_size)])

    base = log_probs(ids)
    target = np.exp(_log_softmax(np.asarray(teacher_logits), temperature) if teacher_logits is not None else base)
    base_loss = -(target * base).sum(axis=1)  # cross-entropy to the target at x

    # (text, word) pairs: distinct ids >= 2 per row, in the real vocabulary (buckets are never pruned).
    text_of, word_of = [], []
    for r, row in enumerate(ids):
        words = np.unique(row[(row >= 2) & (row < len(tokenizer.vocab))])
        text_of.append(np.full(len(words), r))
        word_of.append(words)
    text_of, word_of = np.concatenate(text_of).astype(np.int64), np.concatenate(word_of).astype(np.int64)
    importance = np.zeros(rows, dtype=np.float64)
    for i in range(0, len(text_of), batch_size):
        t, w = text_of[i:i + batch_size], word_of[i:i + batch_size]
        occluded = ids[t]
        occluded[occluded == w[:, None]] = tokenizer.unk_id
        loss = -(target[t] * log_probs(occluded)).sum(axis=1)
        np.add.at(importance, w, loss - base_loss[t])
    return importance
