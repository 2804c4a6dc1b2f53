"""User tables: CSV, TSV and JSON lines (kdedge.data.table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdedge.data import load_dataset, load_table
from kdedge.data.table import load_files
from kdedge.errors import DataError
from tests.data.builders import write


def test_csv_defaults_and_label_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        'id,Review,sentiment\n1,"Good, really",positive\n2,"multi\nline",NEG\n3,plain,1\n4, spaced ,\n5,x,0\n',
    )
    split = load_table(path)
    assert split.texts == ["Good, really", "multi\nline", "plain", "spaced", "x"]
    assert split.labels.tolist() == [1, 0, 1, -1, 0]
    assert len(split) == 5 and split.num_labeled == 4
    assert split.name == "t" and split.source == str(path)


def test_tsv_keeps_quotes(tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", 'text\tlabel\nsay "hi\t1\n"quoted"\tpos\n')
    split = load_table(path)
    assert split.texts == ['say "hi', '"quoted"']
    assert split.labels.tolist() == [1, 1]


def test_jsonl_table(tmp_path: Path) -> None:
    rows = [{"content": "a", "polarity": 0}, {"content": "b", "polarity": "Positive"}, {"content": "c"}]
    path = write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    split = load_table(path)
    assert split.texts == ["a", "b", "c"]
    assert split.labels.tolist() == [0, 1, -1]


def test_table_explicit_columns_and_no_label_column(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "body,y,text\nhello,1,ignored\n")
    split = load_table(path, text_column="body", label_column="y")
    assert split.texts == ["hello"] and split.labels.tolist() == [1]
    unlabeled = load_table(write(tmp_path / "u.csv", "text\nhello\n"))
    assert unlabeled.labels.tolist() == [-1]
    with pytest.raises(DataError, match=r"t\.csv:1: no text column 'nope'"):
        load_table(path, text_column="nope")


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("bad.csv", "text,label\nok,1\nhmm,maybe\n", r"bad\.csv:3: label 'maybe' is not one of"),
        ("bad.csv", "text,label\nok,1\nok,1,extra\n", r"bad\.csv:3: expected 2 fields, got 3"),
        ("bad.tsv", "text\tlabel\nok\t2\nno\tneutral\n",
         r"bad\.tsv:3: label 'neutral' is not one of the integer labels"),
        ("bad.jsonl", '{"text": "ok", "label": 1}\n{"text": "x", "label": -3}\n',
         r"bad\.jsonl:2: label -3 is negative"),
        ("bad.jsonl", '{"text": "ok", "label": 1}\n{"text": "x", "label": 0.5}\n', r"bad\.jsonl:2: label 0\.5 must be"),
        ("bad.jsonl", '{"text": "ok"}\n\n{"text": \n', r"bad\.jsonl:3: invalid JSON"),
        ("bad.jsonl", '{"text": "ok"}\n{"label": 1}\n', r"bad\.jsonl:2: missing key 'text'"),
        ("bad.csv", "id,label\n1,0\n", r"bad\.csv:1: no text column \(expected one of"),
        ("bad.csv", "text,label\n ,1\n", r"bad\.csv:2: empty text"),
        ("bad.txt", "hello\n", r"bad\.txt: unknown file type '\.txt'"),
        ("empty.csv", "", r"empty\.csv: file is empty"),
        ("sur.jsonl", '{"text": "ok", "label": 1}\n{"text": "a \\ud800 b", "label": 0}\n',
         r"sur\.jsonl:2: text holds a lone surrogate \(U\+D800 at character 2\)"),
    ],
)


def test_table_errors_name_file_and_line(tmp_path: Path, name: str, content: str, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        load_table(write(tmp_path / name, content))


def test_table_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        load_table(tmp_path / "nope.csv")


def test_table_bad_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"text,label\nok,1\n\xff\xfe,0\n")
    with pytest.raises(DataError, match=r"bad\.csv:3: not valid UTF-8"):
        load_table(path)


def test_load_files_and_custom_dataset(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "text,label\na,0\nb,1\n")
    eval_ = write(tmp_path / "eval.jsonl", '{"text": "c", "label": "pos"}\n')
    unlabeled = write(tmp_path / "more.tsv", "text\tlabel\nd\tnot-a-label\n")
    ds = load_files(train, eval_, unlabeled)
    assert ds.name == "custom"
    assert ds.train.texts == ["a", "b"] and ds.eval.labels.tolist() == [1]
    assert ds.unlabeled is not None and ds.unlabeled.texts == ["d"] and ds.unlabeled.labels.tolist() == [-1]
    ds = load_dataset("custom", train_file=train, eval_file=eval_)
    assert ds.unlabeled is None and len(ds.train) == 2


def test_load_files_needs_labels(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "text\na\n")
    eval_ = write(tmp_path / "eval.csv", "text,label\nb,1\n")
    with pytest.raises(DataError, match=r"train\.csv: no labeled rows"):
        load_files(train, eval_)


def test_integer_labels_give_k_classes(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "text,label\na,0\nb,2\nc,1\nd,4\n")
    eval_ = write(tmp_path / "eval.csv", "text,label\ne,3\n")
    ds = load_files(train, eval_)
    assert ds.label_names == ["0", "1", "2", "3", "4"]
    assert ds.train.labels.tolist() == [0, 2, 1, 4] and ds.eval.labels.tolist() == [3]


def test_named_labels_follow_the_sentiment_scale_else_sorted(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "text,label\na,Positive\nb,neutral\nc,NEG\n")
    eval_ = write(tmp_path / "eval.csv", "text,label\nd,negative\ne,\n")
    ds = load_files(train, eval_)
    assert ds.label_names == ["negative", "neutral", "positive"]
    assert ds.train.labels.tolist() == [2, 1, 0] and ds.eval.labels.tolist() == [0, -1]
    topics = load_files(write(tmp_path / "t.csv", "text,label\na,sport\nb,art\nc,news\n"), eval_ := write(
        tmp_path / "e.csv", "text,label\nd,art\n"))
    assert topics.label_names == ["art", "news", "sport"] and topics.eval.labels.tolist() == [0]


def test_eval_label_outside_the_train_labels_names_file_and_line(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "text,label\na,negative\nb,positive\n")
    eval_ = write(tmp_path / "eval.csv", "text,label\nc,positive\nd,neutral\n")
    with pytest.raises(DataError, match=r"eval\.csv:3: label 'neutral' is not one of 0\.\.1 or negative, positive"):
        load_files(train, eval_)
    with pytest.raises(DataError, match=r"e\.csv:2: label '5' is not one of 0\.\.2 \("):
        load_files(write(tmp_path / "t.csv", "text,label\na,0\nb,2\n"), write(tmp_path / "e.csv", "text,label\nc,5\n"))


def test_explicit_label_names(tmp_path: Path) -> None:
    train = write(tmp_path / "train.csv", "text,label\na,low\nb,high\nc,1\n")
    eval_ = write(tmp_path / "eval.csv", "text,label\nd,mid\n")
    with pytest.raises(DataError, match=r"train\.csv:4: label '1' is not one of the label names"):
        load_files(train, eval_)
    ds = load_files(write(tmp_path / "t2.csv", "text,label\na,low\nb,HIGH\n"), eval_,
                    label_names=["low", "mid", "high"])
    assert ds.label_names == ["low", "mid", "high"]
    assert ds.train.labels.tolist() == [0, 2] and ds.eval.labels.tolist() == [1]
