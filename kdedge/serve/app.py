"""The FastAPI app of ``kdedge serve``: the classify API, health and metrics, the page and its assets.

Routes::

    POST /v1/classify      {"texts": [...], "top_k": K?} -> per text: label, score, every label's probability
    POST /v1/explain       {"text": "...", "permutations": P?} -> the label, each word's Shapley value for it,
                           and the words highlighted (the markup of ``kdedge explain``'s explain.html)
    GET  /v1/model         the served file: name, sha256, labels, max_len, whether it batches, the page's assets
    GET  /healthz          200 while the process is up
    GET  /readyz           200 once the model is loaded and one warm-up call is done, 503 before
    GET  /metrics          Prometheus text format
    GET  /                 the page: classifies in the browser (MediaPipe Tasks for Web) or through /v1/classify
    GET  /model.tflite     the served file itself (what the page's WASM runtime loads)
    GET  /static/...       the page's script and style; /assets/tasks-text/... MediaPipe's JS and WASM
    GET  /openapi.json     the schema

Every error is ``{"error": "<one line>", "status": N}`` with a 4xx status: 413 for a body,
a text count or a text longer than the limits, 400 for a body that is not UTF-8 or not
JSON, 422 for JSON of the wrong shape (a missing or unknown field, a wrong type), 503
before the model is ready. A failing model call is a 500 and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kdedge.serve.batcher import MicroBatcher
from kdedge.serve.config import WEB_DIR, ServeConfig
from kdedge.serve.metrics import Metrics

log = logging.getLogger("uvicorn.error")  # uvicorn's own logger: startup lines go where its lines go

PAGE_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
ASSET_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
               ".map": "application/json"}
ROUTES = ("/v1/classify", "/v1/explain", "/v1/model", "/healthz", "/readyz", "/metrics", "/", "/model.tflite",
          "/openapi.json", "/favicon.ico")


class ClassifyRequest(BaseModel):
    """The body of ``POST /v1/classify``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(..., min_length=1, description="The texts to classify (UTF-8; at most --max-texts, "
                             "each at most --max-chars characters).", examples=[["a moving, funny film"]])
    top_k: int | None = Field(None, ge=1, description="Keep the K best labels per text (default: all).")


class Result(BaseModel):
    label: str = Field(..., description="The label of highest probability.")
    score: float = Field(..., description="Its probability.")
    scores: dict[str, float] = Field(..., description="Label -> probability, best first (the top_k best).")


class ClassifyResponse(BaseModel):
    model: str = Field(..., description="The served file's name.")
    results: list[Result] = Field(..., description="One per text, in order.")


class ExplainRequest(BaseModel):
    """The body of ``POST /v1/explain``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str = Field(..., description="The text to explain (at most --max-chars characters).",
                      examples=["a moving, funny film"])
    permutations: int = Field(32, ge=2, le=64, description="Shapley permutations (antithetic pairs): more is "
                              "steadier and slower.")


class ExplainResponse(BaseModel):
    model: str = Field(..., description="The served file's name.")
    label: str = Field(..., description="The label explained: the one of highest probability.")
    score: float = Field(..., description="Its probability.")
    method: str = Field(..., description="shapley-permutation: each word's mean change of the label's probability "
                        "when it joins the other words (the rest masked as <UNKNOWN>), over sampled orders.")
    words: list[str] = Field(..., description="The words the model reads, in order.")
    scores: list[float] = Field(..., description="Per word: its contribution to the label's probability; they add "
                                "up to p(text) - p(no words).")
    html: str = Field(..., description="The words as <span>s coloured by score (kdedge explain's explain.html).")


class ErrorResponse(BaseModel):
    error: str = Field(..., description="What was wrong, in one line.")
    status: int


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _route(path: str) -> str:
    """A bounded metrics label for a request path."""
    if path in ROUTES:
        return path
    for prefix in ("/static/", "/assets/"):
        if path.startswith(prefix):
            return prefix.rstrip("/")
    return "other"


class _Instrument:
    """Pure ASGI middleware: request count and latency by route and status (cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app, metrics: Metrics, headers: list[tuple[bytes, bytes]]):
        self.app, self.metrics, self.headers = app, metrics, headers

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                if self.headers:
                    message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route, code = _route(scope["path"]), str(status[0])
            self.metrics.requests.labels(route, scope["method"], code).inc()
            self.metrics.latency.labels(route, code).observe(time.perf_counter() - start)


# The error answers every POST route can give (the schema's view of them).
ERRORS = {code: {"model": ErrorResponse} for code in (400, 413, 422, 503)}


def _schema_ref(model: type[BaseModel]) -> dict:
    return {"content": {"application/json": {"schema": model.model_json_schema()}}}


