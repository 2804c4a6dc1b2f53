"""The manifest of the machine and software a measurement was made with."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

import numpy as np


def machine_info(threads: tuple = ()) -> dict:
    """The manifest of the machine and software a report was measured with."""
    import ai_edge_litert
    import tensorflow as tf
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit, dirty = None, None
    try:
        here = Path(__file__).parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=here, timeout=5).stdout.strip() or None
        if commit:
            dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                        capture_output=True, text=True, cwd=here, timeout=5).stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "tensorflow": tf.__version__,
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
            "git_commit": commit, "git_dirty": dirty, "threads": list(threads),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
