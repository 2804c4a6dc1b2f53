"""Label stage (optional): put the teacher's logits for a data folder's texts into the logit store.

``kdedge distill`` labels whatever the store lacks by itself, in process. ``kdedge label`` does the
same job ahead of it -- on Apache Beam (:mod:`kdedge.training.beam_labeling`: local worker processes,
or a Flink / Spark / Dataflow cluster) or in process -- so the distill stage that follows finds every
row cached ("teacher_texts_labeled": 0 in its metrics). It writes only into the store
(``--cache-dir``, else ``$KDEDGE_CACHE`` or ``~/.cache/kdedge``); the texts are the data folder's
parts the distill stage reads: train, unlabeled, eval and valid (augmented copies are labeled by
distill itself).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.options import comma_list, setting

PARTS = {"train": layout.TRAIN, "unlabeled": layout.UNLABELED, "eval": layout.EVAL, "valid": layout.VALID}


@dataclasses.dataclass
class LabelConfig:
    """Settings of ``kdedge label``; each field is a flag."""

    runner: str = setting("direct", "Where the teacher runs: inprocess (this process, as distill does), direct "
                          "(Beam's DirectRunner, --workers local processes), prism, flink, spark, dataflow, or "
                          "another Beam runner name (cluster flags via --beam-option).")
    # One worker per core would give each TensorFlow one thread; measured in benchmarks/results/labeling.
    workers: int = setting(1, "DirectRunner: worker processes.")
    threads: int | None = setting(None, "TensorFlow threads per worker (default: the cores shared among the "
                                  "workers).", type=int)
    parts: str = setting("train,unlabeled,eval,valid", "The data folder's parts to label (those present).")
    beam_option: tuple = setting((), "A raw Beam pipeline flag, e.g. --beam-option=--flink_master=host:8081 "
                                 "(repeatable).", cli=False)
    shard_size: int = setting(4096, "Texts per store shard (the unit of work; the in-process labeler's).")
    cache_dir: str | None = setting(None, "Teacher-logits store (else $KDEDGE_CACHE or ~/.cache/kdedge).", type=str)

    def validate(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")
        if self.shard_size < 1:
            raise ConfigError(f"--shard-size must be >= 1, got {self.shard_size}")
        unknown = [p for p in comma_list(self.parts) if p not in PARTS]
        if unknown or not comma_list(self.parts):
            raise ConfigError(f"--parts: choose from {', '.join(PARTS)}, got {self.parts!r}")
        if self.runner != "inprocess":
            from kdedge.training.beam_labeling import require_beam
            require_beam()


def run_label(data_dir: str | Path, teacher_dir: str | Path, cfg: LabelConfig) -> dict:
    """Label the data folder's texts into the logit store; returns a summary (texts, labeled, texts/s).

    Raises:
        StageInputError: the data or teacher folder is incomplete.
    """
    from kdedge.data import Split
    from kdedge.training.logit_store import default_cache_dir
    from kdedge.training.transfer import CachedTeacher

    cfg.validate()
    data_dir = layout.require(data_dir, "data", layout.TRAIN, layout.EVAL, layout.CONFIG)
    teacher_dir = layout.require_teacher(teacher_dir)
    texts, parts = [], {}
    for part in comma_list(cfg.parts):
        path = data_dir / PARTS[part]
        if path.is_file():
            split = Split.from_jsonl(path, part)
            parts[part] = len(split.texts)
            texts += list(split.texts)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    teacher = CachedTeacher(teacher_dir, cache)
    if teacher.members is not None:  # an ensemble: each member on the runner, then their mean in process
        runs = [run_label(data_dir, member, cfg) for member in layout.teacher_members(teacher_dir)]
        t0 = time.perf_counter()
        todo = len(teacher.store.missing(texts))
        teacher.logits(texts, "ensemble mean", shard_size=cfg.shard_size)
        seconds = sum(r["seconds"] for r in runs) + time.perf_counter() - t0
        labeled = sum(r["unique_missing"] for r in runs)
        return {"texts": len(texts), "unique_missing": todo, "shards": -(-todo // cfg.shard_size),
                "rows_written": todo, "seconds": round(seconds, 2),
                "texts_per_second": round(labeled / seconds, 1) if labeled else None, "runner": cfg.runner,
                "workers": cfg.workers, "threads": cfg.threads, "members": runs, "parts": parts,
                "store": str(teacher.store.folder), "still_missing": len(teacher.store.missing(texts))}
    if cfg.runner == "inprocess":
        todo = len(teacher.store.missing(texts))
        t0 = time.perf_counter()
        if cfg.threads:
            _set_threads(cfg.threads)
        _, labeled = teacher.logits(texts, "teacher labels", shard_size=cfg.shard_size)
        seconds = time.perf_counter() - t0
        summary = {"texts": len(texts), "unique_missing": todo, "shards": -(-todo // cfg.shard_size),
                   "rows_written": labeled, "seconds": round(seconds, 2),
                   "texts_per_second": round(todo / seconds, 1) if todo else None, "runner": "inprocess",
                   "workers": 1, "threads": cfg.threads}
    else:
        from kdedge.training.beam_labeling import label_with_beam
        summary = label_with_beam(texts, teacher.model_dir, teacher.store, teacher.max_len, teacher.truncation,
                                  cfg.runner, cfg.workers, cfg.threads, list(cfg.beam_option), cfg.shard_size)
    left = len(teacher.store.missing(texts))
    return {**summary, "parts": parts, "store": str(teacher.store.folder), "still_missing": left}


def _set_threads(threads: int) -> None:
    """TensorFlow's thread pools for this process; a pool already running keeps its size (said once)."""
    import sys

    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow ran an op in this process already (a caller from Python)
        print(f"kdedge label: --threads {threads} ignored, TensorFlow's thread pools already run in this process",
              file=sys.stderr)
