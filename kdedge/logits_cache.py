"""On-disk cache of teacher logits, keyed by what determines them.

A teacher forward pass over SST-2 train costs minutes on 2 cores; the same
teacher, texts and tokenizer settings always give the same logits, so they are
computed once. The key is a SHA-256 over the teacher's weight file, its
tokenizer vocabulary, the max length and the texts themselves: change any of
them and the key changes. Files are ``.npy`` (no pickle), written atomically.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np

from kdedge.io import atomic_path, sha256_file


def default_cache_dir() -> Path:
    """``$KDEDGE_CACHE``, else ``~/.cache/kdedge``."""
    return Path(os.environ.get("KDEDGE_CACHE") or Path.home() / ".cache" / "kdedge")


def teacher_fingerprint(teacher_model_dir: str | Path) -> str:
    """The hashes of the teacher's weight and tokenizer files (hashing 90 MB once, not per lookup)."""
    folder = Path(teacher_model_dir)
    return "".join(f"{name}:{sha256_file(folder / name)}\n"
                   for name in ("tf_model.h5", "model.safetensors", "vocab.txt", "tokenizer.json")
                   if (folder / name).is_file())


def teacher_key(teacher_model_dir: str | Path, texts: list[str], max_len: int,
                fingerprint: str | None = None) -> str:
    """Cache key for the teacher in ``teacher_model_dir`` labeling ``texts``.

    ``fingerprint``: :func:`teacher_fingerprint` of that folder, if already computed.
    """
    h = hashlib.sha256()
    h.update((fingerprint if fingerprint is not None else teacher_fingerprint(teacher_model_dir)).encode())
    h.update(f"max_len:{max_len}\n".encode())
    for text in texts:
        h.update(hashlib.sha256(text.encode("utf-8")).digest())
    return h.hexdigest()


def cached_logits(cache_dir: str | Path, key: str, compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    """Return ``(logits, hit)``: the cached array for ``key``, or ``compute()`` stored under it."""
    path = Path(cache_dir) / "teacher_logits" / f"{key}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False), True
    logits = np.asarray(compute(), dtype=np.float32)
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, logits, allow_pickle=False)
    return logits, False
