"""The transfer set: every text the student learns the teacher from, and the teacher's logits for it.

The logits come through the on-disk :class:`~kdedge.training.logit_store.LogitStore`, so
each text is labeled by the teacher once, whatever stage asks (distill, compress).
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from kdedge import layout
from kdedge.io import read_json
from kdedge.progress import progress
from kdedge.training.logit_store import LogitStore, namespace, teacher_fingerprint


def ensemble_namespace(member_namespaces: list[str]) -> str:
    """The store's folder name for the mean of several teachers' logits (order-free: a mean is)."""
    text = "ensemble:mean-of-logits\n" + "".join(f"{n}\n" for n in sorted(member_namespaces))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class CachedTeacher:
    """Teacher logits through the on-disk :class:`~kdedge.training.logit_store.LogitStore`.

    The teacher is loaded only if some text is missing from the store, and then
    labels it a shard at a time: an interrupted run resumes where it stopped.

    An ensemble folder (``kdedge ensemble``) gives the mean of its members' logits,
    kept under its own namespace (:func:`ensemble_namespace`); each member labels
    what it lacks through its own store, so a member's rows serve it alone too.
    """

    def __init__(self, teacher_dir: Path, cache_dir: Path, strategy: str = "default"):
        teacher_dir = Path(teacher_dir)
        self.members = None
        self.strategy = strategy
        self._loaded = None
        if layout.is_ensemble(teacher_dir):
            self.members = [CachedTeacher(m, cache_dir, strategy) for m in layout.teacher_members(teacher_dir)]
            self.model_dir = self.max_len = self.truncation = None
            self.store = LogitStore(cache_dir, ensemble_namespace([m.store.name for m in self.members]))
            return
        self.model_dir = teacher_dir / layout.TEACHER_MODEL
        cfg = read_json(teacher_dir / layout.CONFIG)
        self.max_len = cfg["max_len"]
        self.truncation = cfg.get("truncation", "head")
        self.store = LogitStore(cache_dir, namespace(teacher_fingerprint(self.model_dir), self.max_len,
                                                     self.truncation))

    def logits(self, texts: list[str], desc: str, shard_size: int | None = None) -> tuple[np.ndarray, int]:
        """``(logits, number of texts the teacher had to label)`` for ``texts``, ``shard_size`` texts per
        store shard (default :data:`~kdedge.training.logit_store.SHARD_SIZE`). For an ensemble the count
        is the members' labelings added up (a text new to all three members counts three times)."""
        from kdedge.models.teacher import load_teacher
        from kdedge.training.labeling import predict_logits

        members_labeled = 0
        if self.members is not None:  # each member labels what it lacks first, with its own progress bar
            todo = [texts[i] for i in self.store.missing(texts)]
            for i, member in enumerate(self.members):
                members_labeled += member.logits(todo, f"{desc}, member {i + 1}/{len(self.members)}",
                                                 shard_size)[1]
        bars = []

        def on_start(todo):
            bars.append(progress(total=todo, desc=desc, unit="text", disable=None if todo else True))

        def compute(chunk):
            if self.members is not None:  # every row is in the members' stores by now
                return np.mean([m.logits(chunk, desc)[0] for m in self.members], axis=0).astype(np.float32)
            if self._loaded is None:
                from kdedge.training.distribute import get_strategy
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
            z, computed = self.store.label(texts, compute, on_shard=on_shard, on_start=on_start,
                                           **({"shard_size": shard_size} if shard_size else {}))
            return z, (computed if self.members is None else members_labeled)
        finally:
            for bar in bars:
                bar.close()


def transfer_set(data_dir: Path, teacher_dir: Path, tokenizer, cfg, cache_dir: Path) -> dict:
    """The distill stage's transfer set and the teacher's logits for it (through the logit store).

    ``cfg``: a :class:`kdedge.stages.distill.DistillConfig` (``augment_copies``, ``p_mask``,
    ``p_ngram``, ``p_replace``, ``seed``, ``strategy``). Parts: the train split, the data
    folder's unlabeled text, and ``cfg.augment_copies`` augmented copies of the train split;
    each is cached on its own, so changing the augmentation does not relabel the rest.
    Returns ``texts``, ``labels`` (-1 where unlabeled), ``z`` (teacher logits), ``parts``
    (name -> size), ``evals`` (the eval Split), ``z_eval``, ``valid`` and ``z_valid`` (the data
    folder's validation split and its logits, or None), ``labeled_now`` (texts the teacher had to
    label) and ``teacher_seconds``.
    """
    from kdedge.data import Split

    train = Split.from_jsonl(data_dir / layout.TRAIN, "train")
    evals = Split.from_jsonl(data_dir / layout.EVAL, "eval")
    parts = {"train": list(train.texts)}
    if (data_dir / layout.UNLABELED).exists():
        parts["unlabeled"] = Split.from_jsonl(data_dir / layout.UNLABELED, "unlabeled").texts
    if cfg.augment_copies:
        from kdedge.text.augment import augment, word_neighbours
        neighbours = None
        if cfg.p_replace > 0:
            from kdedge.models.teacher import load_teacher, word_vectors
            words = tokenizer.vocab[2:]
            neighbours = word_neighbours(words, word_vectors(*load_teacher(layout.teacher_model(teacher_dir)),
                                                             words))
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
    valid = z_valid = None
    if (data_dir / layout.VALID).exists():
        valid = Split.from_jsonl(data_dir / layout.VALID, "valid")
        z_valid, n = teacher.logits(valid.texts, "teacher labels valid")
        labeled_now += n
    return {"valid": valid, "z_valid": z_valid, "texts": texts, "labels": labels, "z": np.concatenate(z_parts),
            "parts": {name: len(part) for name, part in parts.items()}, "evals": evals, "z_eval": z_eval,
            "labeled_now": labeled_now, "teacher_seconds": time.perf_counter() - t0}
