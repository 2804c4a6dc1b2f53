"""What the serve tests share: the server process helpers (kdedge.serve.process), run from the repository."""

from __future__ import annotations

import functools
from pathlib import Path

from kdedge.serve import process
from kdedge.serve.process import free_port, http

REPO = Path(__file__).resolve().parents[2]
running_server = functools.partial(process.running_server, cwd=REPO)

__all__ = ["REPO", "free_port", "http", "running_server"]
