"""Distill stage: train the student on the teacher's logits.

Reads a data folder, a teacher folder and a student folder; the teacher labels
the train split (and any unlabeled text) once, through the logits cache, and
the student is trained on :func:`kdedge.losses.kd_loss`. Every epoch logs the
soft loss, the hard loss and the accuracy on the eval split. The epoch count is
fixed and the last epoch's weights are kept -- the eval split is never used to
pick a model, so its accuracy stays an honest estimate.

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
import sys
import time
from pathlib import Path

import numpy as np
from kdedge.progress import progress

from kdedge.errors import ConfigError
from kdedge.io import require_files, write_bytes, write_json


@dataclasses.dataclass
class DistillConfig:
    """Settings of the distill stage; each field is a ``kdedge distill`` flag."""

    # Loss (kdedge.losses): w_soft * soft + w_hard * hard + w_gold * gold.
    soft_loss: str = "kl"  # --soft-loss: kl (Hinton, with T) or mse (Tang et al., on logits)
    # Defaults from benchmarks/results/sst2/sst2_sweep.md: soft-heavy early, gold-heavy late
    # (0.9 -> 0.1) beat a constant 0.5/0.5 by a dev point on SST-2 (one seed; 872 examples).
    w_soft: float = 0.9  # --w-soft: weight of the soft term (at the start, with --soft-end)
    w_hard: float = 0.0  # --w-hard: weight of CE against the teacher's argmax (every example)
    w_gold: float = 0.1  # --w-gold: weight of CE against gold labels (labeled examples only)
    soft_end: float | None = 0.1  # --soft-end: move w_soft linearly to this by the last step; gold takes the rest
    temperature: float = 2.0  # --temperature: T > 0; 2 exposes the teacher's margins without flattening them
    epochs: int = 4  # --epochs: on SST-2 + 100k IMDB sentences dev accuracy peaks by epoch 2-4
    batch_size: int = 64  # --batch-size
    lr: float = 2e-3  # --lr: Adam, peak
    schedule: str = "cosine"  # --schedule: cosine (decay to 0 over the run) or constant
    # --baseline: also train the same initial student on gold labels only (same labeled
    # examples, epochs, schedule): the reference that shows what distillation buys.
    baseline: bool = True
    freeze_embeddings: bool = False  # --freeze-embeddings: keep the (teacher-initialized) table fixed
    # --augment-copies: masked / n-gram copies of the train split for the teacher to label. Off by
    # default: on SST-2 (already 67k sub-phrases) 2 copies cost 1 dev point; see the closing note.
    augment_copies: int = 0
    p_mask: float = 0.1  # --p-mask: per-word masking probability (Tang et al. 2019)
    p_ngram: float = 0.25  # --p-ngram: probability of cutting a copy to a 1-5 word n-gram
    p_replace: float = 0.0  # --p-replace: per-word probability of swapping in a teacher-embedding neighbour
    strategy: str = "default"  # --strategy: tf.distribute strategy for the teacher's labeling (kdedge.distribute)
    seed: int = 0  # --seed
    cache_dir: str | None = None  # --cache-dir: teacher-logits cache (else $KDEDGE_CACHE or ~/.cache/kdedge)

    def validate(self) -> None:
        from kdedge.losses import SOFT_LOSSES
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
        from kdedge.distribute import check_strategy
        check_strategy(self.strategy)
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"--schedule must be cosine or constant, got {self.schedule!r}")


class CachedTeacher:
    """Teacher logits through the on-disk :class:`~kdedge.logits_cache.LogitStore`.

    The teacher is loaded only if some text is missing from the store, and then
    labels it a shard at a time: an interrupted run resumes where it stopped.
    """

    def __init__(self, teacher_dir: Path, cache_dir: Path, strategy: str = "default"):
        from kdedge.io import read_json
        from kdedge.logits_cache import LogitStore, namespace, teacher_fingerprint

        self.model_dir = teacher_dir / "model"
        cfg = read_json(teacher_dir / "config.json")
        self.max_len = cfg["max_len"]
        self.truncation = cfg.get("truncation", "head")
        self.store = LogitStore(cache_dir, namespace(teacher_fingerprint(self.model_dir), self.max_len,
                                                     self.truncation))
        self.strategy = strategy
        self._loaded = None

    def logits(self, texts: list[str], desc: str) -> tuple[np.ndarray, int]:
        """``(logits, number of texts the teacher had to label)`` for ``texts``."""
        from kdedge.teacher import load_teacher, predict_logits

        bars = []

        def on_start(todo):
            bars.append(progress(total=todo, desc=desc, unit="text", disable=None if todo else True))

        def compute(chunk):
            if self._loaded is None:
                from kdedge.distribute import get_strategy
                strategy = get_strategy(self.strategy)
                with strategy.scope():
                    self._loaded = (*load_teacher(self.model_dir), strategy)
            model, tok, strategy = self._loaded
            return predict_logits(model, tok, chunk, self.max_len, desc=None, truncation=self.truncation,
                                  strategy=strategy)

        def on_shard(done, total):
            bar = bars[0]
            bar.update(done - bar.n)
            if bar.disable:  # off a terminal: one line per shard, so a log shows the job moving
                print(f"{desc}: {done}/{total} labeled", file=sys.stderr)

        try:
            return self.store.label(texts, compute, on_shard=on_shard, on_start=on_start)
        finally:
            for bar in bars:
                bar.close()


def train_student(model, ids: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray,
                  cfg: DistillConfig, eval_ids: np.ndarray | None = None,
                  eval_labels: np.ndarray | None = None, desc: str = "distill") -> list[dict]:
    """Train ``model`` in place with the distillation loss. Returns per-epoch history."""
    import tensorflow as tf

    from kdedge.losses import kd_loss, weights_at

    tf.keras.utils.set_random_seed(cfg.seed)
    steps = -(-len(ids) // cfg.batch_size)
    total = steps * cfg.epochs
    lr = cfg.lr
    if cfg.schedule == "cosine":
        lr = tf.keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=total)
    optimizer = tf.keras.optimizers.Adam(lr)
    if cfg.freeze_embeddings:  # (wrapped QAT / pruning layers are renamed; they are never frozen)
        model.get_layer("embedding").trainable = False
    data = (tf.data.Dataset.from_tensor_slices((ids, teacher_logits.astype(np.float32), labels.astype(np.int32)))
            .shuffle(len(ids), seed=cfg.seed, reshuffle_each_iteration=True)
            .batch(cfg.batch_size).prefetch(2))
    weights = tf.Variable([cfg.w_soft, cfg.w_hard, cfg.w_gold], dtype=tf.float32, trainable=False)

    @tf.function
    def step(x, z_t, y):
        with tf.GradientTape() as tape:
            z_s = model(x, training=True)
            loss, soft, hard, gold = kd_loss(z_s, z_t, y, weights[0], weights[1], weights[2], cfg.temperature,
                                             cfg.soft_loss)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, soft, hard, gold

    history = []
    done = 0
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        sums = np.zeros(4)
        n = 0
        bar = progress(data, total=steps, desc=f"{desc} epoch {epoch}/{cfg.epochs}", unit="step", leave=False)
        for x, z_t, y in bar:
            if cfg.soft_end is not None:
                weights.assign(weights_at(done / max(total - 1, 1), cfg.w_soft, cfg.w_hard, cfg.w_gold,
                                          cfg.soft_end))
            sums += [float(v) for v in step(x, z_t, y)]
            n += 1
            done += 1
            if n % 50 == 0:
                bar.set_postfix(soft=f"{sums[1] / n:.4f}", gold=f"{sums[3] / n:.4f}")
        row = {"epoch": epoch, "loss": sums[0] / n, "soft_loss": sums[1] / n, "hard_loss": sums[2] / n,
               "gold_loss": sums[3] / n, "weights": [round(float(w), 4) for w in weights.numpy()],
               "seconds": round(time.perf_counter() - start, 2)}
        if eval_ids is not None:
            pred = predict(model, eval_ids).argmax(1)
            row["eval_accuracy"] = float((pred == eval_labels).mean())
        history.append(row)
        print(f"{desc} epoch {epoch}: loss {row['loss']:.4f} soft {row['soft_loss']:.4f} "
              f"hard {row['hard_loss']:.4f} gold {row['gold_loss']:.4f}"
              + (f" eval acc {row['eval_accuracy']:.4f}" if "eval_accuracy" in row else ""), file=sys.stderr)
    return history


def predict(model, ids: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Student logits for int32 ids, float32 ``[n, classes]``."""
    return model.predict(ids, batch_size=batch_size, verbose=0).astype(np.float32)


