"""Teacher labeling on Apache Beam (DirectRunner, two worker processes) against the in-process labeler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kdedge.stages.label import LabelConfig, run_label
from kdedge.training.logit_store import LogitStore
from tests.support import write_sst2

pytest.importorskip("apache_beam", reason="Apache Beam is the optional extra kdedge[beam] (.ci/run installs it)")


def shard_rows(store_folder) -> tuple[dict[bytes, np.ndarray], list[str], int]:
    """Every row of a store namespace, its shard file names, and how many rows the shards hold in all."""
    rows, total = {}, 0
    names = sorted(p.name for p in store_folder.glob("shard-*.npz"))
    for name in names:
        with np.load(store_folder / name, allow_pickle=False) as z:
            total += len(z["keys"])
            rows.update((k.tobytes(), v) for k, v in zip(z["keys"], z["logits"]))
    return rows, names, total


@pytest.fixture(scope="module")
def big_data(tmp_path_factory):
    """A data folder of a few thousand texts (the tiny task's sentences)."""
    from kdedge.stages.data import DataConfig, run_data

    raw = tmp_path_factory.mktemp("raw")
    write_sst2(raw, n_train=3000, n_eval=200)
    out = tmp_path_factory.mktemp("label") / "data"
    run_data(out, DataConfig(dataset="sst2", data_dir=str(raw)))
    return out


def test_beam_workers_write_the_in_process_logits_bitwise_and_each_text_once(pipeline_run, big_data, tmp_path):
    teacher = pipeline_run / "teacher"
    shard = 400
    stores = {}
    for name, runner in (("inprocess", "inprocess"), ("beam", "direct")):
        cache = tmp_path / name
        # Both stores start with the eval texts, so the rest is cut into the same shards.
        first = run_label(big_data, teacher, LabelConfig(runner="inprocess", parts="eval", cache_dir=str(cache),
                                                         shard_size=shard))
        assert first["rows_written"] == first["unique_missing"] > 0
        stores[name] = run_label(big_data, teacher, LabelConfig(runner=runner, workers=2, cache_dir=str(cache),
                                                                shard_size=shard))
    ours, theirs = stores["inprocess"], stores["beam"]
    assert theirs["runner"] == "DirectRunner" and theirs["workers"] == 2
    assert theirs["unique_missing"] == ours["unique_missing"] > 2000 and theirs["still_missing"] == 0
    assert theirs["rows_written"] == theirs["unique_missing"] and theirs["shards"] == -(-theirs["unique_missing"]
                                                                                        // shard)
    a, names_a, _ = shard_rows(Path(ours["store"]))
    b, names_b, total_b = shard_rows(Path(theirs["store"]))
    assert Path(ours["store"]).name == Path(theirs["store"]).name  # one teacher, one namespace
    assert names_a == names_b  # the same shards (named by their keys)
    assert total_b == len(b) == len(a)  # no text in two shards
    assert all(np.array_equal(a[k], b[k]) for k in a)  # bitwise
    again = run_label(big_data, teacher, LabelConfig(runner="direct", workers=2, cache_dir=str(tmp_path / "beam")))
    assert again["unique_missing"] == 0 and again["shards"] == 0  # nothing to do: no pipeline runs


def test_a_shard_skips_rows_another_labeler_wrote_meanwhile(tmp_path):
    store = LogitStore(tmp_path, "ns")
    store.add(["a", "b"], np.array([[1, 2], [3, 4]], dtype=np.float32))
    late = LogitStore(tmp_path, "ns")  # a worker that labeled "b" and "c" before seeing the shard above
    assert late.add_new(["b", "c"], np.array([[9, 9], [5, 6]], dtype=np.float32)) == 1
    rows, names, total = shard_rows(tmp_path / "teacher_logits" / "ns")
    assert len(names) == 2 and total == 3
    z, n = LogitStore(tmp_path, "ns").label(["a", "b", "c"], lambda texts: pytest.fail("relabeled"))
    assert n == 0
    np.testing.assert_array_equal(z, [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--parts", "train,bogus"], "--parts: choose from"),
    (["--shard-size", "0"], "--shard-size must be >= 1"),
])
def test_label_bad_flags_are_one_line_and_exit_2(pipeline_run, flags, message):
    r = subprocess.run([sys.executable, "-m", "kdedge", "label", "--data", str(pipeline_run / "data"),
                        "--teacher-dir", str(pipeline_run / "teacher"), *flags], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
