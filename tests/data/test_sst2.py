"""GLUE SST-2 TSVs (kdedge.data.sst2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdedge.data import load_sst2
from kdedge.errors import DataError
from kdedge.data import resolve_data_dir
from tests.data.builders import REAL_DATA, SST2_DEV, SST2_TRAIN, make_sst2, write


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