def transfer_set(data_dir: Path, teacher_dir: Path, tokenizer, cfg: DistillConfig, cache_dir: Path) -> dict:
    """The distill stage's transfer set and the teacher's logits for it (through the logit store).

    Parts: the train split, the data folder's unlabeled text, and ``cfg.augment_copies``
    augmented copies of the train split; each is cached on its own, so changing the
    augmentation does not relabel the rest. Returns ``texts``, ``labels`` (-1 where
    unlabeled), ``z`` (teacher logits), ``parts`` (name -> size), ``evals`` (the eval
    Split), ``z_eval``, ``labeled_now`` (texts the teacher had to label) and
    ``teacher_seconds``.
    """
    from kdedge.data import Split

    train = Split.from_jsonl(data_dir / "train.jsonl", "train")
    evals = Split.from_jsonl(data_dir / "eval.jsonl", "eval")
    parts = {"train": list(train.texts)}
    if (data_dir / "unlabeled.jsonl").exists():
        parts["unlabeled"] = Split.from_jsonl(data_dir / "unlabeled.jsonl", "unlabeled").texts
    if cfg.augment_copies:
        from kdedge.augment import augment, word_neighbours
        neighbours = None
        if cfg.p_replace > 0:
            from kdedge.teacher import load_teacher, word_vectors
            words = tokenizer.vocab[2:]
            neighbours = word_neighbours(words, word_vectors(*load_teacher(teacher_dir / "model"), words))
        parts["augmented"] = augment(list(train.texts), cfg.augment_copies, cfg.p_mask, cfg.p_ngram, cfg.seed,
                                     cfg.p_replace, neighbours)
    texts = [t for part in parts.values() for t in part]
    labels = np.concatenate([train.labels, np.full(len(texts) - len(train), -1, dtype=train.labels.dtype)])

    t0 = time.perf_counter()
    teacher = CachedTeacher(teacher_dir, cache_dir, cfg.strategy)
    labeled_now = 0
    z_parts = []
    for name, part in parts.items():
        z, n = teacher.logits(part, f"teacher labels {name}")
        z_parts.append(z)
        labeled_now += n
    z_eval, n = teacher.logits(evals.texts, "teacher labels eval")
    labeled_now += n
    return {"texts": texts, "labels": labels, "z": np.concatenate(z_parts),
            "parts": {name: len(part) for name, part in parts.items()}, "evals": evals, "z_eval": z_eval,
            "labeled_now": labeled_now, "teacher_seconds": time.perf_counter() - t0}


