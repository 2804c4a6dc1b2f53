"""The bench report's metrics and rendering on hand-built rows (no model is run)."""

import dataclasses
import json

import numpy as np
import pytest

from kdedge.measure.plots import pareto_front, plot_latency_grid, plot_report
from kdedge.measure.quality import add_metrics, read_label_names
from kdedge.measure.report import SCHEMA, render_markdown
from kdedge.stages.bench import BenchConfig

GOLD = np.array([0, 0, 1, 1, 1, 0])


def _logits(pred, conf=2.0):
    """Two-class logits whose argmax is ``pred``."""
    pred = np.asarray(pred)
    out = np.zeros((pred.size, 2))
    out[np.arange(pred.size), pred] = conf
    return out


def _lat(p50, threads=1, xnnpack=True, inputs="eval"):
    return {"threads": threads, "xnnpack": xnnpack, "inputs": inputs, "p50_ms": p50, "p90_ms": p50 * 1.2,
            "p99_ms": p50 * 1.5, "mean_ms": p50, "std_ms": 0.1, "min_ms": p50 * 0.9, "max_ms": p50 * 2,
            "ci95_ms": [p50 * 0.99, p50 * 1.01], "ci_rel": 0.01, "runs": 200, "converged": p50 < 10,
            "peak_rss_mb": 70.0, "model_rss_mb": 3.0}


def _row(name, kind, bytes_, p50):
    grid = [_lat(p50), _lat(p50 * 3, xnnpack=False), _lat(p50, inputs="len=64")]
    return {"name": name, "kind": kind, "quantization": "int8" if "int8" in name else "float32",
            "file": f"{name}.tflite", "bytes": bytes_, "gzip_bytes": bytes_ // 2, "sha256": "0" * 64,
            "load_ms": 1.0, "first_inference_ms": 0.5, "baseline_rss_mb": 67.0, "peak_rss_mb": 70.0,
            "model_rss_mb": 3.0, "latency": grid[0], "latency_grid": grid}


@pytest.fixture
def rows():
    rows = [_row("teacher_float32", "teacher", 17_000_000, 20.0), _row("student_float32", "student", 900_000, 0.2),
            _row("student_int8", "student", 300_000, 0.1), _row("labels_only_int8", "baseline", 300_000, 0.1)]
    logits = {"teacher_float32": _logits([0, 0, 1, 1, 1, 0]),  # all right
              "student_float32": _logits([0, 0, 1, 1, 0, 0]),  # 5/6
              "student_int8": _logits([0, 1, 1, 1, 0, 0]),  # 4/6
              "labels_only_int8": _logits([0, 1, 1, 0, 0, 0])}  # 3/6
    add_metrics(rows, logits, GOLD, 2)
    return rows


def test_add_metrics_fills_every_row(rows):
    r = {row["name"]: row for row in rows}
    assert r["teacher_float32"]["accuracy"] == 1.0 and r["teacher_float32"]["agreement_with_teacher"] == 1.0
    s = r["student_int8"]
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["confusion"] == [[2, 1], [1, 2]]
    assert s["macro_precision"] == pytest.approx(2 / 3) and s["macro_recall"] == pytest.approx(2 / 3)
    assert s["macro_f1"] == pytest.approx(2 / 3)
    # Every prediction has confidence sigmoid(2) in one bin: ECE = |acc - conf|.
    assert s["ece"] == pytest.approx(abs(4 / 6 - 1 / (1 + np.exp(-2.0))))
    assert s["metrics"]["precision"] == pytest.approx([2 / 3, 2 / 3])
    assert s["agreement_with_teacher"] == s["metrics"]["agreement"] == pytest.approx(4 / 6)
    assert s["retention"] == pytest.approx(4 / 6)
    assert s["retention_vs_float_student"] == pytest.approx(4 / 5)
    assert s["speedup_p50"] == pytest.approx(200) and s["size_ratio"] == pytest.approx(17_000_000 / 300_000)
    b = r["labels_only_int8"]
    assert b["accuracy"] == 0.5 and b["retention_vs_float_student"] == pytest.approx(3 / 5)
    assert b["confusion"] == [[2, 1], [2, 1]]
    assert r["student_float32"]["retention_vs_float_student"] == 1.0
    json.dumps(rows)


def test_add_metrics_without_teacher_or_float_student():
    rows = [_row("student_int8", "student", 300_000, 0.1)]
    add_metrics(rows, {"student_int8": _logits([0, 0, 1, 1, 1, 0])}, GOLD)
    assert rows[0]["accuracy"] == 1.0 and rows[0]["ece"] >= 0
    assert "agreement_with_teacher" not in rows[0] and "retention_vs_float_student" not in rows[0]
    assert "agreement" not in rows[0]["metrics"]


