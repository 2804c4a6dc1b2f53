"""Quality of an exported model, measured on the artifact: its ``.tflite`` run over the eval split.

Accuracy, macro precision / recall / F1, the confusion matrix and the calibration
error (ECE) come from the logits of the ``.tflite`` run with LiteRT over the
labeled eval split, one example at a time, exactly as an app would
(:func:`artifact_logits`, :func:`kdedge.measure.metrics.classification_metrics`).
Rows have kind ``teacher``, ``student`` or ``baseline`` (a student trained on
labels only); agreement, retention, speed-up and size ratio are relative to the
teacher row, ``retention_vs_float_student`` to the ``student_float32`` row
(:func:`add_metrics`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kdedge import layout
from kdedge.data.splits import read_label_names
from kdedge.measure.inputs import model_feeds
from kdedge.measure.metrics import classification_metrics
from kdedge.progress import progress

ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
FLOAT_STUDENT = "student_float32"  # the row retention_vs_float_student is relative to


def labeled_eval(data_dir: Path, max_eval: int | None = None,
                 seed: int = 0) -> tuple[list[str], np.ndarray, list[str] | None]:
    """The labeled eval texts (a seeded ``max_eval`` sample when capped), their labels, the label names."""
    from kdedge.data import Split
    evals = Split.from_jsonl(Path(data_dir) / layout.EVAL, "eval")
    keep = np.flatnonzero(evals.labels >= 0)
    if max_eval is not None and max_eval < len(keep):
        keep = np.sort(np.random.default_rng(seed).permutation(keep)[:max_eval])
    return [evals.texts[i] for i in keep], evals.labels[keep], read_label_names(data_dir)


def artifact_logits(export_dir: Path, entry: dict, texts: list[str], max_len: int, threads: int = 1,
                    xnnpack: bool = True) -> np.ndarray:
    """Logits of the ``.tflite`` itself over ``texts``, one example per call as an app runs it.

    A file that outputs probabilities (``"output": "probabilities"`` in its manifest entry) gives
    their logarithms: logits of the same softmax, so accuracy, agreement and ECE read the same.
    """
    from kdedge.runtime import TFLiteModel
    model = TFLiteModel(Path(export_dir) / entry["file"], num_threads=threads, xnnpack=xnnpack)
    feeds = model_feeds(export_dir, entry, texts, max_len)
    out = np.concatenate([model(f) for f in progress(feeds, desc=f"eval {entry['name']}", unit="ex", leave=False)])
    if entry.get("output") == "probabilities":
        out = np.log(np.maximum(out.astype(np.float64), 1e-30)).astype(np.float32)
    return out


def add_metrics(rows: list[dict], logits_of: dict[str, np.ndarray], gold: np.ndarray,
                num_labels: int | None = None) -> None:
    """Fill each row's label metrics from its own logits, then the ratios to the reference rows.

    Every row gets ``metrics`` (the full :func:`kdedge.measure.metrics.classification_metrics`, with
    ``agreement`` against the teacher's predictions when there is a teacher row) and, at the
    top level, ``accuracy``, ``macro_f1``, ``macro_precision``, ``macro_recall``, ``ece`` and
    ``confusion``. With a teacher row: ``agreement_with_teacher``, ``retention``,
    ``speedup_p50``, ``size_ratio``; with a ``student_float32`` student row:
    ``retention_vs_float_student`` and ``flip_rate_vs_float_student`` (share of examples
    whose predicted label differs from the float student's).
    """
    gold = np.asarray(gold)
    width = max(logits.shape[1] for logits in logits_of.values()) if logits_of else 0
    labels = max(width, num_labels or 0, int(gold.max()) + 1 if gold.size else 0)
    teacher = next((r for r in rows if r["kind"] == "teacher"), None)
    reference = logits_of[teacher["name"]].argmax(1) if teacher is not None else None
    for r in rows:
        m = classification_metrics(logits_of[r["name"]], gold, labels, reference_pred=reference, bins=ECE_BINS)
        r["metrics"] = m
        r.update({k: m[k] for k in ("accuracy", "macro_f1", "macro_precision", "macro_recall", "ece", "confusion")})
    float_student = next((r for r in rows if r["kind"] == "student" and r["name"] == FLOAT_STUDENT), None)
    for r in rows:
        if teacher is not None:
            r["agreement_with_teacher"] = r["metrics"]["agreement"]
            r["retention"] = _ratio(r["accuracy"], teacher["accuracy"])
            r["speedup_p50"] = teacher["latency"]["p50_ms"] / r["latency"]["p50_ms"]
            r["size_ratio"] = teacher["bytes"] / r["bytes"]
        if float_student is not None:
            r["retention_vs_float_student"] = _ratio(r["accuracy"], float_student["accuracy"])
            r["flip_rate_vs_float_student"] = float(
                (logits_of[r["name"]].argmax(1) != logits_of[float_student["name"]].argmax(1)).mean())


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
