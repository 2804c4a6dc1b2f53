"""Interruptions: real kdedge child processes are SIGKILLed in the middle of teacher fine-tuning, teacher
labeling, distillation and export; a rerun (``--resume`` where there is something to resume) finishes, every
stage folder that says it is complete holds its files, an output being replaced stays whole, and the results
equal the uninterrupted run's. Two exports at once into sibling folders do not disturb each other.
(The random-time kill campaign over the whole pipeline is ``benchmarks/kill_campaign.py``.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from kdedge import layout
from tests.support import file_hashes, incomplete_stages, tiny_flags


def kill_when(cmd: list[str], ready, log, timeout: float = 300) -> None:
    """Run ``cmd`` (output to ``log``) in its own process group and SIGKILL the group as soon as ``ready()``;
    fails if the command ended before that point."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "not killed where meant: " + log.read_text()[-2000:]


def kdedge_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "kdedge", *args]


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
    kill_when(cmd, lambda: "distill epoch 3:" in log.read_text(), log)  # after the third epoch of six
    assert incomplete_stages(run) == []
    assert not layout.is_complete(run / "distill") and (run / "distill" / layout.CHECKPOINTS).is_dir()

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "distill: resumed after epoch" in second.stderr and "distill epoch 1:" not in second.stderr
    assert incomplete_stages(run) == []
    assert not (run / "distill" / layout.CHECKPOINTS).exists()
    old = {e["name"]: e for e in json.loads((pipeline_run / "export" / layout.MANIFEST).read_text())["models"]}
    new = {e["name"]: e for e in json.loads((run / "export" / layout.MANIFEST).read_text())["models"]}
    for name, entry in new.items():
        if entry["kind"] != "teacher":  # the teacher .tflite is reconverted from the same weights: compared below
            assert entry["sha256"] == old[name]["sha256"], name
    a = json.loads((pipeline_run / "bench" / layout.REPORT_JSON).read_text())
    b = json.loads((run / "bench" / layout.REPORT_JSON).read_text())
    assert [(r["name"], r["accuracy"]) for r in a["models"]] == [(r["name"], r["accuracy"]) for r in b["models"]]


TEACHER_FLAGS = ["--max-len", "16", "--epochs", "3", "--batch-size", "16", "--lr", "1e-3"]  # the tiny pipeline's
DISTILL_FLAGS = ["--epochs", "6", "--batch-size", "16"]


def test_a_teacher_killed_mid_fine_tune_resumes_to_the_same_model(pipeline_run, tiny_teacher_init, tmp_path):
    from kdedge.models.teacher import load_teacher

    out = tmp_path / "teacher"
    cmd = kdedge_cmd("teacher", "--data", str(pipeline_run / "data"), "--teacher", str(tiny_teacher_init),
                     *TEACHER_FLAGS, "--checkpoint-every", "4", "--cache-dir", str(tmp_path / "cache"), "--out",
                     str(out))
    state = out / layout.CHECKPOINTS / "checkpoint"  # TF's index of the latest checkpoint
    kill_when(cmd, lambda: state.is_file() and "ckpt-3" in state.read_text(), tmp_path / "first.log")  # step 12/45
    assert not layout.is_complete(out) and not (out / layout.TEACHER_MODEL).exists()

    second = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    metrics = json.loads((out / layout.METRICS).read_text())
    assert metrics["resumed_at_step"] >= 12 and metrics["steps_run"] == metrics["steps"] - metrics["resumed_at_step"]
    assert not (out / layout.CHECKPOINTS).exists()
    reference = json.loads((pipeline_run / "teacher" / layout.METRICS).read_text())
    assert metrics["eval"] == reference["eval"]  # same accuracy and loss as the uninterrupted run
    a, _ = load_teacher(out / layout.TEACHER_MODEL)
    b, _ = load_teacher(pipeline_run / "teacher" / layout.TEACHER_MODEL)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-5)


def _distill(run, out, cache, *extra):
    return kdedge_cmd("distill", "--data", str(run / "data"), "--teacher-dir", str(run / "teacher"),
                      "--student-dir", str(run / "student"), *DISTILL_FLAGS, "--augment-copies", "20",
                      "--cache-dir", str(cache), "--out", str(out), *extra)


