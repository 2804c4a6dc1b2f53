"""Do two explanations of one text agree? Rank correlation and the top-k measures of Krishna et al. (2022).

- ``spearman``: Spearman's rank correlation of the two word scores (ties get average ranks).
- ``topk``: feature agreement — the share of the k words of largest |score| in one that are also among
  the other's k.
- ``sign``: signed agreement — the share of k words that are in both top-k sets *and* have the same sign
  in both.

The baseline is the same figure against a random permutation of the second explanation's scores over
the same words (averaged over draws): what agreement by chance looks like for texts of these lengths.
"""

from __future__ import annotations

import numpy as np

KS = (1, 3)


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for value in np.unique(x):  # average ranks of ties
        tie = x == value
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(a, b) -> float | None:
    """Spearman's rho, or None when it is undefined (fewer than 2 words, or a constant explanation)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _top(x: np.ndarray, k: int) -> set:
    return set(np.argsort(-np.abs(x), kind="stable")[:k].tolist())


def topk(a, b, k: int) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < k:
        return None
    return len(_top(a, k) & _top(b, k)) / k


def sign(a, b, k: int) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < k:
        return None
    both = _top(a, k) & _top(b, k)
    return sum(1 for i in both if np.sign(a[i]) == np.sign(b[i])) / k


def compare(a, b, ks=KS) -> dict:
    """Every measure for one text: ``spearman``, ``top{k}``, ``sign{k}``."""
    out = {"spearman": spearman(a, b)}
    for k in ks:
        out[f"top{k}"] = topk(a, b, k)
        out[f"sign{k}"] = sign(a, b, k)
    return out


def permutation_baseline(a, b, draws: int = 20, seed: int = 0, ks=KS) -> dict:
    """:func:`compare` of ``a`` with random permutations of ``b``, averaged over ``draws`` (None stays None)."""
    rng = np.random.default_rng(seed)
    b = np.asarray(b, float)
    runs = [compare(a, rng.permutation(b), ks) for _ in range(draws)]
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


def summarize(values) -> dict:
    """Median, quartiles and count of the defined values (None skipped)."""
    v = np.asarray([x for x in values if x is not None], float)
    if not len(v):
        return {"median": None, "q1": None, "q3": None, "n": 0}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "n": int(len(v))}
