"""The serve page in a real headless Chromium: MediaPipe Tasks for Web (WASM) classifies like kdedge."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from kdedge import TextClassifier
from tests.serve.support import REPO, running_server
from tests.test_mediapipe import TEXTS, _mediapipe, _scores

WEB = REPO / "kdedge" / "serve" / "web"
ARTIFACTS = Path(os.environ.get("KDEDGE_TEST_ARTIFACTS", REPO / "tests" / ".artifacts"))
TYPED = "A warm, funny and beautifully acted film."


def drive(job: dict, tmp_path: Path, timeout: float = 240) -> dict:
    """Run ``drive.mjs`` on ``job`` (headless Chromium through playwright-core) and return what it wrote."""
    job = {"chromium": shutil.which("chromium") or "/usr/bin/chromium", "out": str(tmp_path / "out.json"), **job}
    (tmp_path / "job.json").write_text(json.dumps(job))
    proc = subprocess.run(["node", str(WEB / "drive.mjs"), str(tmp_path / "job.json")], cwd=WEB,
                          capture_output=True, text=True, timeout=timeout, start_new_session=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(Path(job["out"]).read_text())


def test_the_page_classifies_in_wasm_like_kdedge_and_mediapipe_python(pipeline_run, tmp_path):
    model = pipeline_run / "export" / "student_int8.tflite"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "serve_page.png"
    shot.unlink(missing_ok=True)
    with running_server(model, tmp_path / "serve.log", "--max-chars", "200000") as (url, _):  # TEXTS has a 100k one
        out = drive({"url": url + "/", "texts": TEXTS, "typed": TYPED, "screenshot": str(shot)}, tmp_path)
    assert out["ready"] == {"local": True, "error": None}, out.get("logs")
    assert out["browser"] and not [line for line in out["logs"] if line.startswith("pageerror")]

    clf = TextClassifier(model)
    want = clf.probabilities(TEXTS)
    mp = _mediapipe(model)
    try:
        theirs = np.stack([_scores(mp.classify(t), len(clf.labels)) for t in TEXTS])
    finally:
        mp.close()
    for text, row, py_mp, local, server in zip(TEXTS, want, theirs, out["local"], out["server"]):
        assert "error" not in local and "error" not in server, (text, local, server)
        web = np.array([local["scores"][label] for label in clf.labels])
        label = clf.labels[int(np.argmax(row))]
        assert local["label"] == label == server["label"], repr(text[:60])
        assert np.abs(web - row).max() <= 1e-5, repr(text[:60])
        assert np.abs(web - py_mp).max() <= 1e-5, repr(text[:60])
        assert [server["scores"][k] for k in clf.labels] == [float(p) for p in row]

    # What a person sees after typing a sentence: both answers, and that they agree.
    assert out["agree"].startswith("Browser and server agree"), out["agree"]
    assert out["shown_label"] == clf.classify(TYPED)[0][0].label
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_says_why_when_the_browser_runtime_cannot_load(pipeline_run, tmp_path):
    """Pointed at a CDN this machine cannot reach, the page still classifies through the server."""
    model = pipeline_run / "export" / "student_int8.tflite"
    with running_server(model, tmp_path / "serve.log", "--cdn", "http://127.0.0.1:9/none") as (url, _):
        out = drive({"url": url + "/", "texts": ["good film"]}, tmp_path)
    assert out["ready"]["local"] is False and out["ready"]["error"]
    assert "error" in out["local"][0]
    assert out["server"][0]["label"] == TextClassifier(model).classify("good film")[0][0].label
