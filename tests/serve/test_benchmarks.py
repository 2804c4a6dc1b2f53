"""The serve benchmarks run end to end, bounded (seconds, loopback only); no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.serve.support import REPO


def _run(script: str, *args: str, timeout: float = 300) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, start_new_session=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_serve_load_drives_a_real_server_with_wrk(pipeline_run, tmp_path):
    run = pipeline_run
    _run("serve_load.py", "--model", str(run / "export"), "--data", str(run / "data"), "--out", str(tmp_path),
         "--workers", "1", "--concurrency", "4", "--texts", "1,8", "--duration", "1", "--warmup", "0.5")
    report = json.loads((tmp_path / "serve_load.json").read_text())
    assert [(c["texts_per_request"], c["concurrency"]) for c in report["cells"]] == [(1, 4), (8, 4)]
    for cell in report["cells"]:
        assert cell["requests"] > 0 and cell["non2xx"] == 0 and cell["socket_errors"] == 0
        assert cell["model_calls"] > 0 and 1 <= cell["mean_batch"] <= 64
        assert cell["p50_ms"] <= cell["p99_ms"] and cell["texts_per_s"] > 0
    assert report["cells"][1]["mean_batch"] >= 8  # 8-text requests: at least one whole request per model call
    assert (tmp_path / "serve_load.md").read_text().count("\n| 1 |") == 2
    assert (tmp_path / "serve_load.png").read_bytes()[:4] == b"\x89PNG"


def test_web_bench_times_the_page_beside_the_host(pipeline_run, tmp_path):
    run = pipeline_run
    _run("web_bench.py", "--export-dir", str(run / "export"), "--data", str(run / "data"), "--out", str(tmp_path),
         "--models", "student_int8", "--max-eval", "40", "--warmup", "5", "--min-runs", "20", "--time-cap", "0.3")
    report = json.loads((tmp_path / "web.json").read_text())
    assert [r["platform"] for r in report["rows"]] == ["host-litert", "host-text", "web-wasm"]
    web = report["rows"][2]
    assert web["label_agreement"] == 1.0 and web["max_prob_diff"] <= 1e-5 and web["runs"] >= 20
    assert web["cross_origin_isolated"] and 0 < web["timer_resolution_ms"] <= 0.1
    assert report["eval"]["examples"] == 40 and len(report["targets"]) == 2
    assert (tmp_path / "page.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "web.png").is_file()
