"""`kdedge explain` on the tiny pipeline run: every model's attributions over the same words, the report files."""

from __future__ import annotations

import json

import pytest

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


def test_sample_keeps_only_texts_both_models_read_whole(pipeline_run, tmp_path):
    """IMDB reviews run past the teacher's 128 pieces: the default sample keeps texts both models read whole
    (their explanations then cover the same words); --no-whole samples every labeled text."""
    from transformers import BertTokenizerFast

    from kdedge.errors import ConfigError
    from kdedge.stages.explain import ExplainConfig, sample_texts
    from kdedge.text.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(pipeline_run / "distill" / "tokenizer.json")
    teacher_tok = BertTokenizerFast.from_pretrained(str(pipeline_run / "teacher" / "model"))
    short = [f"a good film {i}" for i in range(6)]
    rows = [{"text": t, "label": i % 2} for i, t in enumerate(short)]
    rows += [{"text": "good " * 40, "label": 1}, {"text": "bad " * (tokenizer.max_len + 1), "label": 0},
             {"text": "unlabeled", "label": None}]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts, gold, eligible = sample_texts(tmp_path, ExplainConfig(max_texts=4), tokenizer, teacher_tok, 20)
    assert eligible == 6 and len(texts) == 4 and set(texts) <= set(short) and len(gold) == 4
    texts, _, eligible = sample_texts(tmp_path, ExplainConfig(max_texts=10, whole=False), tokenizer, teacher_tok, 20)
    assert eligible == 8 and len(texts) == 8
    with pytest.raises(ConfigError, match="--no-whole"):
        sample_texts(tmp_path, ExplainConfig(), tokenizer, teacher_tok, 3)


def test_explain_report_script_files_the_results(pipeline_run, tmp_path):
    """benchmarks/explain_report.py: the stage run on a finished run, filed as explain.{md,json,png} + page."""
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "results"
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "explain_report.py"
    proc = subprocess.run([sys.executable, str(script), "--run", str(pipeline_run), "--out", str(out),
                           "--explain-out", str(tmp_path / "explain"), "--", "--max-texts", "3", "--steps", "8",
                           "--permutations", "4"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "explain.json").read_text())
    assert summary["texts"] == 3 and summary["run"]["command"].startswith("kdedge explain --export-dir")
    assert summary["sample"]["whole_texts_only"] is True and summary["sample"]["eligible"] >= 3
    md = (out / "explain.md").read_text()
    assert "(explain.png)" in md and "(explain_example.png)" in md and "kdedge explain --export-dir" in md
    assert "**Finding:** the distilled student's attributions agree with the teacher's" in md
    for png in ("explain.png", "explain_example.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "<table>" in (out / "explain.html").read_text()