def run_distill(data_dir: str | Path, teacher_dir: str | Path, student_dir: str | Path, out: str | Path,
                cfg: DistillConfig) -> dict:
    """Distill stage: train the student in ``student_dir`` on ``teacher_dir``'s logits; save to ``out``."""
    from kdedge.logits_cache import default_cache_dir
    from kdedge.student import load_student, save_student
    from kdedge.tokenizer import WordTokenizer

    cfg.validate()
    data_dir = require_files(data_dir, ["train.jsonl", "eval.jsonl", "config.json"], "kdedge data")
    teacher_dir = require_files(teacher_dir, ["config.json", "model/config.json"], "kdedge teacher")
    student_dir = require_files(student_dir, ["config.json", "student.keras", "tokenizer.json"], "kdedge student")
    out = Path(out)
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    started = time.perf_counter()

    tokenizer = WordTokenizer.load(student_dir / "tokenizer.json")
    ts = transfer_set(data_dir, teacher_dir, tokenizer, cfg, cache_dir)
    texts, labels, z_train, z_eval = ts["texts"], ts["labels"], ts["z"], ts["z_eval"]
    parts, labeled_now, teacher_seconds, evals = ts["parts"], ts["labeled_now"], ts["teacher_seconds"], ts["evals"]

    model = load_student(student_dir / "student.keras")
    ids, eval_ids = tokenizer.encode(texts), tokenizer.encode(evals.texts)
    eval_labels = evals.labels
    labeled = eval_labels >= 0
    history = train_student(model, ids, z_train, labels, cfg, eval_ids[labeled], eval_labels[labeled])
    z_student = predict(model, eval_ids)
    distill_seconds = time.perf_counter() - started

    baseline = None
    if cfg.baseline:
        # The labels-only twin: same initial weights, labeled examples, epochs and schedule.
        gold = labels >= 0
        baseline = load_student(student_dir / "student.keras")
        base_cfg = dataclasses.replace(cfg, w_soft=0.0, w_hard=0.0, w_gold=1.0, soft_end=None)
        # The teacher's logits go in with weight 0: the soft/hard columns of its history then show
        # how far the twin is from the teacher, without training on them.
        history_base = train_student(baseline, ids[gold], z_train[gold], labels[gold], base_cfg,
                                     eval_ids[labeled], eval_labels[labeled], desc="baseline")
        z_base = predict(baseline, eval_ids)

    metrics = {
        "eval_accuracy": float((z_student.argmax(1)[labeled] == eval_labels[labeled]).mean()),
        "teacher_eval_accuracy": float((z_eval.argmax(1)[labeled] == eval_labels[labeled]).mean()),
        "agreement_with_teacher": float((z_student.argmax(1) == z_eval.argmax(1)).mean()),
        "transfer_examples": len(texts),
        "labeled_examples": int((labels >= 0).sum()),
        "transfer_parts": parts,
        "teacher_logits_cached": labeled_now == 0,
        "teacher_texts_labeled": labeled_now,
        "teacher_logits_seconds": round(teacher_seconds, 1),
        "distill_seconds": round(distill_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    if baseline is not None:
        metrics["baseline_eval_accuracy"] = float((z_base.argmax(1)[labeled] == eval_labels[labeled]).mean())
        metrics["gain_over_baseline"] = metrics["eval_accuracy"] - metrics["baseline_eval_accuracy"]
        save_student(baseline, out / "baseline.keras")
        write_json(out / "baseline_history.json", history_base)
    elif (out / "baseline.keras").exists():  # a stale twin from an earlier run must not be exported
        (out / "baseline.keras").unlink()
    save_student(model, out / "student.keras")
    write_bytes(out / "tokenizer.json", (student_dir / "tokenizer.json").read_bytes())
    write_json(out / "history.json", history)
    write_json(out / "metrics.json", metrics)
    write_json(out / "config.json", {**dataclasses.asdict(cfg), "data": str(data_dir), "teacher": str(teacher_dir),
                                     "student": str(student_dir), "cache_dir_resolved": str(cache_dir)})
    return metrics
