"""Data stage: load a dataset once and write its splits as JSONL.

Output folder (``kdedge data --out DIR``)::

    DIR/train.jsonl      {"text": ..., "label": 0 | 1 | null} per line
    DIR/eval.jsonl
    DIR/unlabeled.jsonl  only with --unlabeled (the dataset's own) or --extra-unlabeled imdb
    DIR/stats.json       counts and length statistics
    DIR/config.json      the resolved settings (written last: marks the stage done)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kdedge.data.registry import load_dataset, resolve_data_dir
from kdedge.errors import ConfigError
from kdedge.io import write_json


@dataclasses.dataclass
class DataConfig:
    """Settings of the data stage; each field is a ``kdedge data`` flag."""

    dataset: str = "sst2"  # --dataset: sst2, imdb or custom
    data_dir: str | None = None  # --data-dir: else $KDEDGE_DATA, else ../shared/data
    train_file: str | None = None  # --train-file (custom)
    eval_file: str | None = None  # --eval-file (custom)
    unlabeled_file: str | None = None  # --unlabeled-file (custom)
    unlabeled: bool = False  # --unlabeled: keep the dataset's own unlabeled text (IMDB train/unsup)
    extra_unlabeled: str = "none"  # --extra-unlabeled: imdb = sample IMDB train/unsup into the transfer set
    max_unlabeled: int = 100_000  # --max-unlabeled: sample size for --extra-unlabeled
    max_train: int | None = None  # --max-train: first N train examples after a seeded shuffle
    seed: int = 0  # --seed

    def validate(self) -> None:
        if self.max_train is not None and self.max_train < 1:
            raise ConfigError(f"--max-train must be >= 1, got {self.max_train}")
        if self.extra_unlabeled not in ("none", "imdb"):
            raise ConfigError(f"--extra-unlabeled must be none or imdb, got {self.extra_unlabeled!r}")
        if self.max_unlabeled < 1:
            raise ConfigError(f"--max-unlabeled must be >= 1, got {self.max_unlabeled}")
        if self.dataset == "custom":
            for flag, path in (("--train-file", self.train_file), ("--eval-file", self.eval_file),
                               ("--unlabeled-file", self.unlabeled_file)):
                if path is not None and not Path(path).is_file():
                    raise ConfigError(f"{flag} {path}: file not found")
        if self.dataset != "custom" or self.extra_unlabeled != "none":
            resolve_data_dir(self.data_dir)  # fails early, naming --data-dir


def _stats(split) -> dict:
    words = np.array([len(t.split()) for t in split.texts]) if len(split) else np.zeros(1)
    labels = split.labels[split.labels >= 0]
    return {"examples": len(split), "labeled": int(split.num_labeled),
            "label_counts": {str(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))},
            "words_mean": float(words.mean()), "words_p50": float(np.percentile(words, 50)),
            "words_p95": float(np.percentile(words, 95)), "source": split.source}


def run_data(out: str | Path, cfg: DataConfig) -> dict:
    """Data stage: write ``cfg.dataset``'s splits to ``out``. Returns the stats."""
    from kdedge.data.splits import Split

    cfg.validate()
    data_dir = None
    if cfg.dataset != "custom" or cfg.extra_unlabeled != "none":
        data_dir = resolve_data_dir(cfg.data_dir)
    ds = load_dataset(cfg.dataset, data_dir, cfg.train_file, cfg.eval_file, cfg.unlabeled_file)
    train = ds.train
    if cfg.max_train is not None and cfg.max_train < len(train):
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(train))[:cfg.max_train])
        train = Split(train.name, [train.texts[i] for i in keep], train.labels[keep], train.source)
    out = Path(out)
    train.to_jsonl(out / "train.jsonl")
    ds.eval.to_jsonl(out / "eval.jsonl")
    stats = {"dataset": ds.name, "label_names": ds.label_names, "train": _stats(train), "eval": _stats(ds.eval)}
    unlabeled = []
    if cfg.unlabeled and ds.unlabeled is not None:
        unlabeled.append(ds.unlabeled)
    if cfg.extra_unlabeled == "imdb":
        from kdedge.data.unlabeled import imdb_unlabeled
        # A sentence-level task (SST-2) gets IMDB sentences; a review-level one, reviews.
        unlabeled.append(imdb_unlabeled(data_dir, cfg.max_unlabeled, cfg.seed, sentences=cfg.dataset != "imdb"))
    if unlabeled:
        merged = Split("unlabeled", [t for u in unlabeled for t in u.texts],
                       np.full(sum(len(u) for u in unlabeled), -1, dtype=np.int64),
                       "; ".join(u.source for u in unlabeled))
        merged.to_jsonl(out / "unlabeled.jsonl")
        stats["unlabeled"] = _stats(merged)
    write_json(out / "stats.json", stats)
    write_json(out / "config.json", {**dataclasses.asdict(cfg), "data_dir_resolved": str(data_dir)})
    return stats
