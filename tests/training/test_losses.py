import numpy as np
import pytest

from kdedge.training.losses import kd_loss, weights_at


def _np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _call(s, t, y, w_soft=1.0, w_hard=0.0, w_gold=0.0, T=1.0, soft_loss="kl"):
    import tensorflow as tf
    out = kd_loss(tf.constant(s, tf.float32), tf.constant(t, tf.float32), tf.constant(y), w_soft, w_hard, w_gold,
                  T, soft_loss)
    return [float(v) for v in out]


@pytest.mark.parametrize("soft_loss", ["kl", "mse"])
def test_soft_loss_of_identical_logits_is_zero(soft_loss):
    z = np.array([[1.0, -2.0], [0.3, 0.1]])
    loss, soft, _, _ = _call(z, z, [0, 1], T=3.0, soft_loss=soft_loss)
    assert soft == pytest.approx(0.0, abs=1e-6)
    assert loss == pytest.approx(0.0, abs=1e-6)


def test_kl_matches_hand_computed_value_times_t_squared():
    s = np.array([[2.0, 0.0]])
    t = np.array([[0.0, 1.0]])
    T = 2.0
    p_t, p_s = _np_softmax(t / T), _np_softmax(s / T)
    expected = T * T * float(np.sum(p_t * (np.log(p_t) - np.log(p_s))))
    _, soft, _, _ = _call(s, t, [0], T=T)
    assert soft == pytest.approx(expected, rel=1e-5)
    # Same logits at T=1: no T^2 factor, different value.
    p_t1, p_s1 = _np_softmax(t), _np_softmax(s)
    _, soft1, _, _ = _call(s, t, [0], T=1.0)
    assert soft1 == pytest.approx(float(np.sum(p_t1 * (np.log(p_t1) - np.log(p_s1)))), rel=1e-5)


def test_kl_is_invariant_to_shifting_logits_but_mse_is_not():
    s = np.array([[2.0, 0.0]])
    t = np.array([[0.0, 1.0]])
    assert _call(s, t, [0])[1] == pytest.approx(_call(s + 5, t, [0])[1], rel=1e-5)
    assert _call(s, t, [0], soft_loss="mse")[1] != pytest.approx(_call(s + 5, t, [0], soft_loss="mse")[1])


def test_mse_is_squared_logit_distance_summed_over_classes():
    s = np.array([[2.0, 0.0], [1.0, 1.0]])
    t = np.array([[0.0, 1.0], [1.0, 3.0]])
    _, soft, _, _ = _call(s, t, [0, 1], soft_loss="mse", T=7.0)  # T plays no part
    assert soft == pytest.approx(((4 + 1) + (0 + 4)) / 2, rel=1e-6)


def test_hard_uses_teacher_argmax_and_gold_only_labeled_rows():
    s = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    t = np.array([[0.0, 5.0], [0.0, 5.0], [5.0, 0.0]])  # teacher: 1, 1, 0
    p = _np_softmax(s)
    _, _, hard, gold = _call(s, t, [0, -1, -1], w_soft=0.0, w_hard=1.0)
    assert hard == pytest.approx(-(np.log(p[0, 1]) + np.log(p[1, 1]) + np.log(p[2, 0])) / 3, rel=1e-5)
    assert gold == pytest.approx(-np.log(p[0, 0]), rel=1e-5)  # the one labeled row
    _, _, _, none = _call(s, t, [-1, -1, -1], w_soft=0.0, w_gold=1.0)
    assert none == 0.0


def test_weights_combine_the_three_terms():
    s = np.array([[0.5, -0.5], [0.1, 0.2]])
    t = np.array([[-1.0, 1.0], [2.0, 0.0]])
    loss, soft, hard, gold = _call(s, t, [1, -1], w_soft=0.3, w_hard=0.2, w_gold=0.5, T=2.0)
    assert loss == pytest.approx(0.3 * soft + 0.2 * hard + 0.5 * gold, rel=1e-6)
    assert soft > 0 and hard > 0 and gold > 0


def test_weight_schedule_moves_soft_weight_to_gold():
    assert weights_at(0.7, 0.5, 0.1, 0.5) == (0.5, 0.1, 0.5)  # no schedule: constant
    assert weights_at(0.0, 0.9, 0.0, 0.1, soft_end=0.1) == pytest.approx((0.9, 0.0, 0.1))
    assert weights_at(0.5, 0.9, 0.0, 0.1, soft_end=0.1) == pytest.approx((0.5, 0.0, 0.5))
    assert weights_at(1.0, 0.9, 0.0, 0.1, soft_end=0.1) == pytest.approx((0.1, 0.0, 0.9))
