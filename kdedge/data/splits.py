"""In-memory splits and datasets, and their JSON-lines form."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from kdedge.errors import DataError
from kdedge.io import atomic_path

SENTIMENT_LABELS = ["negative", "positive"]


def check_unicode(text: str, path, line_no: int) -> None:
    """Refuse a text that cannot be written as UTF-8: a lone surrogate (a JSON ``"\\ud800"`` escape parses to one).

    Raises:
        DataError: Names the file, the line and the character.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise DataError(f"{path}:{line_no}: text holds a lone surrogate (U+{ord(text[e.start]):04X} at character "
                        f"{e.start}), which is not valid Unicode") from None


@dataclass(eq=False)
class Split:
    """A list of texts with one label each.

    Attributes:
        name: Split name, e.g. ``"train"``.
        texts: The texts.
        labels: int64 array, one label per text; -1 means unlabeled.
        source: The file or folder the split was read from.
    """

    name: str
    texts: list[str]
    labels: np.ndarray
    source: str

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(self.texts):
            raise ValueError(f"split {self.name!r}: {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def num_labeled(self) -> int:
        """Number of examples whose label is not -1."""
        return int(np.count_nonzero(self.labels >= 0))

    def to_jsonl(self, path: str | os.PathLike) -> None:
        """Write one ``{"text": ..., "label": int or null}`` object per line, atomically."""
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for text, label in zip(self.texts, self.labels.tolist()):
                record = {"text": text, "label": label if label >= 0 else None}
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike, name: str) -> Split:
        """Read a file written by :meth:`to_jsonl`.

        Raises:
            DataError: The file is missing, or a line is not a valid record.
        """
        path = Path(path)
        texts: list[str] = []
        labels: list[int] = []
        for line_no, record in iter_jsonl(path):
            text, label = record.get("text"), record.get("label")
            if not isinstance(text, str):
                raise DataError(f"{path}:{line_no}: 'text' must be a string, got {text!r}")
            check_unicode(text, path, line_no)
            if label is None:
                label = -1
            elif isinstance(label, bool) or not isinstance(label, int) or label < 0:
                raise DataError(f"{path}:{line_no}: 'label' must be a non-negative integer or null, got {label!r}")
            texts.append(text)
            labels.append(label)
        return cls(name=name, texts=texts, labels=np.array(labels, dtype=np.int64), source=str(path))


@dataclass(eq=False)
class Dataset:
    """The splits of one dataset.

    Attributes:
        name: Dataset name (``"sst2"``, ``"imdb"``, ``"custom"``).
        train: Labeled training split.
        eval: Labeled evaluation split.
        unlabeled: Extra unlabeled texts for distillation, if the dataset has any.
        label_names: Name of each label id, e.g. ``["negative", "positive"]``.
        test: A second labeled evaluation split, when the dataset has one
            (SST-2: the test sentences of the treebank).
        valid: A labeled validation split for choosing among epochs or settings, kept apart
            from ``eval`` (SST-5/SST-3: the treebank's dev trees, while ``eval`` is its test).
    """

    name: str
    train: Split
    eval: Split
    unlabeled: Split | None
    label_names: list[str]
    test: Split | None = None
    valid: Split | None = None


def read_label_names(data_dir: str | os.PathLike) -> list[str] | None:
    """The ordered ``label_names`` a data stage recorded in its ``stats.json``, or None when absent."""
    from kdedge import layout
    from kdedge.io import read_json
    path = Path(data_dir) / layout.STATS
    if not path.is_file():
        return None
    names = read_json(path).get("label_names")
    return [str(n) for n in names] if names else None


def num_labels(data_dir: str | os.PathLike) -> int:
    """How many labels the data stage's folder has (2 for a folder written before labels were recorded)."""
    names = read_label_names(data_dir)
    return len(names) if names else 2


def read_text(path: Path) -> str:
    """Read a UTF-8 file (a BOM is dropped).

    Raises:
        DataError: The file is missing or not valid UTF-8; names the line.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line_no = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line_no}: not valid UTF-8 ({e.reason})") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON-lines file.

    Raises:
        DataError: A line is not JSON or not a JSON object.
    """
    # Split on "\n" only: str.splitlines() would also break on U+2028 inside strings.
    for line_no, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{line_no}: invalid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
        yield line_no, record
