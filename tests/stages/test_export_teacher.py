"""The teacher exported as dynamic-range and full-integer int8 files beside the float32 reference."""

from __future__ import annotations

import json

import numpy as np

from kdedge.cli import main


def test_teacher_modes_write_quantized_teacher_files_that_bench_scores_against_float32(pipeline_run, tmp_path):
    out = tmp_path / "export"
    main(["export", "--distill-dir", str(pipeline_run / "distill"), "--teacher-dir", str(pipeline_run / "teacher"),
          "--data", str(pipeline_run / "data"), "--modes", "int8", "--teacher-modes", "int8,dynamic,float32",
          "--calibration-examples", "50", "--check-examples", "32", "--out", str(out)])
    teachers = [m for m in json.loads((out / "manifest.json").read_text())["models"] if m["kind"] == "teacher"]
    assert [m["name"] for m in teachers] == ["teacher_float32", "teacher_dynamic", "teacher_int8"]  # reference first
    from ai_edge_litert.interpreter import Interpreter

    def weight_types(name):
        interp = Interpreter(model_path=str(out / f"{name}.tflite"))
        return {np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}

    assert "int8" not in weight_types("teacher_float32")
    assert "int8" in weight_types("teacher_dynamic") and "float32" in weight_types("teacher_dynamic")
    inp = Interpreter(model_path=str(out / "teacher_int8.tflite")).get_input_details()
    assert [d["dtype"] for d in inp] == [np.int32, np.int32]  # ids in, as the float file
    sizes = {m["name"]: m["bytes"] for m in teachers}
    assert sizes["teacher_int8"] < sizes["teacher_float32"] and sizes["teacher_dynamic"] < sizes["teacher_float32"]

    main(["bench", "--export-dir", str(out), "--data", str(pipeline_run / "data"), "--models",
          "teacher_float32,teacher_dynamic,teacher_int8", "--threads", "1", "--xnnpack", "on", "--lengths", "8",
          "--min-runs", "10", "--warmup", "2", "--time-cap", "0.2", "--no-probe", "--out", str(tmp_path / "bench")])
    rows = {r["name"]: r for r in json.loads((tmp_path / "bench" / "report.json").read_text())["models"]}
    assert rows["teacher_float32"]["agreement_with_teacher"] == 1.0
    for name in ("teacher_dynamic", "teacher_int8"):
        assert rows[name]["agreement_with_teacher"] >= 0.9, (name, rows[name]["agreement_with_teacher"])
        assert abs(rows[name]["accuracy"] - rows["teacher_float32"]["accuracy"]) <= 0.1


def test_teacher_modes_must_hold_float32(pipeline_run, tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "kdedge", "export", "--distill-dir", str(pipeline_run / "distill"),
                        "--teacher-dir", str(pipeline_run / "teacher"), "--data", str(pipeline_run / "data"),
                        "--teacher-modes", "int8", "--out", str(tmp_path / "e")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "--teacher-modes" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e").exists()
