"""User-supplied text/label tables: CSV, TSV and JSON lines."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from kdedge.errors import DataError
from kdedge.data.splits import SENTIMENT_LABELS, Dataset, Split, iter_jsonl, read_text

TEXT_COLUMNS = ("text", "sentence", "review", "content")
LABEL_COLUMNS = ("label", "labels", "sentiment", "polarity")

_LABEL_VALUES = {"0": 0, "1": 1, "negative": 0, "positive": 1, "neg": 0, "pos": 1}


def read_delimited(path: Path, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a delimited file into its header and ``(line_number, fields)`` rows.

    Tab-separated files are read without quote handling (``QUOTE_NONE``), so a
    ``"`` in a text is just a character. Blank lines are skipped.

    Raises:
        DataError: The file is missing, empty, not UTF-8, or a row has the
            wrong number of fields.
    """
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            # A quoted CSV field may span lines; report the line the record starts on.
            line_no, start = start, reader.line_num + 1
            if not fields:
                continue
            if header is None:
                header = [name.strip() for name in fields]
                continue
            if len(fields) != len(header):
                raise DataError(f"{path}:{line_no}: expected {len(header)} fields, got {len(fields)}")
            rows.append((line_no, fields))
    except csv.Error as e:
        raise DataError(f"{path}:{start}: {e}") from None
    if header is None:
        raise DataError(f"{path}: file is empty")
    return header, rows


def parse_label(value: Any, path: Path, line_no: int) -> int:
    """Map a label cell to 0, 1, or -1 (missing/empty).

    Raises:
        DataError: The value is not a recognised label.
    """
    if value is None:
        return -1
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        if not key:
            return -1
        if key in _LABEL_VALUES:
            return _LABEL_VALUES[key]
    raise DataError(
        f"{path}:{line_no}: label {value!r} is not one of 0, 1, negative, positive, neg, pos (or empty for unlabeled)"
    )


def load_table(
    path: str | os.PathLike,
    text_column: str | None = None,
    label_column: str | None = None,
    name: str | None = None,
    labeled: bool = True,
) -> Split:
    """Read a ``.csv``, ``.tsv`` or ``.jsonl`` file into a split.

    Args:
        path: The file.
        text_column: Column holding the text; default: the first of
            ``text, sentence, review, content`` present (case-insensitive).
        label_column: Column holding the label; default: the first of
            ``label, labels, sentiment, polarity`` present. If there is none,
            every row is unlabeled.
        name: Split name; default: the file name without extension.
        labeled: If False, no label column is read and every row is unlabeled.

    Returns:
        The split; texts are stripped, missing or empty labels are -1.

    Raises:
        DataError: Unknown extension, missing column, bad row or bad label.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        header, rows = read_delimited(path, "," if suffix == ".csv" else "\t")
        text_key = _pick_column(path, 1, header, text_column, TEXT_COLUMNS, "text", required=True)
        label_key = None
        if labeled:
            label_key = _pick_column(path, 1, header, label_column, LABEL_COLUMNS, "label", required=False)
        text_idx = header.index(text_key)
        label_idx = header.index(label_key) if label_key is not None else None
        records = [
            (line_no, fields[text_idx], fields[label_idx] if label_idx is not None else None)
            for line_no, fields in rows
        ]
    elif suffix == ".jsonl":
        records = _jsonl_records(path, text_column, label_column, labeled)
    else:
        raise DataError(f"{path}: unknown file type {path.suffix or '(none)'!r} (use .csv, .tsv or .jsonl)")

    texts: list[str] = []
    labels: list[int] = []
    for line_no, text, label in records:
        if not isinstance(text, str):
            raise DataError(f"{path}:{line_no}: text must be a string, got {text!r}")
        text = text.strip()
        if not text:
            raise DataError(f"{path}:{line_no}: empty text")
        texts.append(text)
        labels.append(parse_label(label, path, line_no))
    if not texts:
        raise DataError(f"{path}: no rows")
    return Split(name=name or path.stem, texts=texts, labels=np.array(labels, dtype=np.int64), source=str(path))


def load_files(
    train_path: str | os.PathLike,
    eval_path: str | os.PathLike,
    unlabeled_path: str | os.PathLike | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Build the ``"custom"`` dataset from user files (see :func:`load_table`).

    Labels in the unlabeled file, if any, are ignored.

    Raises:
        DataError: A file is bad, or the train/eval file has no labeled rows.
    """
    train = load_table(train_path, text_column, label_column, name="train")
    eval_ = load_table(eval_path, text_column, label_column, name="eval")
    for split in (train, eval_):
        if split.num_labeled == 0:
            raise DataError(f"{split.source}: no labeled rows (need a label column with 0/1 values)")
    unlabeled = None
    if unlabeled_path is not None:
        unlabeled = load_table(unlabeled_path, text_column, name="unlabeled", labeled=False)
    return Dataset("custom", train, eval_, unlabeled, list(SENTIMENT_LABELS))


def _jsonl_records(
    path: Path, text_column: str | None, label_column: str | None, labeled: bool
) -> list[tuple[int, Any, Any]]:
    records = list(iter_jsonl(path))
    if not records:
        raise DataError(f"{path}: no rows")
    first_line, first = records[0]
    text_key = _pick_column(path, first_line, list(first), text_column, TEXT_COLUMNS, "text", required=True)
    label_key = None
    if labeled:
        label_key = _pick_column(path, first_line, list(first), label_column, LABEL_COLUMNS, "label", required=False)
    out = []
    for line_no, record in records:
        if text_key not in record:
            raise DataError(f"{path}:{line_no}: missing key {text_key!r}")
        out.append((line_no, record[text_key], record.get(label_key) if label_key is not None else None))
    return out


def _pick_column(
    path: Path,
    line_no: int,
    columns: list[str],
    wanted: str | None,
    defaults: tuple[str, ...],
    kind: str,
    required: bool,
) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path}:{line_no}: no {kind} column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    by_lower = {c.lower(): c for c in reversed(columns)}
    for candidate in defaults:
        if candidate in by_lower:
            return by_lower[candidate]
    if required:
        raise DataError(
            f"{path}:{line_no}: no {kind} column (expected one of {', '.join(defaults)}; "
            f"columns: {', '.join(columns)})"
        )
    return None
