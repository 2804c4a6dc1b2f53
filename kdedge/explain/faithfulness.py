"""How faithful an explanation is: ERASER comprehensiveness and sufficiency (DeYoung et al., 2020) and AOPC.

For each fraction ``q`` the ``k = max(1, round(q · n))`` words with the highest scores (most in favour of
the explained class) are the rationale. Comprehensiveness: ``p(text) - p(text without the rationale)`` —
high when removing what the explanation points at changes the answer. Sufficiency:
``p(text) - p(rationale alone)`` — low when the rationale alone keeps it. AOPC is each one's mean over the
fractions. Removing = masking (:mod:`kdedge.explain.shapley`'s games). The same figures for a random
ranking of the same words are the baseline an explanation has to beat.
"""

from __future__ import annotations

import numpy as np

FRACTIONS = (0.1, 0.2, 0.5)


def rationale_sizes(n: int, fractions=FRACTIONS) -> list[int]:
    return [min(n, max(1, int(round(q * n)))) for q in fractions]


def erasure(game, scores: np.ndarray, target: int, fractions=FRACTIONS) -> dict:
    """Comprehensiveness and sufficiency of ``scores`` at each fraction, and their AOPC, for one text."""
    n = len(scores)
    if n == 0:
        return {"comprehensiveness": [0.0] * len(fractions), "sufficiency": [0.0] * len(fractions),
                "aopc_comprehensiveness": 0.0, "aopc_sufficiency": 0.0}
    order = np.argsort(-np.asarray(scores), kind="stable")
    rows = [np.ones(n, bool)]
    for k in rationale_sizes(n, fractions):
        top = np.zeros(n, bool)
        top[order[:k]] = True
        rows += [~top, top]
    p = game(np.stack(rows))[:, target]
    comp = [float(p[0] - p[1 + 2 * i]) for i in range(len(fractions))]
    suff = [float(p[0] - p[2 + 2 * i]) for i in range(len(fractions))]
    return {"comprehensiveness": comp, "sufficiency": suff,
            "aopc_comprehensiveness": float(np.mean(comp)), "aopc_sufficiency": float(np.mean(suff))}


def random_erasure(game, n: int, target: int, draws: int = 5, seed: int = 0, fractions=FRACTIONS) -> dict:
    """:func:`erasure` of random rankings of the ``n`` words, averaged over ``draws``."""
    rng = np.random.default_rng(seed)
    runs = [erasure(game, rng.random(n), target, fractions) for _ in range(draws)]
    return {key: (np.mean([r[key] for r in runs], 0).tolist() if isinstance(runs[0][key], list)
                  else float(np.mean([r[key] for r in runs]))) for key in runs[0]}
