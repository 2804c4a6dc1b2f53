"""Data stage: load a dataset once and write its splits as JSONL.

Output folder (``kdedge data --out DIR``)::

    DIR/train.jsonl      {"text": ..., "label": 0..K-1 | null} per line
    DIR/eval.jsonl
    DIR/test.jsonl       a second labeled eval split, when the dataset has one (SST-2: the treebank's test)
    DIR/unlabeled.jsonl  text for the teacher to label (see --unlabeled), when there is any
    DIR/stats.json       counts, length statistics and the ordered ``label_names`` (K labels)
    DIR/config.json      the resolved settings (written last: marks the stage done)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kdedge import layout
from kdedge.data.imdb import TARBALL
from kdedge.data.registry import DATASETS, load_dataset, resolve_data_dir
from kdedge.errors import ConfigError, DataError
from kdedge.io import write_json
from kdedge.options import comma_list, setting

UNLABELED = ("auto", "none", "imdb")


def has_imdb(data_dir: Path) -> bool:
    return (data_dir / TARBALL).is_file() or (data_dir / "aclImdb").is_dir()


@dataclasses.dataclass
class DataConfig:
    """Settings of the data stage; each field is a ``kdedge data`` flag."""

    dataset: str = setting("sst2", "Dataset to load.", choices=DATASETS)
    data_dir: str | None = setting(None, "Data folder (else $KDEDGE_DATA, else ../shared/data).", type=str)
    train_file: str | None = setting(None, "custom: train table (.csv, .tsv or .jsonl).", type=str)
    eval_file: str | None = setting(None, "custom: eval table.", type=str)
    unlabeled_file: str | None = setting(None, "custom: extra unlabeled texts.", type=str)
    label_names: str | None = setting(
        None, "custom: the labels in id order, separated by commas (e.g. 'negative,neutral,positive'); a file's "
        "labels are then integers 0..K-1 or these names. Default: inferred from the train file.", type=str)
    # Text the teacher labels for the transfer set, as sentences for a sentence-level dataset. On
    # SST-2 it lifted the CNN student from ~84.5% to ~86.5% dev (benchmarks/results/sst2).
    unlabeled: str = setting("auto", "Unlabeled transfer text: imdb = IMDB train/unsup; auto = imdb if the data "
                             "folder has it.", choices=UNLABELED)
    # Labeling 100k sentences takes ~10 min on 2 cores.
    max_unlabeled: int = setting(100_000, "Sample size of --unlabeled.")
    tree_phrases: bool = setting(False, "sst5/sst3/sst2: add every distinct phrase of the treebank's train trees "
                                 "(their subtrees; ~150k) to the unlabeled transfer text.")
    max_train: int | None = setting(None, "Keep N train examples (seeded sample).", type=int)
    offline: bool = setting(False, "Never download: a dataset no data folder has is an error naming the URL and "
                            "the folder to put it in (else it is downloaded into $KDEDGE_DATA or "
                            "~/.cache/kdedge/data, resumable and SHA-256 checked).")
    seed: int = setting(0, "Random seed.", cli=False)  # the shared --seed

    def validate(self) -> None:
        if self.max_train is not None and self.max_train < 1:
            raise ConfigError(f"--max-train must be >= 1, got {self.max_train}")
        if self.unlabeled not in UNLABELED:
            raise ConfigError(f"--unlabeled must be one of {', '.join(UNLABELED)}, got {self.unlabeled!r}")
        if self.tree_phrases and self.dataset not in ("sst5", "sst3", "sst2"):
            raise ConfigError(f"--tree-phrases is for sst5, sst3 and sst2 (the treebank), not {self.dataset}")
        if self.max_unlabeled < 1:
            raise ConfigError(f"--max-unlabeled must be >= 1, got {self.max_unlabeled}")
        if self.label_names is not None:
            names = comma_list(self.label_names)
            if self.dataset != "custom":
                raise ConfigError(f"--label-names is only for --dataset custom, not {self.dataset}")
            if len(names) < 2 or len(set(n.lower() for n in names)) != len(names):
                raise ConfigError(f"--label-names needs at least two distinct names, got {self.label_names!r}")
        if self.dataset == "custom":
            for flag, path in (("--train-file", self.train_file), ("--eval-file", self.eval_file),
                               ("--unlabeled-file", self.unlabeled_file)):
                if path is not None and not Path(path).is_file():
                    raise ConfigError(f"{flag} {path}: file not found")
        if self.data_dir is not None and (self.dataset != "custom" or self.unlabeled == "imdb"):
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
    from kdedge.data.download import default_folder, ensure_source
    from kdedge.data.registry import locate_dataset

    data_dir = None
    if cfg.dataset != "custom":
        data_dir = locate_dataset(cfg.dataset, cfg.data_dir, cfg.offline)
    elif cfg.unlabeled == "imdb":
        data_dir = locate_dataset("imdb", cfg.data_dir, cfg.offline)
    elif cfg.unlabeled == "auto":
        try:
            data_dir = resolve_data_dir(cfg.data_dir)
        except DataError:
            pass
    if data_dir is not None and cfg.unlabeled in ("auto", "imdb") and not has_imdb(data_dir) \
            and cfg.data_dir is None and not cfg.offline and data_dir == default_folder().resolve():
        # A dataset kdedge downloaded gets its transfer text (IMDB) the same way; a failure only skips it.
        try:
            ensure_source("imdb", data_dir)
        except DataError as e:
            if cfg.unlabeled == "imdb":
                raise
            print(f"kdedge data: no IMDB transfer text: {e}", flush=True)
    if cfg.unlabeled == "imdb" and (data_dir is None or not has_imdb(data_dir)):
        raise DataError(f"--unlabeled imdb: no {TARBALL} or aclImdb/ in {data_dir}")
    source = cfg.unlabeled
    if source == "auto":
        source = "imdb" if data_dir is not None and has_imdb(data_dir) else "none"
    ds = load_dataset(cfg.dataset, data_dir, cfg.train_file, cfg.eval_file, cfg.unlabeled_file,
                      comma_list(cfg.label_names) or None)
    train = ds.train
    if cfg.max_train is not None and cfg.max_train < len(train):
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(train))[:cfg.max_train])
        train = Split(train.name, [train.texts[i] for i in keep], train.labels[keep], train.source)
    out = Path(out)
    train.to_jsonl(out / layout.TRAIN)
    ds.eval.to_jsonl(out / layout.EVAL)
    stats = {"dataset": ds.name, "label_names": ds.label_names, "train": _stats(train), "eval": _stats(ds.eval)}
    for name, split, key in ((layout.TEST, ds.test, "test"), (layout.VALID, ds.valid, "valid")):
        if split is not None:
            split.to_jsonl(out / name)
            stats[key] = _stats(split)
        elif (out / name).exists():  # a stale split from an earlier run into the same folder
            (out / name).unlink()
    parts = []
    if cfg.dataset == "custom" and ds.unlabeled is not None:  # --unlabeled-file: the user's own text
        parts.append(ds.unlabeled)
    if cfg.tree_phrases:
        from kdedge.data.sst_trees import train_phrases
        parts.append(train_phrases(data_dir))
    if source == "imdb":
        from kdedge.data.unlabeled import imdb_unlabeled
        # A sentence-level task (SST-2) gets IMDB sentences; a review-level one, reviews.
        parts.append(imdb_unlabeled(data_dir, cfg.max_unlabeled, cfg.seed, sentences=cfg.dataset != "imdb"))
    if parts:
        unlabeled = Split("unlabeled", [t for p in parts for t in p.texts],
                          np.full(sum(len(p) for p in parts), -1, dtype=np.int64), "; ".join(p.source for p in parts))
        unlabeled.to_jsonl(out / layout.UNLABELED)
        stats["unlabeled"] = _stats(unlabeled)
    write_json(out / layout.STATS, stats)
    write_json(out / layout.CONFIG, {**dataclasses.asdict(cfg), "data_dir_resolved": str(data_dir),
                                     "unlabeled_resolved": source})
    return stats
