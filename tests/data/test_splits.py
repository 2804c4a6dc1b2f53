"""In-memory splits and their JSON-lines form (kdedge.data.splits)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kdedge.data import Split
from kdedge.errors import DataError
from tests.data.builders import write


def test_jsonl_round_trip(tmp_path: Path) -> None:
    texts = ["plain", 'quote " and \\ slash', "new\nline", "uni\u2028code é", "tab\there"]
    split = Split("train", texts, np.array([0, 1, -1, 1, 0]), source="x")
    path = tmp_path / "out" / "train.jsonl"
    split.to_jsonl(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 6 and lines[-1] == ""
    assert json.loads(lines[2]) == {"text": "new\nline", "label": None}
    back = Split.from_jsonl(path, "train")
    assert back.texts == texts
    assert back.labels.tolist() == [0, 1, -1, 1, 0] and back.labels.dtype == np.int64
    assert back.source == str(path) and back.name == "train"
    assert not list(path.parent.glob(".*tmp"))


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ('{"text": "a", "label": 1}\nnot json\n', r":2: invalid JSON"),
        ('{"text": "a", "label": "1"}\n', r":1: 'label' must be a non-negative integer or null"),
        ('{"label": 1}\n', r":1: 'text' must be a string"),
        ("[1, 2]\n", r":1: expected a JSON object"),
    ],
)


def test_from_jsonl_errors(tmp_path: Path, content: str, pattern: str) -> None:
    path = write(tmp_path / "s.jsonl", content)
    with pytest.raises(DataError, match=str(path).replace(".", r"\.") + pattern):
        Split.from_jsonl(path, "train")


def test_split_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError):
        Split("x", ["a", "b"], np.array([0]), source="x")


def test_from_jsonl_refuses_a_lone_surrogate_naming_file_and_line(tmp_path):
    """A JSON "\\ud800" escape parses to a str that cannot be written back as UTF-8: refused where it is read."""
    import pytest

    from kdedge.data import Split
    from kdedge.errors import DataError

    path = tmp_path / "eval.jsonl"
    path.write_text('{"text": "fine", "label": 1}\n{"text": "x\\udfff", "label": 0}\n')
    with pytest.raises(DataError, match=r"eval\.jsonl:2: text holds a lone surrogate \(U\+DFFF at character 1\)"):
        Split.from_jsonl(path, "eval")
