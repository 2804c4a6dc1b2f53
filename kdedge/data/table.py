"""User-supplied text/label tables: CSV, TSV and JSON lines."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from kdedge.errors import DataError
from kdedge.data.splits import SENTIMENT_LABELS, Dataset, Split, check_unicode, iter_jsonl, read_text

TEXT_COLUMNS = ("text", "sentence", "review", "content")
LABEL_COLUMNS = ("label", "labels", "sentiment", "polarity")

_ALIASES = {"neg": "negative", "pos": "positive"}
# Known label orders: a name set inside one of these is ordered by it (else sorted).
_SCALES = (
    ("negative", "positive"),
    ("negative", "neutral", "positive"),
    ("very negative", "negative", "neutral", "positive", "very positive"),
)


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


def _label_kind(value: Any, path: Path, line_no: int) -> str | None:
    """``"int"``, ``"name"`` or None (unlabeled) for one label cell."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{path}:{line_no}: label {value!r} must be an integer 0..K-1 or a name")
    if isinstance(value, int):
        if value < 0:
            raise DataError(f"{path}:{line_no}: label {value!r} is negative (labels are 0..K-1 or names)")
        return "int"
    key = value.strip()
    if not key:
        return None
    return "int" if key.isdigit() and key.isascii() else "name"


def infer_label_names(records: list[tuple[Path, int, Any]]) -> list[str]:
    """The ordered label names of ``(path, line, label cell)`` rows (the train file's, usually).

    Integers ``0..K-1`` give ``K`` labels (``0``/``1`` are ``negative``/``positive``; more are
    named by their number). Names give their own labels, in a known sentiment order when they are
    one (negative < neutral < positive; ``neg``/``pos`` allowed), else sorted. Integers and names
    may not mix.

    Raises:
        DataError: A bad cell, mixed kinds, or fewer than two labels; names file and line.
    """
    ints: dict[int, tuple[Path, int]] = {}
    names: dict[str, tuple[Path, int]] = {}
    first_kind = None
    for path, line_no, value in records:
        kind = _label_kind(value, path, line_no)
        if kind is None:
            continue
        first_kind = first_kind or kind
        if kind == "int":
            ints.setdefault(int(value), (path, line_no))
        else:
            names.setdefault(_ALIASES.get(value.strip().lower(), value.strip().lower()), (path, line_no))
        binary = set(names) <= set(SENTIMENT_LABELS) and set(ints) <= {0, 1}
        if kind != first_kind and not binary:
            what = "integer labels" if first_kind == "int" else "label names"
            raise DataError(f"{path}:{line_no}: label {value!r} is not one of the {what} before it (a label "
                            "column holds integers 0..K-1 or names, not both; only 0/1 mix with negative/positive)")
    if ints and names:
        return list(SENTIMENT_LABELS)
    if not ints and not names:
        raise DataError("no labeled rows")
    if ints:
        k = max(ints) + 1
        if k < 2:
            path, _ = ints[0]
            raise DataError(f"{path}: only label 0 present (need at least two labels)")
        return list(SENTIMENT_LABELS) if k == 2 else [str(i) for i in range(k)]
    if len(names) < 2:
        (name, (path, _)), = names.items()
        raise DataError(f"{path}: only label {name!r} present (need at least two labels)")
    for scale in _SCALES:
        if set(names) <= set(scale):
            return [n for n in scale if n in names]
    return sorted(names)


def parse_label(value: Any, path: Path, line_no: int, label_names: list[str] | None = None) -> int:
    """Map a label cell to its id in ``label_names`` (default negative/positive), or -1 when empty.

    Raises:
        DataError: The value is not one of the labels; names file and line.
    """
    names = list(SENTIMENT_LABELS) if label_names is None else label_names
    kind = _label_kind(value, path, line_no)
    if kind is None:
        return -1
    if kind == "int" and int(value) < len(names):
        return int(value)
    if kind == "name":
        key = value.strip().lower()
        index = {n.lower(): i for i, n in enumerate(names)}
        key = key if key in index else _ALIASES.get(key, key)
        if key in index:
            return index[key]
    numbered = names == [str(i) for i in range(len(names))]
    allowed = f"0..{len(names) - 1}" + ("" if numbered else f" or {', '.join(names)}")
    raise DataError(f"{path}:{line_no}: label {value!r} is not one of {allowed} (or empty for unlabeled)")


def load_table(
    path: str | os.PathLike,
    text_column: str | None = None,
    label_column: str | None = None,
    name: str | None = None,
    labeled: bool = True,
    label_names: list[str] | None = None,
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
        label_names: The labels, in id order; default: inferred from this file
            (see :func:`infer_label_names`).

    Returns:
        The split; texts are stripped, missing or empty labels are -1.

    Raises:
        DataError: Unknown extension, missing column, bad row or bad label.
    """
    return _read_split(Path(path), text_column, label_column, name, labeled, label_names)[0]


def _read_split(path: Path, text_column: str | None, label_column: str | None, name: str | None,
                labeled: bool, label_names: list[str] | None) -> tuple[Split, list[str]]:
    """:func:`load_table`, and the label names it used (given, or inferred from this file)."""
    records = _records(path, text_column, label_column, labeled)
    texts: list[str] = []
    for line_no, text, _ in records:
        if not isinstance(text, str):
            raise DataError(f"{path}:{line_no}: text must be a string, got {text!r}")
        text = text.strip()
        if not text:
            raise DataError(f"{path}:{line_no}: empty text")
        check_unicode(text, path, line_no)
        texts.append(text)
    if not texts:
        raise DataError(f"{path}: no rows")
    cells = [(path, line_no, label) for line_no, _, label in records]
    if label_names is None:
        labeled_cells = [c for c in cells if _label_kind(c[2], path, c[1]) is not None]
        label_names = infer_label_names(labeled_cells) if labeled_cells else list(SENTIMENT_LABELS)
    labels = [parse_label(label, path, line_no, label_names) for _, line_no, label in cells]
    split = Split(name=name or path.stem, texts=texts, labels=np.array(labels, dtype=np.int64), source=str(path))
    return split, label_names


def load_files(
    train_path: str | os.PathLike,
    eval_path: str | os.PathLike,
    unlabeled_path: str | os.PathLike | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names: list[str] | None = None,
) -> Dataset:
    """Build the ``"custom"`` dataset from user files (see :func:`load_table`).

    The labels are ``label_names`` when given, else inferred from the train
    file (:func:`infer_label_names`); an eval label outside them is an error
    naming its file and line. Labels in the unlabeled file, if any, are ignored.

    Raises:
        DataError: A bad file or label, or the train/eval file has no labeled rows.
    """
    train, label_names = _read_split(Path(train_path), text_column, label_column, "train", True, label_names)
    eval_ = load_table(eval_path, text_column, label_column, name="eval", label_names=label_names)
    for split in (train, eval_):
        if split.num_labeled == 0:
            raise DataError(f"{split.source}: no labeled rows (need a label column: integers 0..K-1 or names)")
    unlabeled = None
    if unlabeled_path is not None:
        unlabeled = load_table(unlabeled_path, text_column, name="unlabeled", labeled=False)
    return Dataset("custom", train, eval_, unlabeled, list(label_names))


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


def _records(path: Path, text_column: str | None, label_column: str | None,
             labeled: bool) -> list[tuple[int, Any, Any]]:
    """``(line_number, text cell, label cell)`` rows of a .csv, .tsv or .jsonl file."""
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

    return records
