"""Keep TensorFlow's C++ start-up noise off the terminal.

Importing TensorFlow prints absl log lines from C++ (``cuInit`` failures on a
machine without a GPU, oneDNN and CPU-feature banners) that ``TF_CPP_MIN_LOG_LEVEL``
does not silence in TF 2.21. :func:`quiet_tensorflow` imports TensorFlow and lets it
probe its devices with file descriptor 2 pointed at ``/dev/null``, then restores it,
so later warnings and errors still show. ``KDEDGE_TF_LOGS=1`` keeps the noise.
"""

from __future__ import annotations

import os
import sys


def quiet_tensorflow() -> None:
    """Import TensorFlow (and probe its devices) with the C++ start-up logs discarded; idempotent."""
    if os.environ.get("KDEDGE_TF_LOGS") or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf
        tf.config.list_physical_devices()  # the GPU probe (cuInit) logs here, not at import
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
