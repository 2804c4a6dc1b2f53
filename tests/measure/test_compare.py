"""`kdedge bench compare`: deltas per model, flags only beyond the measured noise."""

import json

import numpy as np
import pytest

from kdedge.cli import main
from kdedge.measure.compare import compare_reports, load_report, render_comparison
from kdedge.measure.stats import summarize_ms

MACHINE = {"cpu": "AMD EPYC", "cores": 2, "os": "Linux", "python": "3.11.7", "numpy": "2.4",
           "tensorflow": "2.21.0", "ai_edge_litert": "2.3.0", "git_commit": "abc"}


def _cell(threads, xnn, inputs, median_ms, seed, n=3000):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(np.log(median_ms / 1000), 0.15, size=n)
    x[rng.random(n) < 0.01] *= 5  # scheduler hiccups
    return {"threads": threads, "xnnpack": xnn, "inputs": inputs, **summarize_ms(x), "converged": True}


def _report(seed, slow_int8=1.0, int8_bytes=1_000_000, int8_acc=0.87):
    """Two models, a 2x1 grid each; ``slow_int8`` plants a slowdown in student_int8's 1-thread cell."""
    models = []
    for name, ms, size, acc in (("teacher_float32", 15.0, 90_000_000, 0.889),
                                ("student_int8", 0.02, int8_bytes, int8_acc)):
        grid = [_cell(1, True, "eval", ms * (slow_int8 if name == "student_int8" else 1.0), seed),
                _cell(2, True, "eval", ms * 1.1, seed + 100)]
        models.append({"name": name, "sha256": f"{name}-{size}", "bytes": size, "gzip_bytes": size // 2,
                       "accuracy": acc, "macro_f1": acc - 0.001, "peak_rss_mb": 70.0,
                       "latency": grid[0], "latency_grid": grid})
    return {"schema": "kdedge-bench/3", "machine": dict(MACHINE),
            "eval": {"split": "dev", "examples": 872}, "models": models}


def _flagged(result):
    return {(c["model"], c["metric"]): c["direction"] for c in result["changes"] if c["flagged"]}


def test_noise_between_two_runs_is_not_flagged():
    result = compare_reports(_report(0), _report(1))
    assert _flagged(result) == {}
    assert result["manifest_diffs"] == {} and result["same_eval"]


def test_a_planted_latency_regression_is_flagged_and_nothing_else():
    result = compare_reports(_report(0), _report(1, slow_int8=1.25))
    assert _flagged(result) == {("student_int8", "p50_ms 1thr xnn eval"): "regression"}
    text = render_comparison(result)
    assert "REGRESSION" in text and "1 regression(s)" in text


def test_size_and_accuracy_changes():
    result = compare_reports(_report(0), _report(1, int8_bytes=800_000, int8_acc=0.93))
    flagged = _flagged(result)
    assert flagged[("student_int8", "bytes")] == "improvement"
    assert flagged[("student_int8", "accuracy")] == "improvement"
    small = compare_reports(_report(0), _report(1, int8_acc=0.875))  # 4 of 872 examples
    assert ("student_int8", "accuracy") not in _flagged(small)


def test_other_machine_is_reported_and_schema2_latency_is_never_flagged():
    old, new = _report(0), _report(1, slow_int8=2.0)
    new["machine"]["cpu"] = "Apple M2"
    for r in old["models"]:  # a schema-2 report: headline latency without a CI
        del r["latency_grid"]
        r["latency"] = {k: r["latency"][k] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "runs")}
    result = compare_reports(old, new)
    assert result["manifest_diffs"] == {"cpu": ["AMD EPYC", "Apple M2"]}
    assert not any(c["flagged"] for c in result["changes"] if c["metric"].startswith("p50"))
    assert "not like with like" in render_comparison(result)


def test_cli_compare_exit_codes(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_report(0)))
    b.write_text(json.dumps(_report(1, slow_int8=1.25)))
    main(["bench", "compare", str(a), str(b)])
    assert "REGRESSION" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["bench", "compare", str(a), str(b), "--fail-on-regression"])
    assert e.value.code == 1
    main(["bench", "compare", str(a), str(a), "--fail-on-regression"])  # no regression: exit 0
    with pytest.raises(SystemExit) as e:
        main(["bench", "compare", str(a), str(tmp_path / "missing.json")])
    assert e.value.code == 2
    assert "no report.json" in capsys.readouterr().err
    assert load_report(a)["schema"] == "kdedge-bench/3"
