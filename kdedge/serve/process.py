"""``kdedge serve`` as a child process on a free loopback port (tests and benchmarks start it this way).

The server gets its own process group, is waited for until ``/readyz`` answers 200, and is stopped with
SIGTERM (then SIGKILL after a grace period) when the ``with`` block ends, whatever happens inside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10.0):
    """(status, parsed JSON or text) of a GET, or of a POST when ``body`` is given."""
    req = urllib.request.Request(url, data=body, headers=headers or {"content-type": "application/json"},
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, data, ctype = r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, data, ctype = e.code, e.read(), e.headers.get("content-type", "")
    return status, json.loads(data) if "json" in ctype else data.decode()


@contextlib.contextmanager
def running_server(model: str | Path, log: str | Path, *flags: str, importtime: bool = False,
                   ready_s: float = 60.0, cwd: str | Path | None = None):
    """Start ``kdedge serve MODEL --port P FLAGS`` (output to ``log``) and wait for ``/readyz``.

    Yields (base URL, process). ``importtime`` runs Python with ``-X importtime`` (the log then lists
    every module the server imported).
    """
    port = free_port()
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + \
          ["-m", "kdedge", "serve", str(model), "--host", "127.0.0.1", "--port", str(port), *flags]
    log = Path(log)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"kdedge serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if http(url + "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kdedge serve not ready in {ready_s} s: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
