"""A ``.tflite`` from elsewhere is run first in a child process, so a file that crashes LiteRT cannot take
kdedge down with it.

LiteRT verifies a model's flatbuffer structure when it loads it, but a structurally valid file can still
hold nonsense (tensor shapes, buffer sizes, operator indices) that native code trips over. So before a
process loads a file it has not seen, a child (``python -m kdedge.untrusted``) loads it, allocates its
tensors and invokes it once on zeros; the parent hears "ok", a one-line error, or that the child died (a
signal) or hung. A file that passed is remembered by its sha256 (``$KDEDGE_CACHE/verified/``, else
``~/.cache/kdedge/verified/``), so the check runs once per file, not once per command.

:class:`Worker` keeps one child for many files (``benchmarks/fuzz_models.py`` tries thousands).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from kdedge.errors import StageInputError

TIMEOUT_S = 60.0


def verified_dir() -> Path:
    root = os.environ.get("KDEDGE_CACHE") or str(Path.home() / ".cache" / "kdedge")
    return Path(root) / "verified"


class Worker:
    """A child process that loads and invokes ``.tflite`` files on request, one JSON line each way."""

    def __init__(self):
        self.proc = None

    def _start(self):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "kdedge.untrusted"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                     start_new_session=True)

    def check(self, path: str | os.PathLike, timeout: float = TIMEOUT_S) -> tuple[str, str | None]:
        """``("ok", None)``, ``("refused", one line)``, ``("crashed", signal name)`` or ``("hung", None)``."""
        import selectors

        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write((json.dumps({"path": str(path)}) + "\n").encode())
        self.proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            self.close()
            return "hung", None
        line = self.proc.stdout.readline()
        if not line:  # the child died on this file
            code = self.proc.wait()
            self.proc = None
            return "crashed", (signal.Signals(-code).name if code < 0 else f"exit {code}")
        reply = json.loads(line)
        return ("ok", None) if reply["ok"] else ("refused", reply["error"])

    def close(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_model(path: str | os.PathLike, content: bytes | None = None, worker: Worker | None = None) -> None:
    """Run ``path`` once in a child before this process loads it (skipped for a file that passed before).
    ``worker``: a running :class:`Worker` to use (many files); default a child started for this file.

    Raises:
        StageInputError: the child refused it, crashed on it or hung; one line naming the file.
    """
    if os.environ.get("KDEDGE_TRUST_MODELS") == "1":
        return
    path = Path(path)
    digest = hashlib.sha256(path.read_bytes() if content is None else content).hexdigest()
    marker = verified_dir() / digest
    if marker.exists():
        return
    if worker is not None:
        outcome, detail = worker.check(path)
    else:
        with Worker() as own:
            outcome, detail = own.check(path)
    if outcome == "refused":
        raise StageInputError(detail)
    if outcome == "crashed":
        raise StageInputError(f"{path}: LiteRT crashed on it in a test run ({detail}); refused")
    if outcome == "hung":
        raise StageInputError(f"{path}: LiteRT did not finish loading and running it in {TIMEOUT_S:g} s; refused")
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(path) + "\n")
    except OSError:  # a read-only cache: check again next time
        pass


def _serve() -> None:
    import numpy as np

    from kdedge.runtime import TFLiteModel

    for line in sys.stdin:
        path = json.loads(line)["path"]
        try:
            model = TFLiteModel(path)
            for detail in model.inputs.values():
                shape = [max(1, int(d)) for d in detail["shape"]]
                model.interpreter.set_tensor(detail["index"], np.zeros(shape, dtype=detail["dtype"]))
            model.invoke()
            model.output_value()
            reply = {"ok": True}
        except StageInputError as e:
            reply = {"ok": False, "error": str(e)}
        except Exception as e:  # anything else LiteRT raises is a refusal too, in one line
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            reply = {"ok": False, "error": f"{path}: LiteRT cannot run it ({first[:200]})"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