def test_labeling_killed_midway_resumes_without_relabeling_or_losing_a_text(pipeline_run, tmp_path):
    from kdedge.models.student import load_student
    from kdedge.training.logit_store import LogitStore

    # The train split (240 sentences), then ~2,200 distinct augmented copies, then the eval split: each part
    # is labeled into its own shards. The kill comes after the first shard, while the second is being labeled.
    log = tmp_path / "first.log"
    kill_when(_distill(pipeline_run, tmp_path / "a", tmp_path / "cache_a"), lambda: " labeled" in log.read_text(),
              log)
    shards = list((tmp_path / "cache_a").rglob("shard-*.npz"))
    assert len(shards) == 1  # the first shard was written, the second was being labeled
    second = subprocess.run(_distill(pipeline_run, tmp_path / "a", tmp_path / "cache_a", "--resume"),
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    reference = subprocess.run(_distill(pipeline_run, tmp_path / "b", tmp_path / "cache_b"), capture_output=True,
                               text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-3000:]

    ma, mb = (json.loads((tmp_path / d / layout.METRICS).read_text()) for d in ("a", "b"))
    assert ma["transfer_examples"] == mb["transfer_examples"] > 2000
    with np.load(shards[0], allow_pickle=False) as z:
        assert ma["teacher_texts_labeled"] == mb["teacher_texts_labeled"] - len(z["keys"])  # nothing labeled twice
    keys = {}
    for name in ("cache_a", "cache_b"):
        found = []
        for shard in (tmp_path / name).rglob("shard-*.npz"):
            with np.load(shard, allow_pickle=False) as z:
                found += [k.tobytes() for k in z["keys"]]
        assert len(found) == len(set(found))  # every text in exactly one shard
        keys[name] = set(found)
    assert keys["cache_a"] == keys["cache_b"]
    ns = next(p.name for p in (tmp_path / "cache_a" / "teacher_logits").iterdir())
    texts = [json.loads(line)["text"] for line in (pipeline_run / "data" / layout.TRAIN).read_text().splitlines()]

    def relabel(chunk):
        raise AssertionError(f"{len(chunk)} texts missing from the store")

    np.testing.assert_array_equal(LogitStore(tmp_path / "cache_a", ns).label(texts, relabel)[0],
                                  LogitStore(tmp_path / "cache_b", ns).label(texts, relabel)[0])
    for key in ("eval_accuracy", "baseline_eval_accuracy", "kept_epoch"):
        assert ma[key] == mb[key], key
    for wa, wb in zip(*(load_student(tmp_path / d / layout.STUDENT).get_weights() for d in ("a", "b"))):
        np.testing.assert_array_equal(wa, wb)


def _export(run, out, *extra):
    return kdedge_cmd("export", "--distill", str(run / "distill"), "--data", str(run / "data"), "--no-teacher",
                      "--calibration-examples", "50", "--check-examples", "64", "--out", str(out), *extra)


def test_an_export_killed_midway_leaves_the_previous_export_whole(pipeline_run, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(pipeline_run / "export", out)
    before = file_hashes(out)
    staging = tmp_path / ".export.partial"
    kill_when(_export(pipeline_run, out, "--overwrite"),
              lambda: staging.is_dir() and any(p.suffix == ".tflite" for p in staging.iterdir()), tmp_path / "k.log")
    assert file_hashes(out) == before  # the export it was replacing, byte for byte
    again = subprocess.run(_export(pipeline_run, out, "--overwrite"), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not staging.exists()
    new = file_hashes(out)
    for name in ("student_float32.tflite", "student_int8.tflite", "baseline_float32.tflite", layout.TOKENIZER):
        assert new[name] == before[name], name  # the same files an uninterrupted export wrote


def test_two_exports_at_once_into_sibling_folders_both_complete(pipeline_run, tmp_path):
    procs = [subprocess.Popen(_export(pipeline_run, tmp_path / name), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for name in ("one", "two")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    reference = file_hashes(pipeline_run / "export")
    for name in ("one", "two"):
        got = file_hashes(tmp_path / name)
        entries = json.loads((tmp_path / name / layout.MANIFEST).read_text())["models"]
        assert layout.manifest_models(tmp_path / name, entries)  # every file the one its manifest names
        for f in ("student_float32.tflite", "student_int8.tflite", "baseline_float32.tflite"):
            assert got[f] == reference[f], (name, f)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_teacher_resume_with_other_settings_says_it_starts_over(pipeline_run, tiny_teacher_init, tmp_path):
    """--resume over checkpoints of other settings: one line saying so, then a full run of the new settings."""
    out = tmp_path / "teacher"
    cmd = kdedge_cmd("teacher", "--data", str(pipeline_run / "data"), "--teacher", str(tiny_teacher_init),
                     *TEACHER_FLAGS, "--checkpoint-every", "4", "--cache-dir", str(tmp_path / "cache"), "--out",
                     str(out))
    state = out / layout.CHECKPOINTS / "checkpoint"
    kill_when(cmd, lambda: state.is_file() and "ckpt-2" in state.read_text(), tmp_path / "first.log")
    second = subprocess.run([*cmd, "--resume", "--epochs", "1"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "made with other settings or data: starting over" in second.stderr
    metrics = json.loads((out / layout.METRICS).read_text())
    assert metrics["resumed_at_step"] == 0 and metrics["steps_run"] == metrics["steps"] == 15


def test_pipeline_resume_with_other_settings_is_refused_in_one_line(pipeline_run, tiny_data_dir, tiny_teacher_init,
                                                                     tmp_path):
    cmd = kdedge_cmd("pipeline", "--out", str(pipeline_run), "--resume",
                     *tiny_flags(tiny_data_dir, tiny_teacher_init, tmp_path / "cache"), "--epochs", "7")
    before = file_hashes(pipeline_run)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("kdedge:")]
    assert proc.returncode == 2 and len(lines) == 1 and "was made with other settings" in lines[0], proc.stderr
    assert file_hashes(pipeline_run) == before
