"""Interruptions: a real `kdedge pipeline` child process is SIGKILLed in the middle of distillation; a rerun
with --resume finishes from the checkpoints, every stage folder that says it is complete holds its files,
and the student files are byte-identical to the uninterrupted run's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from kdedge import layout
from tests.support import tiny_flags

REQUIRED = {"data": (layout.TRAIN, layout.EVAL, layout.STATS), "teacher": (layout.TEACHER_MODEL, layout.METRICS),
            "student": (layout.TOKENIZER, layout.STUDENT),
            "distill": (layout.STUDENT, layout.TOKENIZER, layout.HISTORY, layout.METRICS),
            "export": (layout.MANIFEST, layout.TOKENIZER)}


def _complete_means_whole(run):
    for stage, files in REQUIRED.items():
        if layout.is_complete(run / stage):
            missing = [f for f in files if not (run / stage / f).exists()]
            assert not missing, (stage, missing)


def test_a_pipeline_killed_mid_distill_resumes_to_the_same_files(pipeline_run, tiny_data_dir, tiny_teacher_init,
                                                                  tmp_path):
    run = tmp_path / "run"
    shutil.copytree(pipeline_run, run, ignore=shutil.ignore_patterns("distill", "export", "bench"))
    timings = json.loads((run / layout.TIMINGS).read_text())
    (run / layout.TIMINGS).write_text(json.dumps({k: v for k, v in timings.items() if k in
                                                  ("data", "teacher", "student")}))
    cmd = [sys.executable, "-m", "kdedge", "pipeline", "--out", str(run), "--resume",
           *tiny_flags(tiny_data_dir, tiny_teacher_init, pipeline_run.parent / "cache")]
    log = tmp_path / "first.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    try:  # kill it once distillation has finished its third epoch (of six)
        while "distill epoch 3:" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-2000:]
    _complete_means_whole(run)
    assert not layout.is_complete(run / "distill") and (run / "distill" / layout.CHECKPOINTS).is_dir()

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "distill: resumed after epoch" in second.stderr and "distill epoch 1:" not in second.stderr
    _complete_means_whole(run)
    assert not (run / "distill" / layout.CHECKPOINTS).exists()
    old = {e["name"]: e for e in json.loads((pipeline_run / "export" / layout.MANIFEST).read_text())["models"]}
    new = {e["name"]: e for e in json.loads((run / "export" / layout.MANIFEST).read_text())["models"]}
    for name, entry in new.items():
        if entry["kind"] != "teacher":  # the teacher .tflite is reconverted from the same weights: compared below
            assert entry["sha256"] == old[name]["sha256"], name
    a = json.loads((pipeline_run / "bench" / layout.REPORT_JSON).read_text())
    b = json.loads((run / "bench" / layout.REPORT_JSON).read_text())
    assert [(r["name"], r["accuracy"]) for r in a["models"]] == [(r["name"], r["accuracy"]) for r in b["models"]]
