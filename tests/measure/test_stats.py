"""Timing statistics on known samples: percentiles, the median's CI, and the noise tests."""

import numpy as np
import pytest

from kdedge.measure.stats import accuracy_changed, latency_changed, median_ci, relative_half_width, spread, summarize_ms


def test_percentiles_in_ms_on_a_known_sample():
    s = summarize_ms(np.arange(1, 101) / 1000.0)  # 1..100 ms
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p90_ms"] == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["mean_ms"] == pytest.approx(50.5)
    assert s["std_ms"] == pytest.approx(np.arange(1, 101).std(ddof=1))
    assert (s["min_ms"], s["max_ms"], s["runs"]) == (pytest.approx(1.0), pytest.approx(100.0), 100)
    # n = 100: the 95% CI of the median is the 40th and 61st order statistics (binomial table value).
    assert s["ci95_ms"] == [pytest.approx(40.0), pytest.approx(61.0)]
    assert s["ci_rel"] == pytest.approx(10.5 / 50.5)


def test_median_ci_is_order_free_and_clipped_for_tiny_samples():
    rng = np.random.default_rng(0)
    x = np.arange(1, 101, dtype=float)
    assert median_ci(rng.permutation(x)) == (40.0, 61.0)
    assert median_ci([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0)  # 5 samples: the whole range
    assert median_ci([7.0]) == (7.0, 7.0)
    with pytest.raises(ValueError):
        median_ci([])


def test_median_ci_covers_the_true_median_about_95_percent_of_the_time():
    # Skewed like latencies: lognormal, median exp(0) = 1.
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(1000):
        lo, hi = median_ci(rng.lognormal(0.0, 0.5, size=200))
        hits += lo <= 1.0 <= hi
    assert 0.93 <= hits / 1000 <= 0.98


def test_relative_half_width_and_spread():
    assert relative_half_width(9.0, 11.0, 10.0) == pytest.approx(0.1)
    assert relative_half_width(0.0, 1.0, 0.0) == float("inf")
    assert spread([10.0, 10.4, 10.2]) == pytest.approx(0.04)


def _timing(seed, scale=1.0, n=3000):
    """A latency sample in seconds: 1 ms median, lognormal noise plus rare 5x hiccups."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(np.log(1e-3 * scale), 0.15, size=n)
    x[rng.random(n) < 0.01] *= 5
    return summarize_ms(x)


def test_latency_change_flags_a_planted_regression_but_not_noise():
    base = _timing(0)
    assert not latency_changed(base, _timing(1), min_rel=0.05)  # same distribution, other draw
    assert latency_changed(base, _timing(2, scale=1.2), min_rel=0.05)  # 20% slower
    assert latency_changed(_timing(2, scale=1.2), base, min_rel=0.05)  # and back: a change too
    # Disjoint CIs but only 3% apart: below the between-run floor, not flagged.
    big = _timing(3, n=200_000)
    assert not latency_changed(big, _timing(4, scale=1.03, n=200_000), min_rel=0.05)
    assert latency_changed(big, _timing(4, scale=1.03, n=200_000), min_rel=0.0)


def test_accuracy_change_uses_the_eval_split_size():
    assert not accuracy_changed(0.870, 0.877, 872)  # 6 examples of 872: noise
    assert accuracy_changed(0.870, 0.920, 872)
    assert accuracy_changed(0.870, 0.877, 1_000_000)
