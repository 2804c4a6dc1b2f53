"""Statistics of timing samples: percentiles, a distribution-free CI of the median, and noise tests.

Latency samples are skewed (a long right tail of scheduler hiccups), so the
harness reports the median and order statistics rather than mean ± std, and
decides when it has timed enough by the width of the median's 95% confidence
interval. That interval is the classic distribution-free one (e.g. Conover,
*Practical Nonparametric Statistics*, §3.2): with ``n`` samples, the number
below the true median is Binomial(n, 1/2), so the order statistics of ranks
``n/2 ± z·√n/2`` bracket it with probability ≈ 95%; it assumes nothing about
the shape of the distribution.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def median_ci(samples, z: float = Z95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (95% by default).

    Args:
        samples: 1-D sample (any order).
        z: normal quantile of the coverage (1.96 for 95%).

    Returns:
        ``(low, high)``: the order statistics of 1-based ranks
        ``floor(n/2 - z·√n/2)`` and ``ceil(1 + n/2 + z·√n/2)``, clipped to the sample
        (with very few samples the interval is the whole range).
    """
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    n = x.size
    if n == 0:
        raise ValueError("median_ci of an empty sample")
    half = z * math.sqrt(n) / 2
    lo = max(1, math.floor(n / 2 - half))
    hi = min(n, math.ceil(1 + n / 2 + half))
    return float(x[lo - 1]), float(x[hi - 1])


def summarize_ms(seconds) -> dict:
    """Timing summary in milliseconds: p50 / p90 / p99 (linear interpolation), mean, std,
    min, max, the median's 95% CI and its relative half-width, and the number of runs."""
    ms = np.asarray(seconds, dtype=np.float64).ravel() * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    lo, hi = median_ci(ms)
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "mean_ms": float(ms.mean()), "std_ms": float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
            "min_ms": float(ms.min()), "max_ms": float(ms.max()),
            "ci95_ms": [lo, hi], "ci_rel": relative_half_width(lo, hi, float(p50)), "runs": int(ms.size)}


def relative_half_width(lo: float, hi: float, center: float) -> float:
    """Half the interval's width over its center (0.02 = ±2%); inf when the center is 0."""
    return (hi - lo) / 2 / center if center > 0 else math.inf


def spread(values) -> float:
    """``max / min - 1`` of positive values: how far apart repeated measurements land."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.max() / v.min() - 1.0)


def latency_changed(old: dict, new: dict, min_rel: float) -> bool:
    """Whether two latency summaries differ by more than their measured noise.

    A change counts when the medians' 95% intervals do not overlap *and* the medians
    differ by more than ``min_rel`` of the old one: the intervals capture the noise
    within each run, ``min_rel`` the drift between runs of the same binary (which the
    harness measures with ``benchmarks/harness_noise.py``).
    """
    (olo, ohi), (nlo, nhi) = old["ci95_ms"], new["ci95_ms"]
    disjoint = nlo > ohi or nhi < olo
    return bool(disjoint and abs(new["p50_ms"] - old["p50_ms"]) > min_rel * old["p50_ms"])


def accuracy_changed(old: float, new: float, n: int, z: float = Z95) -> bool:
    """Whether two accuracies on the same ``n``-example eval split differ by more than
    ``z`` binomial standard errors of the difference (``√(2·p(1-p)/n)`` at the pooled p)."""
    p = (old + new) / 2
    se = math.sqrt(max(2 * p * (1 - p), 1e-12) / max(n, 1))
    return abs(new - old) > z * se
