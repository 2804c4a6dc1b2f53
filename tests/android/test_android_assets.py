"""`kdedge android-assets` and `kdedge export --android-assets DIR` write exactly what the app's index names."""

from __future__ import annotations

import hashlib

import pytest

from kdedge.cli import main
from kdedge.data.splits import read_label_names
from kdedge.io import read_json
from kdedge.stages.export import ANDROID_INDEX, ANDROID_SCHEMA
from kdedge.text.tokenizer import load_tokenizer


def _check_index(assets, export_dir, data_dir, names):
    index = read_json(assets / ANDROID_INDEX)
    manifest = {e["name"]: e for e in read_json(export_dir / "manifest.json")["models"]}
    assert index["schema"] == ANDROID_SCHEMA
    assert index["labels"] == (read_label_names(data_dir) or ["negative", "positive"])
    assert [row["name"] for row in index["models"]] == names
    for row in index["models"]:
        content = (assets / row["file"]).read_bytes()
        assert content == (export_dir / row["file"]).read_bytes()
        assert (row["bytes"], row["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
        assert row["sha256"] == manifest[row["name"]]["sha256"]
        tokenizer = load_tokenizer(assets / row["tokenizer"])
        assert row["tokenizer_format"] == tokenizer.to_dict()["format"]
        assert row["max_len"] == tokenizer.max_len
        assert row["runtime"] == ("mediapipe" if manifest[row["name"]]["metadata"] else "litert")
    assert sorted(p.name for p in assets.iterdir()) == sorted(
        {ANDROID_INDEX, *(r["file"] for r in index["models"]), *(r["tokenizer"] for r in index["models"])})
    return index


def test_android_assets_writes_the_files_its_index_names(pipeline_run, tmp_path, capsys):
    assets = tmp_path / "app" / "src" / "main" / "assets"
    main(["android-assets", "--export-dir", str(pipeline_run / "export"), "--data", str(pipeline_run / "data"),
          "--out", str(assets)])
    index = _check_index(assets, pipeline_run / "export", pipeline_run / "data", ["student_int8", "student_float32"])
    assert all(row["runtime"] == "mediapipe" for row in index["models"])  # the tiny run's format-3 students
    assert "kdedge_models.json" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--out", "{file}"], "--out {file}: not a folder"),
    (["--out", "{dir}", "--models", "student_int8,nope"], "nope: not among the export's student files"),
    (["--out", "{dir}", "--models", "teacher_float32"], "teacher_float32: not among"),
])
def test_android_assets_refuses_with_one_line(pipeline_run, tmp_path, capsys, argv, message):
    (tmp_path / "file").write_text("x")
    fill = {"file": str(tmp_path / "file"), "dir": str(tmp_path / "assets")}
    with pytest.raises(SystemExit) as e:
        main(["android-assets", "--export-dir", str(pipeline_run / "export"), "--data", str(pipeline_run / "data"),
              *(a.format(**fill) for a in argv)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and message.format(**fill) in err
    assert not (tmp_path / "assets").exists()


def test_export_android_assets_checks_dir_before_exporting(pipeline_run, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["export", "--distill-dir", str(pipeline_run / "distill"), "--data", str(pipeline_run / "data"),
              "--no-teacher", "--out", str(tmp_path / "export"), "--android-assets", str(tmp_path / "file")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.strip() == f"kdedge: error: --android-assets {tmp_path / 'file'}: not a folder"
    assert not (tmp_path / "export").exists()


def test_export_with_android_assets(pipeline_run, tmp_path):
    assets = tmp_path / "assets"
    main(["export", "--distill-dir", str(pipeline_run / "distill"), "--data", str(pipeline_run / "data"),
          "--no-teacher", "--modes", "float32", "--check-examples", "16", "--out", str(tmp_path / "export"),
          "--android-assets", str(assets)])
    _check_index(assets, tmp_path / "export", pipeline_run / "data", ["student_float32"])
