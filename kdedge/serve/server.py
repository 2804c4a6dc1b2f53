"""Run the service: uvicorn, one process or ``--workers N``, graceful shutdown on SIGTERM."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

from kdedge.serve.config import ServeConfig


def serve(model: str | Path, cfg: ServeConfig) -> None:
    """Serve ``model`` until SIGTERM / SIGINT; in-flight requests are answered first (``cfg.graceful_timeout``).

    The file is loaded and checked here first, so a bad file fails at once with one line
    (:class:`kdedge.errors.StageInputError`) instead of in every worker.
    """
    import uvicorn

    from kdedge.classifier import TextClassifier

    cfg.validate()
    TextClassifier(model)  # fail fast on a file that cannot be served
    # uvicorn answers SIGTERM/SIGINT by shutting down gracefully and then re-raising the signal
    # under the handler that was there before it; this one turns that into a clean exit (status 0,
    # and the ``finally`` below still runs) instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    common = {"host": cfg.host, "port": cfg.port, "timeout_graceful_shutdown": cfg.graceful_timeout,
              "access_log": cfg.access_log, "log_level": "info", "server_header": False}
    if cfg.workers == 1:
        from kdedge.serve.app import create_app
        uvicorn.run(create_app(model, cfg), **common)
        return
    # Worker processes build the app from the environment (uvicorn imports the factory in each), and
    # write their metrics to files that /metrics sums (prometheus-client's multiprocess mode).
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="kdedge-serve-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    os.environ["KDEDGE_SERVE"] = json.dumps({"model": str(Path(model).resolve()), "config": dataclasses.asdict(cfg)})
    try:
        uvicorn.run("kdedge.serve.app:app_from_env", factory=True, workers=cfg.workers, **common)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def _exit_cleanly(signum, frame):  # noqa: ARG001 - signal handler signature
    raise SystemExit(0)
