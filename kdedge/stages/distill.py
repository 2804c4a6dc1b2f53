"""Distill stage: train the student on the teacher's logits.

Reads a data folder, a teacher folder and a student folder; the teacher labels
the transfer set (the train split and any unlabeled text) once, through the
logit store (:mod:`kdedge.training.transfer`), and the student is trained on
:func:`kdedge.training.losses.kd_loss` (:mod:`kdedge.training.distill`). Every
epoch logs the soft loss, the hard loss and the accuracy on the eval split (and
on the validation split, ``valid.jsonl``, when the data folder has one). The
last epoch's weights are kept, or with ``--keep best`` (the default when there is
a validation split: SST-5/SST-3) the epoch of best validation accuracy -- the
eval split is never used to pick a model, so its accuracy stays an honest estimate.

Output folder (``kdedge distill --out DIR``)::

    DIR/student.keras   the trained student
    DIR/baseline.keras  its labels-only twin (``--baseline``, on by default)
    DIR/baseline_history.json
    DIR/tokenizer.json  copied from the student folder (export needs it)
    DIR/history.json    per-epoch soft loss, hard loss, eval accuracy
    DIR/metrics.json    final eval accuracy, agreement with the teacher, timings
    DIR/config.json     the resolved DistillConfig (written last)
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path


from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.io import write_bytes, write_json
from kdedge.options import setting
from kdedge.training.distribute import STRATEGIES, check_strategy
from kdedge.training.losses import SOFT_LOSSES

SCHEDULES = ("cosine", "constant")
KEEPS = ("auto", "last", "best")


@dataclasses.dataclass
class DistillConfig:
    """Settings of the distill stage; each field is a ``kdedge distill`` flag.

    The loss (:mod:`kdedge.training.losses`) is ``w_soft * soft + w_hard * hard + w_gold * gold``.
    """

    soft_loss: str = setting("kl", "Soft term: kl (T^2 * KL, Hinton) or mse (on logits, Tang et al.).",
                             choices=SOFT_LOSSES)
    # Defaults from benchmarks/results/sst2/sst2_sweep.md: soft-heavy early, gold-heavy late
    # (0.9 -> 0.1) beat a constant 0.5/0.5 by a dev point on SST-2 (one seed; 872 examples).
    w_soft: float = setting(0.9, "Weight of the soft term, in [0, 1] (at the start, with --soft-end).")
    w_hard: float = setting(0.0, "Weight of cross entropy against the teacher's argmax (every example), in [0, 1].")
    w_gold: float = setting(0.1, "Weight of cross entropy against gold labels (labeled examples), in [0, 1].")
    soft_end: float | None = setting(0.1, "Move the soft weight linearly to this by the last step; the gold weight "
                                     "takes the rest (equal to --w-soft: constant weights).", type=float)
    # 2 exposes the teacher's margins without flattening them.
    temperature: float = setting(2.0, "Distillation temperature T > 0.")
    # On SST-2 + 100k IMDB sentences dev accuracy peaks by epoch 2-4.
    epochs: int = setting(4, "Student training epochs.")
    batch_size: int = setting(64, "Student batch size.")
    lr: float = setting(2e-3, "Student peak learning rate (Adam).")
    schedule: str = setting("cosine", "Student learning-rate schedule: cosine (decay to 0 over the run) or "
                            "constant.", choices=SCHEDULES)
    keep: str = setting("auto", "Weights to keep: last (the last epoch's), best (the epoch of best accuracy on the "
                        "data folder's validation split, valid.jsonl: the treebank's dev trees for sst5/sst3), or "
                        "auto (best when there is a validation split, else last). The twin is kept the same way.",
                        choices=KEEPS)
    # The reference that shows what distillation buys: same initial student, labeled examples, epochs, schedule.
    baseline: bool = setting(True, "Also train the labels-only twin of the student (the reference row).")
    freeze_embeddings: bool = setting(False, "Keep the student's (teacher-initialized) embedding table fixed "
                                      "while distilling.")
    # Off by default: on SST-2 (already 67k sub-phrases) 2 copies cost a dev point in an early run of the
    # distillation issue (one seed; not a committed report: rerun benchmarks/distill_sweep.py to check).
    augment_copies: int = setting(0, "Augmented copies of the train split, labeled by the teacher.")
    p_mask: float = setting(0.1, "Augmentation: per-word masking probability.")  # Tang et al. 2019
    p_ngram: float = setting(0.25, "Augmentation: probability of cutting a copy to a 1-5 word n-gram.")
    p_replace: float = setting(0.0, "Augmentation: per-word probability of a swap for a teacher-embedding "
                               "neighbour.")
    strategy: str = setting("default", "tf.distribute strategy for the teacher's labeling.", choices=STRATEGIES)
    seed: int = setting(0, "Random seed.", cli=False)  # the shared --seed
    cache_dir: str | None = setting(None, "Teacher-logits cache (else $KDEDGE_CACHE or ~/.cache/kdedge).", type=str)

    def validate(self) -> None:
        for flag, w in (("--w-soft", self.w_soft), ("--w-hard", self.w_hard), ("--w-gold", self.w_gold)):
            if not 0.0 <= w <= 1.0:
                raise ConfigError(f"{flag} must be in [0, 1], got {w}")
        if self.w_soft == 0 and self.w_hard == 0 and self.w_gold == 0 and not self.soft_end:
            raise ConfigError("--w-soft, --w-hard and --w-gold are all 0: nothing to train on")
        if self.soft_end is not None and not 0.0 <= self.soft_end <= self.w_soft + self.w_gold:
            raise ConfigError(f"--soft-end must be in [0, w_soft + w_gold = {self.w_soft + self.w_gold:g}], "
                              f"got {self.soft_end}")
        if self.soft_loss not in SOFT_LOSSES:
            raise ConfigError(f"--soft-loss must be one of {', '.join(SOFT_LOSSES)}, got {self.soft_loss!r}")
        if not self.temperature > 0:
            raise ConfigError(f"--temperature must be > 0, got {self.temperature}")
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if self.augment_copies < 0:
            raise ConfigError(f"--augment-copies must be >= 0, got {self.augment_copies}")
        for flag, p in (("--p-mask", self.p_mask), ("--p-ngram", self.p_ngram), ("--p-replace", self.p_replace)):
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"{flag} must be in [0, 1], got {p}")
        if self.p_mask + self.p_replace > 1.0:
            raise ConfigError(f"--p-mask + --p-replace must be <= 1, got {self.p_mask + self.p_replace:g}")
        check_strategy(self.strategy)
        if self.keep not in KEEPS:
            raise ConfigError(f"--keep must be one of {', '.join(KEEPS)}, got {self.keep!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule must be cosine or constant, got {self.schedule!r}")


def run_distill(data_dir: str | Path, teacher_dir: str | Path, student_dir: str | Path, out: str | Path,
                cfg: DistillConfig) -> dict:
    """Distill stage: train the student in ``student_dir`` on ``teacher_dir``'s logits; save to ``out``."""
    from kdedge.models.student import load_student, save_student
    from kdedge.text.tokenizer import load_tokenizer
    from kdedge.training.distill import predict, train_student
    from kdedge.training.logit_store import default_cache_dir
    from kdedge.training.transfer import transfer_set

    cfg.validate()
    data_dir = layout.require(data_dir, "data", layout.TRAIN, layout.EVAL, layout.CONFIG)
    teacher_dir = layout.require_teacher(teacher_dir)
    student_dir = layout.require(student_dir, "student", layout.CONFIG, layout.STUDENT, layout.TOKENIZER)
    out = Path(out)
    if cfg.keep == "best" and not (data_dir / layout.VALID).is_file():
        raise ConfigError(f"--keep best: {data_dir / layout.VALID} is missing (this dataset has no validation split)")
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    started = time.perf_counter()

    tokenizer = load_tokenizer(student_dir / layout.TOKENIZER)
    ts = transfer_set(data_dir, teacher_dir, tokenizer, cfg, cache_dir)
    texts, labels, z_train, z_eval = ts["texts"], ts["labels"], ts["z"], ts["z_eval"]
    parts, labeled_now, teacher_seconds, evals = ts["parts"], ts["labeled_now"], ts["teacher_seconds"], ts["evals"]

    model = load_student(student_dir / layout.STUDENT)
    ids, eval_ids = tokenizer.encode(texts, masks=True), tokenizer.encode(evals.texts)
    eval_labels = evals.labels
    labeled = eval_labels >= 0
    valid = ts["valid"]
    keep_best = cfg.keep == "best" or (cfg.keep == "auto" and valid is not None)
    picks = {}
    if valid is not None:
        picks = {"valid_ids": tokenizer.encode(valid.texts), "valid_labels": valid.labels, "keep_best": keep_best}
    # Each epoch is checkpointed: a rerun into the same folder (e.g. `kdedge pipeline --resume` after a
    # kill) continues after the last finished epoch and ends as an uninterrupted run would.
    ckpt = out / layout.CHECKPOINTS
    history = train_student(model, ids, z_train, labels, cfg, eval_ids[labeled], eval_labels[labeled], **picks,
                            checkpoint_dir=ckpt / "student")
    z_student = predict(model, eval_ids)
    distill_seconds = time.perf_counter() - started

    baseline = None
    if cfg.baseline:
        # The labels-only twin: same initial weights, labeled examples, epochs and schedule.
        gold = labels >= 0
        baseline = load_student(student_dir / layout.STUDENT)
        base_cfg = dataclasses.replace(cfg, w_soft=0.0, w_hard=0.0, w_gold=1.0, soft_end=None)
        # The teacher's logits go in with weight 0: the soft/hard columns of its history then show
        # how far the twin is from the teacher, without training on them.
        history_base = train_student(baseline, ids[gold], z_train[gold], labels[gold], base_cfg,
                                     eval_ids[labeled], eval_labels[labeled], desc="baseline", **picks,
                                     checkpoint_dir=ckpt / "baseline")
        z_base = predict(baseline, eval_ids)

    metrics = {
        "eval_accuracy": float((z_student.argmax(1)[labeled] == eval_labels[labeled]).mean()),
        "teacher_eval_accuracy": float((z_eval.argmax(1)[labeled] == eval_labels[labeled]).mean()),
        "agreement_with_teacher": float((z_student.argmax(1) == z_eval.argmax(1)).mean()),
        "kept_epoch": next(r["epoch"] for r in history if r["kept"]),
        "transfer_examples": len(texts),
        "labeled_examples": int((labels >= 0).sum()),
        "transfer_parts": parts,
        "teacher_logits_cached": labeled_now == 0,
        "teacher_texts_labeled": labeled_now,
        "teacher_logits_seconds": round(teacher_seconds, 1),
        "distill_seconds": round(distill_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    if valid is not None:
        metrics["valid_accuracy"] = next(r["valid_accuracy"] for r in history if r["kept"])
        metrics["teacher_valid_accuracy"] = float((ts["z_valid"].argmax(1) == valid.labels).mean())
    if baseline is not None:
        metrics["baseline_kept_epoch"] = next(r["epoch"] for r in history_base if r["kept"])
        metrics["baseline_eval_accuracy"] = float((z_base.argmax(1)[labeled] == eval_labels[labeled]).mean())
        metrics["gain_over_baseline"] = metrics["eval_accuracy"] - metrics["baseline_eval_accuracy"]
        save_student(baseline, out / layout.BASELINE)
        write_json(out / layout.BASELINE_HISTORY, history_base)
    elif (out / layout.BASELINE).exists():  # a stale twin from an earlier run must not be exported
        (out / layout.BASELINE).unlink()
    save_student(model, out / layout.STUDENT)
    write_bytes(out / layout.TOKENIZER, (student_dir / layout.TOKENIZER).read_bytes())
    write_json(out / layout.HISTORY, history)
    write_json(out / layout.METRICS, metrics)
    shutil.rmtree(ckpt, ignore_errors=True)  # every output is written: the checkpoints are not needed
    write_json(out / layout.CONFIG, {**dataclasses.asdict(cfg), "data": str(data_dir), "teacher": str(teacher_dir),
                                     "student": str(student_dir), "cache_dir_resolved": str(cache_dir)})
    return metrics
