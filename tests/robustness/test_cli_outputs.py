"""Every command refuses an output folder it cannot write to in one line (exit 2), before any work, and
leaves nothing behind; an input file it cannot read is one line too."""

from __future__ import annotations

import pytest

from tests.test_cli import kdedge

UNWRITABLE = "/proc/kdedge-cannot-write/out"  # a pseudo filesystem: mkdir fails even for root


def _commands(run, data_dir):
    d = {s: str(run / s) for s in ("data", "teacher", "student", "distill", "export")}
    return {
        "data": ["data", "--dataset", "sst2", "--data-dir", str(data_dir), "--unlabeled", "none"],
        "student": ["student", "--data", d["data"], "--teacher-dir", d["teacher"]],
        "distill": ["distill", "--data", d["data"], "--teacher-dir", d["teacher"], "--student-dir", d["student"]],
        "export": ["export", "--distill", d["distill"], "--data", d["data"], "--no-teacher"],
        "bench": ["bench", "--export-dir", d["export"], "--data", d["data"]],
        "explain": ["explain", "--export-dir", d["export"], "--teacher-dir", d["teacher"], "--distill-dir",
                    d["distill"], "--text", "good"],
        "pipeline": ["pipeline", "--dataset", "sst2"],
    }


@pytest.mark.parametrize("command", ["data", "student", "distill", "export", "bench", "explain", "pipeline"])
def test_an_unwritable_out_is_one_line_and_exit_2(pipeline_run, tiny_data_dir, command):
    proc = kdedge(*_commands(pipeline_run, tiny_data_dir)[command], "--out", UNWRITABLE)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("kdedge:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines == [f"kdedge: error: --out {UNWRITABLE}: cannot write there (No such file or directory)"], lines


def test_an_unreadable_input_file_is_one_line(pipeline_run, tmp_path):
    folder = tmp_path / "file-not-folder"
    folder.write_text("x")
    proc = kdedge("predict", str(tmp_path), "good film")
    assert proc.returncode == 2 and "is a folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = kdedge("bench", "--export-dir", str(folder), "--data", str(pipeline_run / "data"), "--out",
                  str(tmp_path / "b"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and not (tmp_path / "b").exists()
