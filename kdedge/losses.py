"""Distillation losses (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network")."""

from __future__ import annotations


def kd_loss(student_logits, teacher_logits, labels, w_soft: float, w_hard: float, temperature: float):
    """The distillation loss and its two parts.

    ``loss = w_soft * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + w_hard * CE(z_s, y)``

    The KL term's gradients scale as ``1 / T^2``; multiplying by ``T^2`` keeps
    the soft and hard terms on the same footing whatever the temperature.
    ``y`` is the gold label where there is one (``labels >= 0``) and the
    teacher's argmax where there is not ("hard targets" for unlabeled text).

    Args:
        student_logits, teacher_logits: float ``[batch, classes]``.
        labels: int ``[batch]``, -1 for unlabeled examples.
        w_soft, w_hard: weights in [0, 1].
        temperature: T > 0.

    Returns:
        ``(loss, soft, hard)`` scalars (batch means).
    """
    import tensorflow as tf

    t = tf.cast(temperature, student_logits.dtype)
    log_p_t = tf.nn.log_softmax(teacher_logits / t)
    log_p_s = tf.nn.log_softmax(student_logits / t)
    kl = tf.reduce_sum(tf.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    soft = t * t * tf.reduce_mean(kl)
    labels = tf.cast(labels, tf.int32)
    target = tf.where(labels >= 0, labels, tf.argmax(teacher_logits, axis=-1, output_type=tf.int32))
    hard = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(target, student_logits))
    return w_soft * soft + w_hard * hard, soft, hard
