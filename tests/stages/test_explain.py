"""`kdedge explain` on the tiny pipeline run: every model's attributions over the same words, the report files."""

from __future__ import annotations

import json

from tests.test_cli import kdedge


def _flags(run):
    return ["explain", "--export-dir", str(run / "export"), "--teacher-dir", str(run / "teacher"),
            "--distill-dir", str(run / "distill")]


def test_explain_writes_attributions_report_page_and_plots(pipeline_run, tmp_path):
    out = tmp_path / "explain"
    proc = kdedge(*_flags(pipeline_run), "--data", str(pipeline_run / "data"), "--out", str(out),
                  "--max-texts", "6", "--steps", "8", "--permutations", "8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "attributions.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        assert set(row["models"]) == {"teacher", "student", "twin", "student_float32", "student_int8"}
        for m in row["models"].values():
            assert len(m["scores"]) == len(row["words"]) and abs(sum(m["probabilities"]) - 1) < 1e-4
        assert set(row["agreement"]) == {"teacher~student", "teacher~twin", "student_float32~student_int8"}
    summary = json.loads((out / "explain.json").read_text())
    assert summary["texts"] == 6 and summary["faithfulness"]["teacher"]["method"] == "integrated-gradients"
    assert summary["faithfulness"]["student_int8"]["method"] == "shapley-permutation"
    report = (out / "report.md").read_text()
    assert "| teacher vs student | spearman |" in report and "| # | text | teacher | student |" in report
    assert "<table>" in (out / "explain.html").read_text()
    for png in ("example.png", "agreement.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "config.json").read_text())["texts"] == 6


def test_explain_takes_texts_and_refuses_nothing_to_explain(pipeline_run, tmp_path):
    proc = kdedge(*_flags(pipeline_run), "--out", str(tmp_path / "none"))
    assert proc.returncode == 2 and "--data" in proc.stderr and not (tmp_path / "none").exists()
    proc = kdedge(*_flags(pipeline_run), "--out", str(tmp_path / "bad"), "--files", "student_int4", "--text", "x")
    assert proc.returncode == 2 and "student_int4" in proc.stderr and not (tmp_path / "bad" / "config.json").exists()
    out = tmp_path / "two"
    proc = kdedge(*_flags(pipeline_run), "--out", str(out), "--text", "a good film", "--text", "dull, boring",
                  "--steps", "8", "--permutations", "4", "--files", "student_int8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "attributions.jsonl").read_text().splitlines()]
    assert [r["words"] for r in rows] == [["a", "good", "film"], ["dull", "boring"]]
    assert rows[0]["gold"] is None
