"""The serve page in headless Chromium, driven from Python (the browser tests and the browser benchmark).

``drive.mjs`` (next to the page, run by Node with ``playwright-core`` from ``npm ci --prefix
kdedge/serve/web``) launches Debian's ``/usr/bin/chromium`` — never a downloaded browser — with an empty
profile, opens the page, and answers one JSON command per line. :class:`PageDriver` speaks that protocol;
:func:`time_page` times ``classify(text)`` in the page with the stopping rule of every host figure
(:func:`kdedge.measure.timing.adaptive_timing`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from kdedge.errors import StageInputError

WEB = Path(__file__).resolve().parent / "web"


def chromium_path() -> str:
    """Debian's Chromium (``apt-get install chromium``), or ``$KDEDGE_CHROMIUM``."""
    path = os.environ.get("KDEDGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        raise StageInputError(f"no Chromium at {path}: apt-get install chromium (or set KDEDGE_CHROMIUM)")
    return path


class PageDriver:
    """One headless Chromium on ``url`` (a ``kdedge serve`` page), in its own process group.

    Use as a context manager; :attr:`opened` holds the browser version, whether the in-browser model
    loaded (``ready``) and ``cross_origin_isolated`` (fine-grained ``performance.now()``).
    """

    def __init__(self, url: str, timeout_s: float = 120.0):
        if shutil.which("node") is None:
            raise StageInputError("node is not installed (the page driver runs on Node.js)")
        if not (WEB / "node_modules" / "playwright-core").is_dir():
            raise StageInputError(f"playwright-core is not installed: npm ci --prefix {WEB}")
        self.timeout_s = timeout_s
        self.proc = subprocess.Popen(["node", str(WEB / "drive.mjs")], cwd=WEB, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self._stderr: list[str] = []
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()
        try:
            self.opened = self._send({"url": url, "chromium": chromium_path(), "timeout_ms": int(timeout_s * 1000)})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> PageDriver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, command: dict) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = _readline(self.proc.stdout, self.timeout_s)
        if line is None:
            raise RuntimeError(f"the page driver did not answer {command.get('op', 'open')!r} in "
                               f"{self.timeout_s:.0f} s: {''.join(self._stderr)[-2000:]}")
        if not line:
            raise RuntimeError(f"the page driver exited: {''.join(self._stderr)[-2000:]}")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(f"page driver: {answer['error']}")
        return answer

    def classify(self, texts: list[str]) -> dict:
        """``{"local": [...], "server": [...]}``: each text classified in the page (WASM) and through the API."""
        return self._send({"op": "classify", "texts": list(texts)})

    def warmup(self, texts: list[str], n: int) -> None:
        self._send({"op": "warmup", "texts": list(texts), "n": int(n)})

    def time(self, texts: list[str], start: int, n: int) -> list[float]:
        """Durations in ms of ``n`` in-page ``classify`` calls on ``texts[start:]`` (cycling)."""
        return self._send({"op": "time", "texts": list(texts), "start": int(start), "n": int(n)})["ms"]

    def type(self, text: str) -> dict:
        """Type ``text`` into the page and press Classify; ``{"agree": ..., "shown_label": ...}``."""
        return self._send({"op": "type", "text": text})

    def screenshot(self, path: str | Path) -> None:
        self._send({"op": "screenshot", "path": str(Path(path).resolve())})

    def close(self) -> list[str]:
        """Close the browser; the page's console lines."""
        logs: list[str] = []
        if self.proc.poll() is None:
            try:
                logs = self._send({"op": "close"}).get("logs", [])
                self.proc.wait(timeout=30)
            except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.logs = logs
        return logs


def _readline(stream, timeout_s: float) -> str | None:
    """A line of ``stream`` ('' at its end), or None after ``timeout_s``."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else None


def time_page(driver: PageDriver, texts: list[str], plan) -> dict:
    """In-page ``classify(text)`` latency over ``texts``: ``plan.warmup`` untimed calls, then the host rule."""
    from kdedge.measure.timing import adaptive_timing

    driver.warmup(texts, plan.warmup)
    return adaptive_timing(lambda start, n: [ms / 1000.0 for ms in driver.time(texts, start, n)], plan)
