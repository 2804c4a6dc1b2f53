"""Determinism: the same seed and inputs give the same files. The tiny run's student, distill and export
stages are run again on its data and teacher (same settings, read from its config.json) and compared file by
file; benchmarks/results/reliability.md lists which stages are bitwise reproducible."""

from __future__ import annotations

import hashlib
import json

import numpy as np


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_student_distill_and_export_are_reproducible(pipeline_run, tmp_path):
    from kdedge.models.student import load_student
    from kdedge.stages.distill import DistillConfig, run_distill
    from kdedge.stages.export import ExportConfig, run_export
    from kdedge.stages.student import StudentConfig, run_student

    config = json.loads((pipeline_run / "config.json").read_text())
    data, teacher = pipeline_run / "data", pipeline_run / "teacher"
    run_student(data, tmp_path / "student", StudentConfig(**config["student"]), teacher)
    run_distill(data, teacher, tmp_path / "student", tmp_path / "distill", DistillConfig(**config["distill"]))
    run_export(tmp_path / "distill", teacher, data, tmp_path / "export", ExportConfig(**config["export"]))

    # The student stage: the tokenizer file and the initial weights, bitwise.
    assert _sha(tmp_path / "student" / "tokenizer.json") == _sha(pipeline_run / "student" / "tokenizer.json")
    for a, b in zip(load_student(tmp_path / "student" / "student.keras").get_weights(),
                    load_student(pipeline_run / "student" / "student.keras").get_weights()):
        assert np.array_equal(a, b)
    # Distill: the same transfer set and teacher rows, and the same trained weights (bitwise on this CPU).
    m1 = json.loads((tmp_path / "distill" / "metrics.json").read_text())
    m0 = json.loads((pipeline_run / "distill" / "metrics.json").read_text())
    assert m1["transfer_parts"] == m0["transfer_parts"] and m1["eval_accuracy"] == m0["eval_accuracy"]
    for name in ("history.json", "baseline_history.json"):  # every epoch's losses and accuracies
        h1, h0 = (json.loads((d / "distill" / name).read_text()) for d in (tmp_path, pipeline_run))
        strip = [{k: v for k, v in row.items() if "seconds" not in k} for row in h1], \
            [{k: v for k, v in row.items() if "seconds" not in k} for row in h0]
        assert strip[0] == strip[1], name
    for a, b in zip(load_student(tmp_path / "distill" / "student.keras").get_weights(),
                    load_student(pipeline_run / "distill" / "student.keras").get_weights()):
        assert np.array_equal(a, b)
    # Export: every student file byte for byte (the converter is deterministic on the same weights).
    manifest = {e["name"]: e for e in json.loads((tmp_path / "export" / "manifest.json").read_text())["models"]}
    before = {e["name"]: e for e in json.loads((pipeline_run / "export" / "manifest.json").read_text())["models"]}
    for name, entry in manifest.items():
        if entry["kind"] != "teacher":
            assert entry["sha256"] == before[name]["sha256"], name
