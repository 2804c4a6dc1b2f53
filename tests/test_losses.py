import numpy as np
import pytest

from kdedge.losses import kd_loss


def _np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _call(s, t, y, w_soft=1.0, w_hard=0.0, T=1.0):
    import tensorflow as tf
    out = kd_loss(tf.constant(s, tf.float32), tf.constant(t, tf.float32), tf.constant(y), w_soft, w_hard, T)
    return [float(v) for v in out]


def test_kl_of_identical_distributions_is_zero():
    z = np.array([[1.0, -2.0], [0.3, 0.1]])
    loss, soft, _ = _call(z, z, [0, 1], T=3.0)
    assert soft == pytest.approx(0.0, abs=1e-6)
    assert loss == pytest.approx(0.0, abs=1e-6)


def test_soft_loss_matches_hand_computed_kl_times_t_squared():
    s = np.array([[2.0, 0.0]])
    t = np.array([[0.0, 1.0]])
    T = 2.0
    p_t, p_s = _np_softmax(t / T), _np_softmax(s / T)
    expected = T * T * float(np.sum(p_t * (np.log(p_t) - np.log(p_s))))
    _, soft, _ = _call(s, t, [0], T=T)
    assert soft == pytest.approx(expected, rel=1e-5)
    # Same logits at T=1: no T^2 factor, different value.
    p_t1, p_s1 = _np_softmax(t), _np_softmax(s)
    _, soft1, _ = _call(s, t, [0], T=1.0)
    assert soft1 == pytest.approx(float(np.sum(p_t1 * (np.log(p_t1) - np.log(p_s1)))), rel=1e-5)


def test_hard_loss_uses_gold_label_or_teacher_argmax_when_unlabeled():
    s = np.array([[1.0, 0.0], [1.0, 0.0]])
    t = np.array([[0.0, 5.0], [0.0, 5.0]])  # teacher says class 1
    ce0 = -np.log(_np_softmax(s)[0, 0])
    ce1 = -np.log(_np_softmax(s)[0, 1])
    _, _, hard = _call(s, t, [0, -1], w_soft=0.0, w_hard=1.0)
    assert hard == pytest.approx((ce0 + ce1) / 2, rel=1e-5)


def test_weights_combine_the_two_terms():
    s = np.array([[0.5, -0.5]])
    t = np.array([[-1.0, 1.0]])
    loss, soft, hard = _call(s, t, [1], w_soft=0.3, w_hard=0.7, T=2.0)
    assert loss == pytest.approx(0.3 * soft + 0.7 * hard, rel=1e-6)
    assert soft > 0 and hard > 0