def create_app(model: str | Path, cfg: ServeConfig | None = None) -> FastAPI:
    """The app serving ``model`` (a student ``.tflite`` with kdedge's metadata).

    The model is loaded, and warmed up with one call, in the background once the app starts:
    ``/healthz`` answers at once, ``/readyz`` turns 200 when it is done. Under ``--workers N`` each
    worker loads before it accepts connections, so every answer comes from a ready worker.
    """
    cfg = cfg or ServeConfig()
    model = Path(model)
    content = model.read_bytes()
    sha256 = hashlib.sha256(content).hexdigest()
    del content
    metrics = Metrics(model.name, sha256)
    state: dict = {"classifier": None, "batcher": None, "error": None}

    def load() -> None:
        from kdedge.classifier import TextClassifier
        clf = TextClassifier(model, num_threads=cfg.threads)
        clf.batch_size = cfg.max_batch
        clf.probabilities(["warm-up"])
        state["batchable"] = batchable = cfg.max_batch > 1 and clf.batchable
        state["batcher"] = MicroBatcher(clf.probabilities, cfg.max_batch if batchable else 1, cfg.max_wait_ms,
                                        on_batch=metrics.batch.observe)
        # Everything loaded so far lives as long as the process: out of the collector's sight, a
        # full collection no longer walks it. Measured here (int8 cnn, 16 connections): p99 41 -> 6 ms,
        # the stalls were the oldest generation's collections (benchmarks/results/serve/).
        gc.collect()
        gc.freeze()
        state["classifier"] = clf
        how = (f"micro-batches of up to {cfg.max_batch} texts (waiting at most {cfg.max_wait_ms:g} ms)" if batchable
               else "one text per model call (" + ("--max-batch 1" if cfg.max_batch == 1 else
                                                   "the file does not accept a batch dimension, e.g. a bilstm "
                                                   "exported with --lstm fused") + ")")
        log.info("kdedge serve: %s (%s, %d labels, max_len %d) in process %d: %s", model.name, sha256[:12],
                 len(clf.labels), clf.max_len, os.getpid(), how)

    async def load_in_background() -> None:
        try:
            await asyncio.to_thread(load)
        except Exception as e:  # the CLI checked the file before starting; say what went wrong here anyway
            state["error"] = f"{type(e).__name__}: {e}"
            log.error("kdedge serve: cannot load %s: %s", model, state["error"])

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if cfg.workers > 1:
            # Workers share one listening socket: a worker that accepted connections before its model
            # were ready would answer 503 beside ready siblings (a flapping readiness probe). uvicorn
            # starts accepting after the lifespan startup, so each worker loads first.
            await load_in_background()
            yield
            return
        task = asyncio.create_task(load_in_background())
        yield
        task.cancel()

    # No /docs: FastAPI's Swagger page loads its scripts from a CDN, which the page's cross-origin
    # isolation blocks and an offline server cannot reach; /openapi.json is the schema.
    app = FastAPI(title="kdedge serve", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=f"Sentiment classification with `{model.name}` (sha256 {sha256[:12]}…), "
                              "the same numbers as `kdedge predict`.")
    # Cross-origin isolation (every file the page loads is ours) gives the page performance.now() at 5 us
    # resolution instead of 100 us: the browser benchmark times calls of tens of microseconds.
    isolation = [(b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp")]
    app.add_middleware(_Instrument, metrics=metrics, headers=isolation if cfg.cdn is None else [])

    async def _read(request: Request, kind: type[BaseModel]) -> BaseModel:
        # The body is read and checked here rather than by a typed parameter: the size limit
        # applies while it streams in, and each kind of bad body gets its own one-line answer.
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > cfg.max_body_bytes:
            raise ApiError(413, f"request body of {int(length)} bytes is over the limit of {cfg.max_body_bytes}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > cfg.max_body_bytes:
                raise ApiError(413, f"request body is over the limit of {cfg.max_body_bytes} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ApiError(400, f"request body is not UTF-8 (byte {e.start})") from None
        try:
            req = kind.model_validate_json(text)
        except ValidationError as e:
            errors = e.errors(include_url=False)
            if errors and errors[0]["type"] == "json_invalid":
                raise ApiError(400, f"request body is not JSON: {errors[0]['ctx']['error']}") from None
            raise ApiError(422, "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}"
                                          for err in errors[:5])) from None
        return req

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return _error(e.status, e.message)

    @app.post("/v1/classify", response_model=None, summary="Classify texts",
              openapi_extra={"requestBody": {"required": True, **_schema_ref(ClassifyRequest)}},
              responses={200: {"model": ClassifyResponse}, **ERRORS})
    async def classify(request: Request) -> Response:
        req = await _read(request, ClassifyRequest)
        if len(req.texts) > cfg.max_texts:
            raise ApiError(413, f"texts: {len(req.texts)} texts, more than the limit of {cfg.max_texts} per request")
        for i, t in enumerate(req.texts):
            if len(t) > cfg.max_chars:
                raise ApiError(413, f"texts.{i}: {len(t)} characters, more than the limit of {cfg.max_chars}")
        batcher = state["batcher"]
        if batcher is None:
            raise ApiError(503, "the model is still loading" if state["error"] is None else state["error"])
        probs = await batcher.submit(req.texts)
        metrics.texts.inc(len(req.texts))
        labels = state["classifier"].labels
        k = len(labels) if req.top_k is None else min(req.top_k, len(labels))
        results = []
        for row in probs.tolist():
            order = sorted(range(len(row)), key=lambda i: -row[i])[:k]
            results.append({"label": labels[order[0]], "score": row[order[0]],
                            "scores": {labels[i]: row[i] for i in order}})
        return Response(json.dumps({"model": model.name, "results": results}, ensure_ascii=False),
                        media_type="application/json")

    explain_lock = asyncio.Lock()

    def explain_one(text: str, permutations: int) -> dict:
        from kdedge.classifier import TextClassifier
        from kdedge.explain.html import highlight
        from kdedge.explain.shapley import shapley_values, tflite_game
        from kdedge.explain.words import student_words

        if state.get("explainer") is None:  # its own interpreter: the batcher's runs on the event loop
            state["explainer"] = TextClassifier(model, num_threads=cfg.threads)
        clf = state["explainer"]
        words = student_words(clf.tokenizer, text)
        got = shapley_values(tflite_game(clf, words), len(words), permutations=permutations, seed=0)
        scores = [round(float(v), 6) for v in got.scores]
        return {"model": model.name, "label": clf.labels[got.target], "score": float(got.probabilities[got.target]),
                "method": "shapley-permutation", "words": list(words.words), "scores": scores,
                "html": highlight(words.words, scores)}

    @app.post("/v1/explain", response_model=None, summary="Explain one text: each word's share of the label",
              openapi_extra={"requestBody": {"required": True, **_schema_ref(ExplainRequest)}},
              responses={200: {"model": ExplainResponse}, **ERRORS})
    async def explain(request: Request) -> Response:
        req = await _read(request, ExplainRequest)
        if len(req.text) > cfg.max_chars:
            raise ApiError(413, f"text: {len(req.text)} characters, more than the limit of {cfg.max_chars}")
        if state["classifier"] is None:
            raise ApiError(503, "the model is still loading" if state["error"] is None else state["error"])
        async with explain_lock:  # one at a time per process, off the event loop: classify keeps answering
            out = await asyncio.to_thread(explain_one, req.text, req.permutations)
        return Response(json.dumps(out, ensure_ascii=False), media_type="application/json")

    def model_info() -> dict:
        clf = state["classifier"]
        assets = cfg.web_assets()
        return {"model": model.name, "sha256": sha256, "url": "/model.tflite",
                "labels": None if clf is None else clf.labels, "max_len": None if clf is None else clf.max_len,
                "batchable": state.get("batchable"), "ready": clf is not None,
                "assets": cfg.cdn.rstrip("/") if cfg.cdn else ("/assets/tasks-text" if assets else None)}

    @app.get("/v1/model", summary="The served model")
    async def model_route() -> dict:
        return model_info()

    @app.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the model is loaded and warmed up",
             responses={503: {"model": ErrorResponse}})
    async def readyz():
        if state["classifier"] is None:
            return _error(503, "the model is still loading" if state["error"] is None else state["error"])
        return {"status": "ready", "model": model.name}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_route() -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    page = (WEB_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, summary="The web page")
    async def index() -> HTMLResponse:
        return HTMLResponse(page.replace("{{MODEL}}", model.name))

    @app.get("/model.tflite", summary="The served .tflite (what the page's WASM runtime loads)")
    async def model_file() -> FileResponse:
        return FileResponse(model, media_type="application/octet-stream", headers={"ETag": f'"{sha256}"'})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in PAGE_FILES:
            raise ApiError(404, f"/static/{name}: no such file")
        return FileResponse(WEB_DIR / name, media_type=PAGE_FILES[name])

    @app.get("/assets/tasks-text/{path:path}", include_in_schema=False)
    async def assets(path: str) -> FileResponse:
        folder = cfg.web_assets()
        if folder is None:
            raise ApiError(404, "MediaPipe Tasks for Web is not installed here: run npm ci --prefix kdedge/serve/web, "
                                "or start kdedge serve with --cdn URL")
        parts = path.split("/")
        ok = (parts == ["text_bundle.mjs"] or (len(parts) == 2 and parts[0] == "wasm"
                                              and parts[1].startswith("text_wasm")))
        target = folder.joinpath(*parts)
        if not ok or Path(path).suffix not in ASSET_TYPES or not target.is_file():
            raise ApiError(404, f"/assets/tasks-text/{path}: no such file")
        return FileResponse(target, media_type=ASSET_TYPES[Path(path).suffix])

    @app.exception_handler(404)
    async def not_found(request: Request, e):
        return _error(404, f"{request.url.path}: not found")

    @app.exception_handler(405)
    async def not_allowed(request: Request, e):
        return _error(405, f"{request.method} {request.url.path}: method not allowed")

    return app


def app_from_env() -> FastAPI:
    """The app a ``kdedge serve --workers N`` worker builds (uvicorn factory): settings from ``$KDEDGE_SERVE``."""
    spec = json.loads(os.environ["KDEDGE_SERVE"])
    return create_app(spec["model"], ServeConfig(**spec["config"]))
