"""Classification metrics and latency statistics, in plain numpy."""

from __future__ import annotations

import numpy as np


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(gold)).mean())


def macro_f1(pred: np.ndarray, gold: np.ndarray, num_labels: int = 2) -> float:
    """Unweighted mean of the per-class F1 scores (a class never seen nor predicted scores 0)."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    scores = []
    for c in range(num_labels):
        tp = np.sum((pred == c) & (gold == c))
        fp = np.sum((pred == c) & (gold != c))
        fn = np.sum((pred != c) & (gold == c))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def latency_summary(seconds: np.ndarray) -> dict:
    """p50 / p90 / p99 / mean / std in milliseconds, and the number of runs."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "mean_ms": float(ms.mean()), "std_ms": float(ms.std()), "runs": int(ms.size)}
