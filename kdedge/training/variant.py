"""One compressed variant of a distilled student: its steps applied in order, then fine-tuned.

A variant is a parsed chain (:func:`kdedge.stages.compress.parse_variant`):
vocabulary steps (``vocab``/``vocabf``/``buckets``, :mod:`kdedge.models.embedding`),
factorization (``rank``), pruning or clustering (``prune``/``cluster``,
``converters.sparsity``), a fine-tune on the distillation loss, and the
quantization step (``qat`` trains once more with fake quantization,
``converters.qat`` / ``converters.preserve_qat``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from kdedge import layout


@dataclasses.dataclass
class Transfer:
    """What every variant trains and is measured on.

    ``texts``, ``z`` (teacher logits), ``labels`` (-1: unlabeled): the fine-tuning rows;
    ``evals``: the eval Split; ``calib_texts``: train texts for QAT range init;
    ``tokenizer``: the distilled student's; ``encoded``: ``texts`` and ``evals.texts`` encoded
    with it (``"texts"``, ``"eval"``), shared by every variant that keeps the vocabulary.
    """

    texts: list[str]
    z: np.ndarray
    labels: np.ndarray
    evals: object
    calib_texts: list[str]
    tokenizer: object
    encoded: dict


def build_variant(spec: str, steps: list, base, data: Transfer, tune, importance: dict, cfg,
                  folder: Path) -> dict:
    """One variant: structural rewrites, fine-tune, optional QAT; saved to ``folder``. Returns its entry.

    Args:
        spec, steps: the variant as written and as parsed.
        base: the distilled student (not modified).
        data: the shared :class:`Transfer` rows.
        tune: the DistillConfig that fine-tunes (the distill stage's loss, compress's epochs and lr).
        importance: a cache of the word-importance scores, shared between variants.
        cfg: the CompressConfig (``importance_texts``).
        folder: where the variant's files go.
    """
    from converters.weights import sparsity_report
    from kdedge.models.student import save_student
    from kdedge.training.distill import predict

    structural, quant = dict(steps[:-1]), steps[-1][0]
    tok, model = _restructure(structural, base, data, tune.temperature, importance, cfg.importance_texts)
    ids = data.encoded["texts"] if tok is data.tokenizer else tok.encode(data.texts, masks=True)
    eval_ids = data.encoded["eval"] if tok is data.tokenizer else tok.encode(data.evals.texts)
    labeled = data.evals.labels >= 0
    model = _sparsify(structural, model, -(-len(ids) // tune.batch_size) * tune.epochs)
    history = []
    if structural:
        model, history = _fine_tune(structural, model, ids, eval_ids, data, tune, f"{spec} fine-tune")
    entry = {"spec": spec, "name": folder.name, "quantization": "int8" if quant in ("ptq", "qat") else quant,
             "method": quant, "steps": [f"{k}={v}" if v else k for k, v in steps],
             "vocab_rows": tok.num_ids, "params": int(model.count_params())}
    save_student(model, folder / layout.STUDENT)
    tok.save(folder / layout.TOKENIZER)
    final = model
    if quant == "qat":
        final, qat_history = _qat(structural, model, tok, ids, eval_ids, data, tune, entry, folder, spec)
        history += qat_history
    pred = predict(final, eval_ids).argmax(1)
    entry["keras_eval_accuracy"] = float((pred[labeled] == data.evals.labels[labeled]).mean())
    entry["sparsity"] = sparsity_report(model)
    entry["history"] = history
    if "scores" in importance and ("vocab" in structural):
        entry["importance_seconds"] = importance["seconds"]
    return entry


def _restructure(structural: dict, base, data: Transfer, temperature: float, importance: dict, importance_texts: int):
    """The vocabulary and factorization steps: ``(tokenizer, model)``, the inputs untouched."""
    from kdedge.models import embedding
    from kdedge.models.importance import word_importance

    tok, model = data.tokenizer, base
    if "vocab" in structural or "vocabf" in structural:
        by = "importance" if "vocab" in structural else "frequency"
        keep = int(structural.get("vocab") or structural["vocabf"])
        if by == "importance" and "scores" not in importance:
            k = min(importance_texts, len(data.texts))
            t0 = time.perf_counter()
            importance["scores"] = word_importance(base, tok, data.texts[:k], teacher_logits=data.z[:k],
                                                   temperature=temperature)
            importance["seconds"] = round(time.perf_counter() - t0, 1)
        tok, model = embedding.prune_vocab(tok, model, keep, by=by, importance=importance.get("scores"),
                                           buckets=int(structural.get("buckets", 0)))
    elif "buckets" in structural:
        tok, model = embedding.add_oov_buckets(tok, model, int(structural["buckets"]))
    if "rank" in structural:
        model, _ = embedding.factorize_embedding(model, int(structural["rank"]))
    return tok, model


def _sparsify(structural: dict, model, total_steps: int):
    """Wrap ``model`` for pruning or clustering while it fine-tunes (``total_steps`` training calls)."""
    from converters.sparsity import cluster_student, prune_student

    if "prune" in structural:
        frequency = max(1, total_steps // 20)
        end = max(frequency, (int(total_steps * 0.7) // frequency) * frequency)  # sparse for the last ~30%
        value = structural["prune"]
        return prune_student(model, 0.5 if value == "2:4" else float(value), "2:4" if value == "2:4" else "magnitude",
                             begin_step=0, end_step=end, frequency=frequency)
    if "cluster" in structural:
        return cluster_student(model, int(structural["cluster"]))
    return model


def _fine_tune(structural: dict, model, ids, eval_ids, data: Transfer, tune, desc: str):
    """Fine-tune on the distillation loss; strip pruning / clustering wrappers after. ``(model, history)``."""
    from converters.sparsity import strip
    from kdedge.training.distill import train_student

    labeled = data.evals.labels >= 0
    history = train_student(model, ids, data.z, data.labels, tune, eval_ids[labeled], data.evals.labels[labeled],
                            desc=desc)
    if "prune" in structural or "cluster" in structural:
        model = strip(model)
    return model, history


def _qat(structural: dict, model, tok, ids, eval_ids, data: Transfer, tune, entry: dict, folder: Path, spec: str):
    """Quantization-aware fine-tune (pruning- / cluster-preserving after prune / cluster); weights saved.

    Records ``entry["qat_kind"]`` (what ``kdedge export`` rebuilds from). Returns ``(qat model, history)``.
    """
    from converters.preserve_qat import preserve_qat
    from converters.qat import quantize_student
    from kdedge.models.student import save_weights
    from kdedge.training.distill import train_student

    calib = tok.encode(data.calib_texts)
    kind = entry["qat_kind"] = "prune" if "prune" in structural else "cluster" if "cluster" in structural else None
    qat = preserve_qat(model, kind, calib) if kind else quantize_student(model, calib)
    labeled = data.evals.labels >= 0
    history = train_student(qat, ids, data.z, data.labels, tune, eval_ids[labeled], data.evals.labels[labeled],
                            desc=f"{spec} QAT")
    save_weights(qat, folder / layout.QAT_WEIGHTS)
    return qat, history

