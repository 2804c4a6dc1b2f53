"""Model files from elsewhere are input to validate: corrupt, truncated, random-byte, swapped and
path-escaping files get one line and exit 2, and the kdedge process does not die on them."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.test_cli import kdedge

BENCH_FAST = ["--threads", "1", "--xnnpack", "on", "--lengths", "", "--min-runs", "5", "--time-cap", "0.05",
              "--no-probe", "--models", "student_int8"]


@pytest.fixture()
def export(pipeline_run, tmp_path):
    """A copy of the tiny run's export folder, to damage."""
    out = tmp_path / "export"
    shutil.copytree(pipeline_run / "export", out)
    return out


def _one_line_exit_2(proc, *says):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for s in says:
        assert s in lines[0], lines[0]


def _bench(export, pipeline_run, out):
    return kdedge("bench", "--export-dir", str(export), "--data", str(pipeline_run / "data"), "--out", str(out),
                  *BENCH_FAST)


def test_bench_refuses_a_file_replaced_after_export(export, pipeline_run, tmp_path):
    shutil.copyfile(export / "student_float32.tflite", export / "student_int8.tflite")  # a valid model, not its own
    _one_line_exit_2(_bench(export, pipeline_run, tmp_path / "b"), "student_int8.tflite", "not the manifest's")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name, says", [("../outside.tflite", "not a path inside"),
                                        ("/etc/passwd", "not a path inside"), ("", "not a path inside"),
                                        (None, "not a path inside"), ("nothere.tflite", "is missing"),
                                        ("link.tflite", "leads outside")])
def test_manifest_paths_must_stay_inside_the_export_folder(export, tmp_path, name, says):
    from kdedge import layout
    from kdedge.errors import StageInputError

    manifest = json.loads((export / "manifest.json").read_text())
    entry = next(e for e in manifest["models"] if e["name"] == "student_int8")
    shutil.copyfile(export / "student_int8.tflite", tmp_path / "outside.tflite")
    os.symlink(tmp_path / "outside.tflite", export / "link.tflite")
    entry["file"] = name
    with pytest.raises(StageInputError, match=says):
        layout.manifest_models(export, [entry])
    entry["file"] = "student_int8.tflite"
    assert layout.manifest_models(export, [entry]) == [entry]


def _damaged(content: bytes, how: str) -> bytes:
    if how == "truncated":
        return content[:len(content) // 3]
    if how == "random":
        return os.urandom(len(content))
    if how == "identifier-only":
        return content[:8] + os.urandom(len(content) - 8)
    if how == "empty":
        return b""
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["random", "identifier-only", "empty"])
def test_a_corrupt_file_is_refused_by_textclassifier_in_one_line(export, how):
    from kdedge import TextClassifier
    from kdedge.errors import StageInputError

    path = export / "student_int8.tflite"
    path.write_bytes(_damaged(path.read_bytes(), how))
    with pytest.raises(StageInputError) as e:
        TextClassifier(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_a_corrupt_file_gets_one_line_from_bench_predict_and_serve(export, pipeline_run, tmp_path):
    from kdedge.io import sha256_file

    how = "truncated"
    path = export / "student_int8.tflite"
    path.write_bytes(_damaged(path.read_bytes(), how))
    manifest = json.loads((export / "manifest.json").read_text())  # the manifest vouches for it: LiteRT must refuse
    for entry in manifest["models"]:
        if entry["name"] == "student_int8":
            entry["sha256"] = sha256_file(path)
    (export / "manifest.json").write_text(json.dumps(manifest))
    _one_line_exit_2(_bench(export, pipeline_run, tmp_path / "b"), "student_int8.tflite")
    assert not (tmp_path / "b").exists()
    _one_line_exit_2(kdedge("predict", str(path), "good film"), "student_int8.tflite")
    _one_line_exit_2(kdedge("serve", str(path), "--port", "0"), "student_int8.tflite")


def _lambda_student(path):
    """A real .keras archive whose model runs Python code (a Lambda layer): what safe_mode exists to refuse."""
    import tensorflow as tf

    inp = tf.keras.Input((4,), dtype="int32")
    out = tf.keras.layers.Lambda(lambda x: tf.cast(x, "float32") * 2.0)(inp)
    tf.keras.Model(inp, tf.keras.layers.Dense(2)(out)).save(str(path))


def _named_function_student(path):
    """The Lambda student with its function renamed to ``os.system``: tf_keras 2.21 with safe_mode=True resolves
    that and calls it while rebuilding the model (measured here); kdedge must refuse before Keras reads it."""
    import json
    import zipfile

    _lambda_student(path)
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            layer["config"].update(function={"module": "os", "class_name": "function", "config": "system",
                                             "registered_name": "function"}, function_type="function", module="os")
            layer.update(class_name="Custom>Lambda")  # and under another name, so only the module check can stop it
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)


def _hostile_student(target, kind: str) -> str:
    """Write a hostile ``student.keras`` of ``kind``; what kdedge's refusal says."""
    import pickle
    import zipfile

    if kind == "lambda":
        _lambda_student(target)
        return "Lambda"
    if kind == "named-function":
        _named_function_student(target)
        return "module 'os'"
    if kind == "pickle":
        target.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
        return "not a .keras archive"
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("config.json", "{not json")
    return "cannot load"


@pytest.mark.parametrize("kind", ["lambda", "named-function", "pickle", "garbage-zip"])
def test_a_student_holding_code_or_a_pickle_is_refused(tmp_path, kind):
    from kdedge.errors import StageInputError
    from kdedge.models.student import load_student

    target = tmp_path / "student.keras"
    says = _hostile_student(target, kind)
    with pytest.raises(StageInputError, match=says) as e:
        load_student(target)
    assert "\n" not in str(e.value)


def test_export_of_a_hostile_student_exits_2_in_one_line_and_writes_nothing(pipeline_run, tmp_path):
    distill = tmp_path / "distill"
    shutil.copytree(pipeline_run / "distill", distill)
    says = _hostile_student(distill / "student.keras", "named-function")
    proc = kdedge("export", "--distill", str(distill), "--data", str(pipeline_run / "data"), "--no-teacher",
                  "--out", str(tmp_path / "export"))
    _one_line_exit_2(proc, "student.keras", says)
    assert not (tmp_path / "export").exists()


def test_a_teacher_folder_with_only_a_pickle_checkpoint_is_refused(pipeline_run, tmp_path):
    teacher = tmp_path / "bert"
    teacher.mkdir()
    for name in ("config.json", "vocab.txt"):
        shutil.copy(pipeline_run / "teacher" / "model" / name, teacher / name)
    (teacher / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle
    proc = kdedge("teacher", "--data", str(pipeline_run / "data"), "--teacher", str(teacher),
                  "--out", str(tmp_path / "t"))
    _one_line_exit_2(proc, "pickle")
    assert not (tmp_path / "t").exists()


def test_the_fuzz_campaign_runs_and_nothing_dies(pipeline_run, tmp_path):
    """benchmarks/fuzz_models.py, bounded: 40 mutated files; the committed run tries 1,000."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_models.py"
    proc = subprocess.run([sys.executable, str(script), "--export-dir", str(pipeline_run / "export"),
                           "--count", "40", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "fuzz.json").read_text())
    assert report["files"] == 40 and report["crashed_or_hung_not_refused"] == 0
    assert report["multi_line_messages"] == 0 and report["kdedge"].get("refused", 0) > 0
    assert {r["mutation"] for r in report["rows"]} >= {"truncate", "word", "random-body"}
