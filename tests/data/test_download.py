"""Downloading a dataset for a user with no data folder, for real, from a server on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kdedge.data.download import SOURCES, ensure_source
from kdedge.errors import DataError
from tests.data.builders import REAL_DATA

pytestmark = pytest.mark.skipif(not (REAL_DATA / "SST-2").is_dir(), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """The official archive names, built from ../shared/data, served on 127.0.0.1 by its own process group."""
    root = tmp_path_factory.mktemp("mirror")
    with zipfile.ZipFile(root / "SST-2.zip", "w") as z:
        for name in ("train.tsv", "dev.tsv"):
            z.write(REAL_DATA / "SST-2" / name, f"SST-2/{name}")
    with zipfile.ZipFile(root / "trainDevTestTrees_PTB.zip", "w") as z:
        for name in ("train.txt", "dev.txt", "test.txt"):
            z.write(REAL_DATA / "trainDevTestTrees_PTB" / "trees" / name, f"trees/{name}")
    (root / "aclImdb_v1.tar.gz").symlink_to(REAL_DATA / "aclImdb_v1.tar.gz")
    log = open(root / "requests.log", "w")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("mirror_server.py")), str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        port = int(proc.stdout.readline())
        yield {"url": f"http://127.0.0.1:{port}", "proc": proc, "log": log}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def _use(monkeypatch, mirror, mode: str, folder: Path) -> None:
    monkeypatch.setenv("KDEDGE_MIRROR", f"{mirror['url']}/{mode}")
    monkeypatch.setenv("KDEDGE_DATA", str(folder))


def test_data_stage_downloads_verifies_and_places_the_dataset(mirror, monkeypatch, tmp_path):
    from kdedge.cli import main

    _use(monkeypatch, mirror, "ok", tmp_path / "cache")
    main(["data", "--dataset", "sst5", "--unlabeled", "none", "--out", str(tmp_path / "d")])
    trees = tmp_path / "cache" / "trainDevTestTrees_PTB" / "trees"
    assert sorted(p.name for p in trees.iterdir()) == ["dev.txt", "test.txt", "train.txt"]
    assert not (tmp_path / "cache" / ".downloads" / "trainDevTestTrees_PTB.zip").exists()
    assert (tmp_path / "d" / "train.jsonl").read_text().count("\n") == 8544
    # SST-2 comes with its test sentences from the treebank, already there.
    main(["data", "--dataset", "sst2", "--unlabeled", "none", "--out", str(tmp_path / "d2")])
    assert (tmp_path / "cache" / "SST-2" / "train.tsv").is_file()
    assert (tmp_path / "d2" / "test.jsonl").read_text().count("\n") == 1821


def test_an_interrupted_download_resumes_with_a_range_request(mirror, monkeypatch, tmp_path):
    _use(monkeypatch, mirror, "truncate", tmp_path)
    with pytest.raises(DataError, match="run again to resume"):
        ensure_source("sst2", tmp_path)
    part = tmp_path / ".downloads" / "SST-2.zip.part"
    assert part.is_file() and not (tmp_path / "SST-2").exists()
    half = part.stat().st_size
    ensure_source("sst2", tmp_path)
    assert (tmp_path / "SST-2" / "dev.tsv").read_bytes() == (REAL_DATA / "SST-2" / "dev.tsv").read_bytes()
    assert half > 0 and not part.exists()


def test_a_corrupt_download_is_refused_and_leaves_nothing(mirror, monkeypatch, tmp_path):
    _use(monkeypatch, mirror, "corrupt", tmp_path)
    with pytest.raises(DataError, match="does not match the pinned SHA-256"):
        ensure_source("trees", tmp_path)
    assert not (tmp_path / "trainDevTestTrees_PTB").exists()
    assert not list((tmp_path / ".downloads").iterdir())


def test_the_imdb_tarball_is_verified_by_its_review_files(mirror, monkeypatch, tmp_path):
    _use(monkeypatch, mirror, "ok", tmp_path)
    ensure_source("imdb", tmp_path)
    assert (tmp_path / "aclImdb_v1.tar.gz").stat().st_size == (REAL_DATA / "aclImdb_v1.tar.gz").stat().st_size


def test_offline_and_unreachable_say_where_the_files_go(monkeypatch, tmp_path, capsys):
    from kdedge.cli import main

    monkeypatch.setenv("KDEDGE_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here
    with pytest.raises(SystemExit) as e:
        main(["data", "--dataset", "sst3", "--offline", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1
    assert SOURCES["trees"].url in err[0] and str(tmp_path / "cache") in err[0] and "--offline" in err[0]
    monkeypatch.setenv("KDEDGE_MIRROR", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1:9/trainDevTestTrees_PTB\.zip"):
        ensure_source("trees", tmp_path / "cache")
    assert not (tmp_path / "d").exists()
