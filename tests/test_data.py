"""Tests for kdedge.data: each layout is built small in tmp_path."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from kdedge.data import (
    DATASETS,
    Dataset,
    Split,
    load_dataset,
    load_imdb,
    load_sst2,
    load_table,
    resolve_data_dir,
)
from kdedge.data.table import load_files
from kdedge.errors import ConfigError, DataError

REAL_DATA = Path("/work/shared/data")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- SST-2

SST2_TRAIN = 'sentence\tlabel\nhide new secretions \t0\nit \'s a "charming" film \t1\nflat , dull \t0\n'
SST2_DEV = "sentence\tlabel\nsoars \t1\n"


def make_sst2(root: Path, subfolder: bool = True) -> Path:
    folder = root / "SST-2" if subfolder else root
    write(folder / "train.tsv", SST2_TRAIN)
    write(folder / "dev.tsv", SST2_DEV)
    return root


@pytest.mark.parametrize("subfolder", [True, False])
def test_sst2_reads_texts_and_labels(tmp_path: Path, subfolder: bool) -> None:
    ds = load_sst2(make_sst2(tmp_path, subfolder))
    assert ds.name == "sst2"
    assert ds.train.texts == ["hide new secretions", 'it \'s a "charming" film', "flat , dull"]
    assert ds.train.labels.tolist() == [0, 1, 0]
    assert ds.train.labels.dtype == np.int64
    assert ds.eval.texts == ["soars"] and ds.eval.labels.tolist() == [1]
    assert ds.eval.name == "eval" and ds.eval.source.endswith("dev.tsv")
    assert ds.unlabeled is None
    assert ds.label_names == ["negative", "positive"]


def test_sst2_missing_file(tmp_path: Path) -> None:
    write(tmp_path / "SST-2" / "train.tsv", SST2_TRAIN)
    with pytest.raises(DataError, match=r"dev\.tsv: file not found"):
        load_sst2(tmp_path)


def test_sst2_bad_label_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "SST-2" / "train.tsv", "sentence\tlabel\ngood \t1\nhmm \tmaybe\n")
    write(tmp_path / "SST-2" / "dev.tsv", SST2_DEV)
    with pytest.raises(DataError) as e:
        load_sst2(tmp_path)
    assert str(e.value) == f"{tmp_path / 'SST-2' / 'train.tsv'}:3: label 'maybe' is not one of 0, 1"


def test_sst2_wrong_column_count(tmp_path: Path) -> None:
    write(tmp_path / "SST-2" / "train.tsv", "sentence\tlabel\ngood \t1\n\nbad\textra\t0\n")
    write(tmp_path / "SST-2" / "dev.tsv", SST2_DEV)
    with pytest.raises(DataError, match=r"train\.tsv:4: expected 2 fields, got 3"):
        load_sst2(tmp_path)


def test_sst2_bad_header(tmp_path: Path) -> None:
    write(tmp_path / "SST-2" / "train.tsv", "text\tlabel\ngood \t1\n")
    write(tmp_path / "SST-2" / "dev.tsv", SST2_DEV)
    with pytest.raises(DataError, match=r"train\.tsv:1: header lacks column sentence"):
        load_sst2(tmp_path)


def test_real_sst2_sizes() -> None:
    if not (REAL_DATA / "SST-2" / "dev.tsv").is_file():
        pytest.skip("real SST-2 not available")
    ds = load_sst2(resolve_data_dir(None))
    assert len(ds.eval) == 872
    assert len(ds.train) == 67_349
    assert ds.train.texts[0] == "when are bears bears and"
    assert set(np.unique(ds.train.labels).tolist()) == {0, 1}


# ---------------------------------------------------------------- IMDB

# (split, folder, file name, text); listed out of order on purpose.
IMDB_FILES = [
    ("train", "pos", "10_9.txt", "Great.<br /><br />Loved it."),
    ("train", "neg", "2_1.txt", "Awful<br/>film."),
    ("train", "pos", "9_8.txt", "Fine<BR>enough."),
    ("train", "neg", "11_3.txt", "Dull."),
    ("test", "neg", "0_2.txt", "Bad."),
    ("test", "pos", "5_10.txt", "Superb."),
    ("train", "unsup", "3_0.txt", "Saw it."),
    ("train", "unsup", "1_0.txt", "Meh."),
]


def expected_imdb(ds: Dataset) -> None:
    assert ds.name == "imdb"
    # Sorted by (label, numeric id): neg 2 < 11, pos 9 < 10.
    assert ds.train.texts == ["Awful film.", "Dull.", "Fine enough.", "Great.  Loved it."]
    assert ds.train.labels.tolist() == [0, 0, 1, 1]
    assert ds.eval.texts == ["Bad.", "Superb."]
    assert ds.eval.labels.tolist() == [0, 1]
    assert ds.unlabeled is not None
    assert ds.unlabeled.texts == ["Meh.", "Saw it."]
    assert ds.unlabeled.labels.tolist() == [-1, -1]
    assert ds.unlabeled.num_labeled == 0


def make_imdb_tarball(root: Path, files=IMDB_FILES, extra: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        entries = [(f"aclImdb/{s}/{f}/{n}", t) for s, f, n, t in files]
        if extra:
            entries += [("aclImdb/README", "readme"), ("aclImdb/train/urls_pos.txt", "http://x")]
        for name, text in entries:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return root


def make_imdb_folder(root: Path, files=IMDB_FILES) -> Path:
    for s, f, n, t in files:
        write(root / "aclImdb" / s / f / n, t)
    write(root / "aclImdb" / "imdb.vocab", "the\n")
    return root


def test_imdb_tarball(tmp_path: Path) -> None:
    ds = load_imdb(make_imdb_tarball(tmp_path))
    expected_imdb(ds)
    assert "aclImdb_v1.tar.gz" in ds.train.source


def test_imdb_folder(tmp_path: Path) -> None:
    expected_imdb(load_imdb(make_imdb_folder(tmp_path)))


def test_imdb_order_independent_of_archive_order(tmp_path: Path) -> None:
    a = load_imdb(make_imdb_tarball(tmp_path / "a"))
    b = load_imdb(make_imdb_tarball(tmp_path / "b", files=list(reversed(IMDB_FILES))))
    for split in ("train", "eval", "unlabeled"):
        assert getattr(a, split).texts == getattr(b, split).texts
        assert getattr(a, split).labels.tolist() == getattr(b, split).labels.tolist()


def test_imdb_without_unlabeled(tmp_path: Path) -> None:
    no_unsup = [f for f in IMDB_FILES if f[1] != "unsup"]
    ds = load_imdb(make_imdb_tarball(tmp_path, files=no_unsup), include_unlabeled=False)
    assert ds.unlabeled is None
    assert len(ds.train) == 4


def test_imdb_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither aclImdb/ nor aclImdb_v1.tar.gz found"):
        load_imdb(tmp_path)


def test_imdb_empty_folder(tmp_path: Path) -> None:
    files = [f for f in IMDB_FILES if (f[0], f[1]) != ("test", "pos")]
    make_imdb_folder(tmp_path, files)
    (tmp_path / "aclImdb" / "test" / "pos").mkdir()
    with pytest.raises(DataError, match=r"aclImdb/test/pos: no reviews found"):
        load_imdb(tmp_path)


def test_imdb_tarball_missing_folder(tmp_path: Path) -> None:
    files = [f for f in IMDB_FILES if f[1] != "unsup"]
    make_imdb_tarball(tmp_path, files)
    with pytest.raises(DataError, match=r"aclImdb_v1\.tar\.gz: aclImdb/train/unsup: no reviews found"):
        load_imdb(tmp_path)


def test_imdb_corrupt_tarball(tmp_path: Path) -> None:
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="cannot read the archive"):
        load_imdb(tmp_path)


# ---------------------------------------------------------------- tables


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
        ("bad.tsv", "text\tlabel\nok\t2\n", r"bad\.tsv:2: label '2' is not one of"),
        ("bad.jsonl", '{"text": "ok", "label": 1}\n{"text": "x", "label": 3}\n', r"bad\.jsonl:2: label 3 is not"),
        ("bad.jsonl", '{"text": "ok"}\n\n{"text": \n', r"bad\.jsonl:3: invalid JSON"),
        ("bad.jsonl", '{"text": "ok"}\n{"label": 1}\n', r"bad\.jsonl:2: missing key 'text'"),
        ("bad.csv", "id,label\n1,0\n", r"bad\.csv:1: no text column \(expected one of"),
        ("bad.csv", "text,label\n ,1\n", r"bad\.csv:2: empty text"),
        ("bad.txt", "hello\n", r"bad\.txt: unknown file type '\.txt'"),
        ("empty.csv", "", r"empty\.csv: file is empty"),
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


# ---------------------------------------------------------------- Split / registry


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


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_data_dir(str(tmp_path)) == tmp_path.resolve()
    with pytest.raises(DataError, match="--data-dir .*: folder not found"):
        resolve_data_dir(str(tmp_path / "nope"))
    monkeypatch.setenv("KDEDGE_DATA", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path.resolve()
    monkeypatch.setenv("KDEDGE_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataError, match=r"\$KDEDGE_DATA .*: folder not found"):
        resolve_data_dir(None)


def test_resolve_data_dir_default_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KDEDGE_DATA", raising=False)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert resolve_data_dir(None) == (tmp_path / "shared" / "data").resolve()


def test_load_dataset_by_name(tmp_path: Path) -> None:
    assert DATASETS == ("sst2", "imdb", "custom")
    assert len(load_dataset("sst2", data_dir=str(make_sst2(tmp_path / "s"))).train) == 3
    assert len(load_dataset("imdb", data_dir=str(make_imdb_tarball(tmp_path))).eval) == 2


def test_load_dataset_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_dataset("x")
    assert str(e.value) == "--dataset: unknown dataset 'x' (choose sst2, imdb, custom)"
    with pytest.raises(ConfigError, match="--train-file and --eval-file"):
        load_dataset("custom", train_file="a.csv")
    with pytest.raises(ConfigError, match="only for --dataset custom"):
        load_dataset("sst2", data_dir=str(tmp_path), train_file="a.csv")


# ---------------------------------------------------------------- unlabeled transfer text

def test_split_sentences() -> None:
    from kdedge.data.unlabeled import split_sentences
    assert split_sentences("I liked it. But the end? \"Awful\" really! ok") == [
        "I liked it.", "But the end?", "\"Awful\" really! ok"]


def test_imdb_unlabeled_sentences_and_data_stage(tmp_path: Path) -> None:
    from kdedge.data.stage import DataConfig, run_data
    from kdedge.data.unlabeled import imdb_unlabeled

    review = "The plot was thin. The cast was great fun!<br />Go see it now."
    files = IMDB_FILES + [("train", "unsup", "7_0.txt", review)]
    root = make_imdb_tarball(tmp_path / "data", files)
    write(root / "SST-2" / "train.tsv", "sentence\tlabel\na fine film \t1\n")
    write(root / "SST-2" / "dev.tsv", "sentence\tlabel\na bad film \t0\n")
    u = imdb_unlabeled(root, max_texts=10, min_words=3)
    assert sorted(u.texts) == ["Go see it now.", "The cast was great fun!", "The plot was thin."]
    assert (u.labels == -1).all()
    assert len(imdb_unlabeled(root, max_texts=2, min_words=3)) == 2

    run_data(tmp_path / "out", DataConfig(dataset="sst2", data_dir=str(root), max_unlabeled=2))  # auto: imdb
    back = Split.from_jsonl(tmp_path / "out" / "unlabeled.jsonl", "unlabeled")
    assert len(back) == 2 and set(back.texts) <= set(u.texts)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["unlabeled"]["examples"] == 2
    # Without IMDB in the folder, auto means none.
    (root / "aclImdb_v1.tar.gz").unlink()
    run_data(tmp_path / "out2", DataConfig(dataset="sst2", data_dir=str(root)))
    assert not (tmp_path / "out2" / "unlabeled.jsonl").exists()
    assert json.loads((tmp_path / "out2" / "config.json").read_text())["unlabeled_resolved"] == "none"


def test_custom_dataset_keeps_its_unlabeled_file(tmp_path: Path) -> None:
    from kdedge.data.stage import DataConfig, run_data

    train = write(tmp_path / "train.csv", "text,label\ngood,1\nbad,0\n")
    evals = write(tmp_path / "eval.jsonl", '{"text": "fine", "label": 1}\n')
    unl = write(tmp_path / "more.tsv", "text\nsome text\nmore text\n")
    run_data(tmp_path / "out", DataConfig(dataset="custom", train_file=str(train), eval_file=str(evals),
                                          unlabeled_file=str(unl), data_dir=str(tmp_path / "nothing-here")))
    back = Split.from_jsonl(tmp_path / "out" / "unlabeled.jsonl", "unlabeled")
    assert back.texts == ["some text", "more text"]
