"""`kdedge serve` for real: a uvicorn process on a loopback port, driven over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import time

import numpy as np
import pytest

from kdedge import TextClassifier
from kdedge.serve.batcher import MicroBatcher
from tests.serve.support import http, running_server
from tests.test_mediapipe import TEXTS

MODES = ("float32", "dynamic", "float16", "int8")


@pytest.fixture(scope="module")
def export_dir(pipeline_run):
    return pipeline_run / "export"


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with running_server(export_dir, log, "--max-chars", "200000", "--max-texts", "64", "--max-body-bytes",
                        "400000", importtime=True) as (url, proc):
        yield url, proc, log


def _post(url, obj) -> tuple[int, dict]:
    return http(url + "/v1/classify", json.dumps(obj).encode())


def test_classify_gives_textclassifier_numbers_for_the_int8_student(server, export_dir):
    url, _, _ = server
    status, body = _post(url, {"texts": TEXTS})
    assert status == 200 and body["model"] == "student_int8.tflite"
    clf = TextClassifier(export_dir / "student_int8.tflite")
    want = clf.probabilities(TEXTS)
    for row, result in zip(want, body["results"]):
        assert result["label"] == clf.labels[int(np.argmax(row))]
        assert [result["scores"][label] for label in clf.labels] == [float(p) for p in row]
    status, body = _post(url, {"texts": ["good film"], "top_k": 1})
    assert status == 200 and len(body["results"][0]["scores"]) == 1


def test_health_readiness_schema_and_page(server):
    url, _, _ = server
    assert http(url + "/healthz") == (200, {"status": "ok"})
    assert http(url + "/readyz")[0] == 200
    status, schema = http(url + "/openapi.json")
    assert status == 200 and "/v1/classify" in schema["paths"]
    assert "texts" in json.dumps(schema["paths"]["/v1/classify"]["post"]["requestBody"])
    status, page = http(url + "/")
    assert status == 200 and "student_int8.tflite" in page and "/static/app.js" in page
    status, info = http(url + "/v1/model")
    assert info["ready"] and info["batchable"] and info["assets"] == "/assets/tasks-text"


def _metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{name}(?:{{(.*)}})? (\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_metrics_count_requests_texts_and_batches(server):
    url, _, _ = server
    before = http(url + "/metrics")[1]
    assert _post(url, {"texts": ["a", "b", "c"]})[0] == 200
    assert _post(url, {"texts": 5})[0] == 422
    after = http(url + "/metrics")[1]
    ok = dict(route="/v1/classify", method="POST", status="200")
    total = "kdedge_http_requests_total"
    assert _metric(after, total, **ok) == _metric(before, total, **ok) + 1
    bad = dict(route="/v1/classify", status="422")
    assert _metric(after, total, **bad) == _metric(before, total, **bad) + 1
    assert _metric(after, "kdedge_texts_classified_total") == _metric(before, "kdedge_texts_classified_total") + 3
    assert _metric(after, "kdedge_model_batch_size_count") > _metric(before, "kdedge_model_batch_size_count")
    assert _metric(after, "kdedge_http_request_duration_seconds_count", route="/v1/classify") > 0


@pytest.mark.parametrize(("body", "status", "says"), [
    (b'{"texts": ', 400, "not JSON"),
    (b"\xff\xfe{}", 400, "not UTF-8"),
    (b"[1, 2]", 422, "body"),
    (b'{"texts": "one string"}', 422, "texts"),
    (b'{"texts": [1, 2]}', 422, "texts.0"),
    (b'{"texts": []}', 422, "texts"),
    (b'{"texts": ["a \\ud800 b"]}', 400, "not JSON"),  # a lone surrogate escape
    (b'{"text": ["typo"]}', 422, "text"),
    (b'{"texts": ["a"], "top_k": 0}', 422, "top_k"),
    (json.dumps({"texts": ["a"] * 65}).encode(), 413, "65 texts"),
    (json.dumps({"texts": ["x" * 200_001]}).encode(), 413, "200001 characters"),
    (json.dumps({"texts": ["x" * 150_000] * 3}).encode(), 413, "body"),
])
def test_bad_requests_get_a_one_line_4xx_and_the_server_keeps_serving(server, body, status, says):
    url, proc, _ = server
    got, answer = http(url + "/v1/classify", body)
    assert got == status and says in answer["error"] and "\n" not in answer["error"], answer
    assert answer["status"] == status
    assert _post(url, {"texts": ["still serving"]})[0] == 200 and proc.poll() is None


def test_wrong_routes_and_methods_are_json_errors(server):
    url, _, _ = server
    assert http(url + "/nope")[0] == 404
    status, body = http(url + "/v1/classify")
    assert status == 405 and "method" in body["error"]
    assert http(url + "/assets/tasks-text/../../../etc/passwd")[0] == 404
    assert http(url + "/static/drive.mjs")[0] == 404  # only the page's own files are served


def test_explain_gives_each_word_its_shapley_share_of_the_label(server, export_dir):
    """POST /v1/explain: the words the int8 file reads, scores adding up to p(text) - p(no words) (exact for
    permutation Shapley), the label /v1/classify gives, and the same highlighted markup as explain.html."""
    from kdedge.explain.html import highlight
    from kdedge.explain.words import masked_ids, student_words

    url, proc, _ = server
    text = "A moving, funny film <b>& a dull</b> ending."
    status, body = http(url + "/v1/explain", json.dumps({"text": text, "permutations": 8}).encode())
    assert status == 200, body
    clf = TextClassifier(export_dir / "student_int8.tflite")
    words = student_words(clf.tokenizer, text)
    assert body["words"] == list(words.words) == ["A", "moving", "funny", "film", "b", "a", "dull", "b", "ending"]
    target = clf.labels.index(body["label"])
    full = clf.probabilities_of_ids(masked_ids(clf.tokenizer, words, np.ones((1, len(words)), bool)))[0]
    none = clf.probabilities_of_ids(masked_ids(clf.tokenizer, words, np.zeros((1, len(words)), bool)))[0]
    assert target == int(np.argmax(full)) and body["score"] == pytest.approx(float(full[target]), abs=1e-6)
    assert sum(body["scores"]) == pytest.approx(float(full[target] - none[target]), abs=1e-4)
    assert body["html"] == highlight(body["words"], body["scores"]) and "<b>" not in body["html"]
    assert _post(url, {"texts": [text]})[1]["results"][0]["label"] == body["label"]
    assert http(url + "/v1/explain", json.dumps({"text": ""}).encode())[1]["words"] == []
    for bad, code in ((b'{"texts": ["a"]}', 422), (b'{"text": "a", "permutations": 1000}', 422),
                      (json.dumps({"text": "x" * 200_001}).encode(), 413), (b"{", 400)):
        got, answer = http(url + "/v1/explain", bad)
        assert got == code and "\n" not in answer["error"], (bad, answer)
    assert proc.poll() is None


def test_the_serving_process_imports_no_tensorflow(server):
    url, _, log = server
    assert _post(url, {"texts": ["good"]})[0] == 200
    imported = [line.split("|")[-1].strip() for line in log.read_text().splitlines() if line.startswith("import time:")]
    assert "fastapi" in imported and "ai_edge_litert" in " ".join(imported)  # the log does list the imports
    assert not [m for m in imported if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")]


def test_sigterm_finishes_the_request_in_flight(export_dir, tmp_path):
    with running_server(export_dir, tmp_path / "serve.log") as (url, proc):
        body = json.dumps({"texts": ["a good film", "a dull film"]}).encode()
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
            time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGTERM)  # the request is half-received
            time.sleep(0.3)
            s.sendall(body[10:])
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and b'"results"' in reply
        assert proc.wait(timeout=20) == 0


def test_a_padded_batch_changes_no_output(export_dir):
    texts = [f"text {i} good" if i % 2 else f"a dull {i} film" for i in range(37)]
    for mode in MODES:
        clf = TextClassifier(export_dir / f"student_{mode}.tflite")
        one = np.concatenate([clf.probabilities([t]) for t in texts])
        assert clf.batchable
        np.testing.assert_array_equal(clf.probabilities(texts), one, err_msg=mode)  # 37 -> padded to 64
        np.testing.assert_array_equal(clf.probabilities(texts[:5]), one[:5], err_msg=mode)  # 5 -> 8


def test_micro_batcher_batches_concurrent_requests_and_keeps_their_order():
    calls: list[int] = []

    def run(texts):
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)

    async def main():
        batcher = MicroBatcher(run, max_batch=8, max_wait_ms=5, on_batch=calls.append)
        requests = [[f"{'x' * i}"] * (1 + i % 3) for i in range(10)]
        out = await asyncio.gather(*(batcher.submit(r) for r in requests))
        return requests, out

    requests, out = asyncio.run(main())
    for r, o in zip(requests, out):
        assert o[:, 0].tolist() == [len(t) for t in r]
    assert sum(calls) == sum(len(r) for r in requests) and len(calls) < len(requests)
    assert max(calls) <= 8 + 2  # a batch closes once it holds max_batch texts


def test_micro_batcher_passes_a_model_error_to_every_waiting_request():
    def run(texts):
        raise RuntimeError("boom")

    async def main():
        batcher = MicroBatcher(run, max_batch=4, max_wait_ms=1)
        return await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]), return_exceptions=True)

    assert [str(e) for e in asyncio.run(main())] == ["boom", "boom"]
