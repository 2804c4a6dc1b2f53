"""``kdedge serve`` settings, and which ``.tflite`` of an export folder is served."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from kdedge.errors import ConfigError, StageInputError
from kdedge.options import setting

# An export folder's student files, best first for serving: the smallest and fastest file that
# keeps the float student's accuracy (the bench reports), then the others.
SERVED_ORDER = ("student_int8.tflite", "student_dynamic.tflite", "student_float32.tflite", "student_float16.tflite")
WEB_DIR = Path(__file__).parent / "web"
# Where `npm ci --prefix kdedge/serve/web` puts MediaPipe Tasks for Web (package-lock.json pins it).
NPM_ASSETS = WEB_DIR / "node_modules" / "@mediapipe" / "tasks-text"


@dataclasses.dataclass
class ServeConfig:
    """Settings of ``kdedge serve``; each field is a flag."""

    host: str = setting("127.0.0.1", "Address to listen on (0.0.0.0: every interface, e.g. in a container).")
    port: int = setting(8000, "TCP port (0: any free port, printed at start).")
    # One process runs one model call at a time on one core; more cores need more processes.
    workers: int = setting(1, "Server processes (set it to the number of cores; Prometheus multiprocess mode "
                           "when > 1).")
    threads: int = setting(1, "LiteRT interpreter threads per process.")
    max_batch: int = setting(64, "Most texts in one model call: concurrent requests' texts are batched up to "
                             "this (1: no batching).")
    # A call waits at most this long for more requests; 0 still batches what arrived together.
    max_wait_ms: float = setting(1.0, "How long a model call waits for more concurrent requests, in ms.")
    max_texts: int = setting(256, "Most texts in one request (more: 413).")
    max_chars: int = setting(10_000, "Most characters in one text (more: 413).")
    max_body_bytes: int = setting(1_048_576, "Largest request body in bytes (more: 413).")
    graceful_timeout: float = setting(30.0, "On SIGTERM, seconds to finish in-flight requests before closing.")
    assets: str | None = setting(None, "Folder with MediaPipe Tasks for Web's text_bundle.mjs and wasm/ (default: "
                                 "kdedge/serve/web/node_modules/@mediapipe/tasks-text, from npm ci).", type=str)
    cdn: str | None = setting(None, "Load MediaPipe Tasks for Web from this URL instead (e.g. "
                              "https://cdn.jsdelivr.net/npm/@mediapipe/tasks-text@1.0.1); the page then needs "
                              "the internet.", type=str)
    access_log: bool = setting(False, "Log every request (uvicorn's access log).")

    def validate(self) -> None:
        for flag, v, lo in (("--workers", self.workers, 1), ("--threads", self.threads, 1),
                            ("--max-batch", self.max_batch, 1), ("--max-texts", self.max_texts, 1),
                            ("--max-chars", self.max_chars, 1), ("--max-body-bytes", self.max_body_bytes, 64),
                            ("--port", self.port, 0)):
            if v < lo:
                raise ConfigError(f"{flag} must be >= {lo}, got {v}")
        if self.port > 65535:
            raise ConfigError(f"--port must be <= 65535, got {self.port}")
        if not 0 <= self.max_wait_ms <= 1000:
            raise ConfigError(f"--max-wait-ms must be in [0, 1000], got {self.max_wait_ms}")
        if self.graceful_timeout < 0:
            raise ConfigError(f"--graceful-timeout must be >= 0, got {self.graceful_timeout}")
        if self.assets is not None and self.cdn is not None:
            raise ConfigError("give --assets or --cdn, not both")
        if self.assets is not None and not (Path(self.assets) / "text_bundle.mjs").is_file():
            raise ConfigError(f"--assets {self.assets}: no text_bundle.mjs there (the @mediapipe/tasks-text package "
                              "folder)")
        if self.cdn is not None and not self.cdn.startswith(("https://", "http://")):
            raise ConfigError(f"--cdn must be an http(s) URL, got {self.cdn!r}")

    def web_assets(self) -> Path | None:
        """The local MediaPipe Tasks for Web folder the page loads, or None (CDN, or not installed)."""
        if self.cdn is not None:
            return None
        folder = Path(self.assets) if self.assets else NPM_ASSETS
        return folder if (folder / "text_bundle.mjs").is_file() else None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeConfig":
        return cls(**json.loads(text))


def served_file(path: str | Path) -> Path:
    """The ``.tflite`` to serve: ``path`` itself, or the best student file of an export folder.

    Raises:
        StageInputError: nothing there, or a folder with no student file.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for name in SERVED_ORDER:
            if (path / name).is_file():
                return path / name
        raise StageInputError(f"{path}: no student .tflite ({', '.join(SERVED_ORDER)}); give a `kdedge export` "
                              "folder or a .tflite file")
    raise StageInputError(f"{path}: no such file or folder")
