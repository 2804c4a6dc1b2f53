"""Datasets by name and the data folder (kdedge.data.registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdedge.data import DATASETS, load_dataset, resolve_data_dir
from kdedge.errors import ConfigError, DataError
from tests.data.builders import make_imdb_tarball, make_sst2


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
    assert DATASETS == ("sst2", "sst5", "sst3", "imdb", "custom")
    assert len(load_dataset("sst2", data_dir=str(make_sst2(tmp_path / "s"))).train) == 3
    assert len(load_dataset("imdb", data_dir=str(make_imdb_tarball(tmp_path))).eval) == 2


def test_load_dataset_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_dataset("x")
    assert str(e.value) == "--dataset: unknown dataset 'x' (choose sst2, sst5, sst3, imdb, custom)"
    with pytest.raises(ConfigError, match="--train-file and --eval-file"):
        load_dataset("custom", train_file="a.csv")
    with pytest.raises(ConfigError, match="only for --dataset custom"):
        load_dataset("sst2", data_dir=str(tmp_path), train_file="a.csv")
