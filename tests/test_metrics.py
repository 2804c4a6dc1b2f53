import numpy as np
import pytest

from kdedge.metrics import accuracy, latency_summary, macro_f1


def test_macro_f1_on_hand_computed_example():
    gold = np.array([1, 1, 1, 0, 0])
    pred = np.array([1, 1, 0, 0, 1])
    # class 1: tp 2, fp 1, fn 1 -> 4/6; class 0: tp 1, fp 1, fn 1 -> 2/4
    assert macro_f1(pred, gold) == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert accuracy(pred, gold) == pytest.approx(0.6)


def test_latency_percentiles_in_ms():
    s = latency_summary(np.arange(1, 101) / 1000.0)  # 1..100 ms
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p90_ms"] == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["runs"] == 100
