"""The serve page in a real headless Chromium: MediaPipe Tasks for Web (WASM) classifies like kdedge."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from kdedge import TextClassifier
from kdedge.serve.browser import PageDriver
from tests.serve.support import REPO, running_server
from tests.test_mediapipe import TEXTS, _mediapipe, _scores

ARTIFACTS = Path(os.environ.get("KDEDGE_TEST_ARTIFACTS", REPO / "tests" / ".artifacts"))
TYPED = "A warm, funny and beautifully acted film."


def test_the_page_classifies_in_wasm_like_kdedge_and_mediapipe_python(pipeline_run, tmp_path):
    model = pipeline_run / "export" / "student_int8.tflite"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "serve_page.png"
    shot.unlink(missing_ok=True)
    with running_server(model, tmp_path / "serve.log", "--max-chars", "200000") as (url, _):  # TEXTS has a 100k one
        with PageDriver(url + "/") as page:
            assert page.opened["ready"] == {"local": True, "error": None}
            assert page.opened["browser"] and page.opened["cross_origin_isolated"]
            out = page.classify(TEXTS)
            typed = page.type(TYPED)
            page.screenshot(shot)
            ms = page.time(TEXTS[:3], 1, 5)
        assert not [line for line in page.logs if line.startswith("pageerror")], page.logs

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
    assert typed["agree"].startswith("Browser and server agree"), typed["agree"]
    assert typed["shown_label"] == clf.classify(TYPED)[0][0].label
    # ... and why: the typed words highlighted by their Shapley values (the server's /v1/explain).
    assert typed["why_label"] == typed["shown_label"]
    assert typed["why_words"] == ["A", "warm", "funny", "and", "beautifully", "acted", "film"]
    assert all(re.fullmatch(r"[+-]\d\.\d{4}", t) for t in typed["why_titles"]), typed["why_titles"]
    assert len(ms) == 5 and all(t >= 0 for t in ms)
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_says_why_when_the_browser_runtime_cannot_load(pipeline_run, tmp_path):
    """Pointed at a CDN this machine cannot reach, the page still classifies through the server."""
    model = pipeline_run / "export" / "student_int8.tflite"
    with running_server(model, tmp_path / "serve.log", "--cdn", "http://127.0.0.1:9/none") as (url, _):
        with PageDriver(url + "/") as page:
            ready = page.opened["ready"]
            out = page.classify(["good film"])
    assert ready["local"] is False and "in-browser model unavailable" in ready["error"]
    assert "error" in out["local"][0]
    assert out["server"][0]["label"] == TextClassifier(model).classify("good film")[0][0].label