def _report(rows, label_names=("negative", "positive")):
    return {"schema": SCHEMA, "config": dataclasses.asdict(BenchConfig(threads=(1,), min_runs=200)),
            "headline": {"threads": 1, "xnnpack": True, "inputs": "eval"},
            "machine": {"cpu": "test cpu", "cores": 2, "os": "linux", "python": "3.11", "tensorflow": "2.x",
                        "ai_edge_litert": "1.x", "git_commit": "abc", "date": "2025-01-01"},
            "eval": {"split": "data/eval.jsonl", "examples": 6,
                     "label_names": list(label_names) if label_names else None, "ece_bins": 15},
            "models": rows, "run": {}}


def test_render_markdown_shows_new_columns_and_confusion_section(rows):
    md = render_markdown(_report(rows))
    header = next(line for line in md.splitlines() if line.startswith("| model |"))
    for col in ("kind", "size", "gzip", "accuracy", "precision", "recall", "macro-F1", "ECE", "agreement w/ teacher",
                "p50 ms (95% CI)", "load ms", "first call ms", "peak RSS MB (+model)"):
        assert f"| {col} |" in header, col
    table = [line for line in md.splitlines() if line.startswith("| labels_only_int8 |")]
    assert len(table) == 5  # the main table, two latency-grid tables, the per-class and the confusion table
    assert "## Per-class precision / recall / F1" in md and "| model | negative | positive |" in md
    assert table[0].startswith("| labels_only_int8 | baseline |") and "| 0.5000 |" in table[0]
    assert "## Confusion matrices" in md
    assert "| model | negative → negative | negative → positive | positive → negative | positive → positive |" in md
    assert "| student_int8 | 2 | 1 | 1 | 2 |" in md
    assert "| teacher_float32 | 3 | 0 | 0 | 3 |" in md
    lines = md.splitlines()
    start = lines.index(header)
    main_table = lines[start:start + 2 + len(rows)]
    assert all(line.count("|") == header.count("|") for line in main_table)
    # The latency grid: one table per input set, a column per (threads, XNNPACK) cell; † = unconverged.
    assert "## Latency grid" in md and "**len=64**" in md
    assert "| model | 1 thr, XNNPACK on | 1 thr, XNNPACK off |" in md
    assert "| teacher_float32 | 20.0 ±1.0% † / 70 (+3.0) | 60.0 ±1.0% † / 70 (+3.0) |" in md


def test_render_markdown_without_label_names_and_many_labels():
    rows = [_row("student_int8", "student", 300_000, 0.1)]
    gold = np.array([0, 1, 2, 3, 3])
    add_metrics(rows, {"student_int8": np.eye(4)[[0, 1, 2, 3, 0]]}, gold)
    md = render_markdown(_report(rows, label_names=None))
    assert "**student_int8**" in md
    assert "| gold ↓ predicted → | 0 | 1 | 2 | 3 |" in md
    assert "| 3 | 1 | 0 | 0 | 1 |" in md


def test_render_markdown_still_reads_schema_1_reports():
    row = _row("student_int8", "student", 300_000, 0.1)
    row.update(accuracy=0.9, macro_f1=0.89)  # no precision / recall / ECE / confusion
    for key in ("latency_grid", "gzip_bytes", "first_inference_ms", "peak_rss_mb"):
        del row[key]
    report = _report([row])
    report["config"] = {"runs": 20, "warmup": 2, "threads": 1, "max_eval": None, "seed": 0}
    del report["eval"]["label_names"], report["eval"]["ece_bins"], report["headline"]
    md = render_markdown(report)
    assert "| student_int8 | student |" in md and "Confusion" not in md


def test_plots_are_pngs(rows, tmp_path):
    plot_report(_report(rows), tmp_path / "report.png")
    plot_latency_grid(_report(rows), tmp_path / "latency.png")
    for name in ("report.png", "latency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_front_keeps_only_undominated_points():
    # (latency, accuracy): b is slower and worse than a; d ties a's latency but is worse.
    pts = [(1.0, 0.80), (2.0, 0.79), (3.0, 0.85), (1.0, 0.70), (10.0, 0.85), (20.0, 0.90)]
    assert pareto_front(pts) == [0, 2, 5]
    assert pareto_front([(1.0, 0.5)]) == [0]


def test_read_label_names(tmp_path):
    assert read_label_names(tmp_path) is None
    (tmp_path / "stats.json").write_text(json.dumps({"label_names": ["neg", "pos"]}))
    assert read_label_names(tmp_path) == ["neg", "pos"]
