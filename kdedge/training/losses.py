"""Distillation losses.

Three terms, each optional by its weight:

- **soft**: match the teacher's outputs. ``kl`` is Hinton et al. (2015),
  ``T^2 * KL(softmax(z_t / T) || softmax(z_s / T))``: the KL's gradients scale
  as ``1 / T^2``, so the ``T^2`` keeps it on the same footing as the other terms
  whatever the temperature. ``mse`` is Tang et al. (2019), the squared distance
  between the logits, ``||z_t - z_s||^2`` (summed over classes): it keeps the
  teacher's confidence, which a softmax at any temperature partly flattens.
- **hard**: cross entropy against the teacher's argmax ("hard targets"), on
  every example, labeled or not.
- **gold**: cross entropy against the gold label, on the labeled examples of
  the batch only (0 when the batch has none).

``loss = w_soft * soft + w_hard * hard + w_gold * gold``.
"""

from __future__ import annotations

SOFT_LOSSES = ("kl", "mse")


def kd_loss(student_logits, teacher_logits, labels, w_soft, w_hard, w_gold, temperature: float = 1.0,
            soft_loss: str = "kl"):
    """The distillation loss and its three parts.

    Args:
        student_logits, teacher_logits: float ``[batch, classes]``.
        labels: int ``[batch]``, -1 for unlabeled examples.
        w_soft, w_hard, w_gold: weights (floats or scalar tensors: a schedule
            may change them between steps).
        temperature: T > 0, for ``kl`` only.
        soft_loss: one of :data:`SOFT_LOSSES`.

    Returns:
        ``(loss, soft, hard, gold)`` scalars (means over the batch, gold over
        its labeled rows).
    """
    import tensorflow as tf

    if soft_loss == "kl":
        t = tf.cast(temperature, student_logits.dtype)
        log_p_t = tf.nn.log_softmax(teacher_logits / t)
        log_p_s = tf.nn.log_softmax(student_logits / t)
        kl = tf.reduce_sum(tf.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
        soft = t * t * tf.reduce_mean(kl)
    elif soft_loss == "mse":
        soft = tf.reduce_mean(tf.reduce_sum(tf.square(teacher_logits - student_logits), axis=-1))
    else:
        raise ValueError(f"soft_loss must be one of {SOFT_LOSSES}, got {soft_loss!r}")
    teacher_label = tf.argmax(teacher_logits, axis=-1, output_type=tf.int32)
    hard = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(teacher_label, student_logits))
    labels = tf.cast(labels, tf.int32)
    labeled = tf.cast(labels >= 0, student_logits.dtype)
    gold_ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(labels, 0), student_logits)
    gold = tf.reduce_sum(gold_ce * labeled) / tf.maximum(tf.reduce_sum(labeled), 1.0)
    return w_soft * soft + w_hard * hard + w_gold * gold, soft, hard, gold


def weights_at(progress: float, w_soft: float, w_hard: float, w_gold: float,
               soft_end: float | None = None) -> tuple[float, float, float]:
    """The loss weights at ``progress`` in [0, 1] of the run.

    Without ``soft_end`` the weights are constant. With it, the soft weight
    moves linearly from ``w_soft`` to ``soft_end`` and the gold weight takes up
    the difference (``w_soft + w_gold`` stays constant): soft-heavy early,
    gold-heavy late -- or the reverse, if ``soft_end > w_soft``.
    """
    if soft_end is None:
        return w_soft, w_hard, w_gold
    soft = w_soft + (soft_end - w_soft) * progress
    return soft, w_hard, w_gold + (w_soft - soft)
