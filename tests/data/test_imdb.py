"""The Stanford IMDB layout, extracted or as the tarball (kdedge.data.imdb)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdedge.data import load_imdb
from kdedge.errors import DataError
from tests.data.builders import IMDB_FILES, expected_imdb, make_imdb_folder, make_imdb_tarball


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
