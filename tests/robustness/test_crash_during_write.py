"""Crash during a write: when the disk fills up under a command that replaces an earlier output
(``--overwrite``), the earlier output stays whole and readable, byte for byte, and the command says so in
one line. The full disk is real to the process: a file-size rlimit in the child makes every write past it
fail with EFBIG, exactly where ENOSPC would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from kdedge import layout
from kdedge.io import partial_path
from tests.support import file_hashes, tiny_flags


def _limit(nbytes: int):
    def apply():
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))  # Python ignores SIGXFSZ: writes fail
    return apply


def _kdedge_on_a_full_disk(args, nbytes: int):
    return subprocess.run([sys.executable, "-m", "kdedge", *args], capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit(nbytes))


def _stages(run, data_dir, out):
    d = {s: str(run / s) for s in ("data", "teacher", "student", "distill", "export")}
    return {
        "data": ["data", "--dataset", "sst2", "--data-dir", str(data_dir), "--unlabeled", "none", "--out", out],
        "export": ["export", "--distill", d["distill"], "--data", d["data"], "--no-teacher", "--calibration-examples",
                   "50", "--check-examples", "64", "--out", out],
    }


@pytest.mark.parametrize("stage", ["data", "export"])
def test_a_full_disk_during_overwrite_keeps_the_earlier_output(pipeline_run, tiny_data_dir, tmp_path, stage):
    out = tmp_path / stage
    shutil.copytree(pipeline_run / stage, out)
    before = file_hashes(out)
    biggest = max(p.stat().st_size for p in out.rglob("*") if p.is_file() and not p.name.startswith("teacher"))
    proc = _kdedge_on_a_full_disk([*_stages(pipeline_run, tiny_data_dir, str(out))[stage], "--overwrite"],
                                  biggest // 2)
    assert proc.returncode != 0, proc.stderr[-2000:]
    assert file_hashes(out) == before  # the earlier output, byte for byte
    assert not partial_path(out).exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kdedge:")]
    assert len(errors) == 1 and "File too large" in errors[0] and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    if stage == "export":  # and it still verifies: every model file is the one its manifest names
        assert layout.manifest_models(out, json.loads((out / layout.MANIFEST).read_text())["models"])


def test_a_full_disk_during_pipeline_overwrite_keeps_the_earlier_run(pipeline_run, tiny_data_dir,
                                                                      tiny_teacher_init, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(pipeline_run, run)
    before = file_hashes(run)
    proc = _kdedge_on_a_full_disk(["pipeline", "--out", str(run), "--overwrite",
                                   *tiny_flags(tiny_data_dir, tiny_teacher_init, tmp_path / "cache")], 4096)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert file_hashes(run) == before
    # What the new run had written is kept for `--resume` (its settings are recorded first), apart from the old.
    assert json.loads((partial_path(run) / layout.CONFIG).read_text())["data"]["dataset"] == "sst2"
