"""GLUE SST-2: movie-review sentences labeled 0 (negative) / 1 (positive)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kdedge.errors import DataError
from kdedge.data.splits import SENTIMENT_LABELS, Dataset, Split
from kdedge.data.table import read_delimited


def load_sst2(data_dir: str | os.PathLike) -> Dataset:
    """Read ``SST-2/train.tsv`` and ``SST-2/dev.tsv`` under ``data_dir``.

    The files may also sit directly in ``data_dir``. The eval split is dev
    (GLUE's test.tsv has no labels and is not read).

    Raises:
        DataError: A file is missing or malformed; the message names file and line.
    """
    data_dir = Path(data_dir)
    folder = data_dir / "SST-2"
    if not folder.is_dir():
        folder = data_dir
    return Dataset(
        name="sst2",
        train=_read_split(folder / "train.tsv", "train"),
        eval=_read_split(folder / "dev.tsv", "eval"),
        unlabeled=None,
        label_names=list(SENTIMENT_LABELS),
    )


def _read_split(path: Path, name: str) -> Split:
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected GLUE SST-2 train.tsv and dev.tsv)")
    header, rows = read_delimited(path, "\t")
    missing = [c for c in ("sentence", "label") if c not in header]
    if missing:
        raise DataError(f"{path}:1: header lacks column {', '.join(missing)} (got {', '.join(header)})")
    text_idx, label_idx = header.index("sentence"), header.index("label")
    texts: list[str] = []
    labels: list[int] = []
    for line_no, fields in rows:
        # GLUE sentences end with a space before the tab.
        text, label = fields[text_idx].strip(), fields[label_idx].strip()
        if label not in ("0", "1"):
            raise DataError(f"{path}:{line_no}: label {label!r} is not one of 0, 1")
        if not text:
            raise DataError(f"{path}:{line_no}: empty sentence")
        texts.append(text)
        labels.append(int(label))
    if not texts:
        raise DataError(f"{path}: no rows")
    return Split(name=name, texts=texts, labels=np.array(labels, dtype=np.int64), source=str(path))
