"""Classification metrics in plain numpy (latency statistics: :mod:`kdedge.stats`).

Conventions shared by the label metrics below:

- ``pred`` and ``gold`` are integer label ids; a gold label < 0 marks an unlabeled row.
  :func:`classification_metrics` drops such rows from every label metric (they still count
  for ``agreement``); the lower-level functions expect labeled rows only.
- A ratio whose denominator is 0 is defined as 0: precision of a class never predicted,
  recall of a class absent from ``gold``, F1 of a class with neither. This matches
  scikit-learn's ``zero_division=0`` and :func:`macro_f1`.
"""

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


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (the row max is subtracted first), as float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def confusion_matrix(pred: np.ndarray, gold: np.ndarray, num_labels: int) -> np.ndarray:
    """``[num_labels, num_labels]`` int64 counts; entry ``[g, p]`` = rows with gold ``g`` predicted ``p``.

    Raises:
        ValueError: A label id is outside ``[0, num_labels)`` or the lengths differ.
    """
    pred, gold = np.asarray(pred, dtype=np.int64).ravel(), np.asarray(gold, dtype=np.int64).ravel()
    if pred.shape != gold.shape:
        raise ValueError(f"pred has {pred.size} rows, gold has {gold.size}")
    for name, a in (("pred", pred), ("gold", gold)):
        if a.size and (a.min() < 0 or a.max() >= num_labels):
            raise ValueError(f"{name} holds label ids outside [0, {num_labels}): {sorted(set(a.tolist()))}")
    cm = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(cm, (gold, pred), 1)
    return cm


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def precision_recall_f1(pred: np.ndarray, gold: np.ndarray, num_labels: int) -> dict:
    """Per-class precision, recall and F1 (lists indexed by label id) and their unweighted (macro) means.

    0/0 is 0 (see the module docstring). The macro F1 is the mean of the per-class F1
    scores, as in :func:`macro_f1`, not the harmonic mean of macro precision and recall.
    Returns ``{"precision", "recall", "f1"}`` (lists) and ``{"macro_precision",
    "macro_recall", "macro_f1"}`` (floats).
    """
    cm = confusion_matrix(pred, gold, num_labels)
    tp = np.diag(cm)
    precision = _ratio(tp, cm.sum(axis=0))  # column: everything predicted as c
    recall = _ratio(tp, cm.sum(axis=1))  # row: everything whose gold is c
    f1 = _ratio(2 * tp, cm.sum(axis=0) + cm.sum(axis=1))  # 2tp / (2tp + fp + fn)
    return {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
            "macro_precision": float(precision.mean()), "macro_recall": float(recall.mean()),
            "macro_f1": float(f1.mean())}


def expected_calibration_error(probs: np.ndarray, gold: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-1 prediction (Guo et al., 2017).

    Confidence is each row's max probability, the prediction its argmax. The interval
    [0, 1] is cut into ``bins`` equal-width bins ``(k/bins, (k+1)/bins]`` (the first also
    takes 0); ECE = sum over bins of ``|B| / n * |accuracy(B) - mean confidence(B)|``.
    Empty bins contribute 0; an empty input gives 0.
    """
    probs = np.asarray(probs, dtype=np.float64)
    gold = np.asarray(gold).ravel()
    if probs.ndim != 2 or probs.shape[0] != gold.size:
        raise ValueError(f"probs must be [n, labels] with n = {gold.size} rows, got shape {probs.shape}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    n = gold.size
    if n == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == gold).astype(np.float64)
    # Right-closed bins (lo, hi] on np.linspace edges, as in Guo et al.'s code; 0 goes to the first bin.
    idx = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], conf, side="left")
    acc_sum = np.bincount(idx, weights=correct, minlength=bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=bins)
    # sum_b |B|/n * |acc_sum/|B| - conf_sum/|B|| = sum_b |acc_sum - conf_sum| / n
    return float(np.abs(acc_sum - conf_sum).sum() / n)


def classification_metrics(logits: np.ndarray, gold: np.ndarray, num_labels: int | None = None,
                           reference_pred: np.ndarray | None = None, bins: int = 15) -> dict:
    """Every label metric of one model's ``[n, labels]`` logits against ``gold``, JSON-ready.

    Rows whose gold label is < 0 (unlabeled) are left out of every label metric;
    ``agreement`` (share of rows where the argmax equals ``reference_pred``, e.g. the
    teacher's predictions) uses all rows. ``num_labels`` defaults to the logits' width.

    Returns a dict: ``examples`` (labeled rows scored), ``accuracy``, ``macro_precision``,
    ``macro_recall``, ``macro_f1``, per-class ``precision``/``recall``/``f1`` lists,
    ``confusion`` (nested lists, ``[gold][pred]``), ``ece`` (``bins`` bins) and, when
    ``reference_pred`` is given, ``agreement`` (and ``agreement_examples``). With no labeled
    row the label metrics are ``None``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    gold = np.asarray(gold).ravel().astype(np.int64)
    if logits.ndim != 2 or logits.shape[0] != gold.size:
        raise ValueError(f"logits must be [n, labels] with n = {gold.size} rows, got shape {logits.shape}")
    num_labels = int(num_labels if num_labels is not None else logits.shape[1])
    pred = logits.argmax(axis=1)
    labeled = gold >= 0
    out: dict = {"examples": int(labeled.sum())}
    if labeled.any():
        p, g = pred[labeled], gold[labeled]
        prf = precision_recall_f1(p, g, num_labels)
        out.update({"accuracy": accuracy(p, g), "macro_precision": prf["macro_precision"],
                    "macro_recall": prf["macro_recall"], "macro_f1": prf["macro_f1"],
                    "precision": prf["precision"], "recall": prf["recall"], "f1": prf["f1"],
                    "confusion": confusion_matrix(p, g, num_labels).tolist(),
                    "ece": expected_calibration_error(softmax(logits[labeled]), g, bins)})
    else:
        out.update(dict.fromkeys(("accuracy", "macro_precision", "macro_recall", "macro_f1", "precision",
                                  "recall", "f1", "confusion", "ece")))
    out["ece_bins"] = int(bins)
    if reference_pred is not None:
        ref = np.asarray(reference_pred).ravel()
        if ref.size != pred.size:
            raise ValueError(f"reference_pred has {ref.size} rows, logits have {pred.size}")
        out["agreement"] = accuracy(pred, ref) if pred.size else None
        out["agreement_examples"] = int(pred.size)
    return out

