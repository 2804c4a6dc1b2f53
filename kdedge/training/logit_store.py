"""On-disk store of teacher logits, addressed by what determines them.

A teacher forward pass over a transfer set costs minutes to an hour on 2 cores;
the same teacher, tokenizer settings and text always give the same logits, so
each text is labeled once. The store is content-addressed:

- a *namespace* per teacher and settings: SHA-256 over the teacher's weight
  and tokenizer files (and its head, when it is not the default [CLS] one),
  the max length and the truncation mode;
- inside it, one row per text, found by the SHA-256 of the text.

Rows are written in shards of a few thousand texts, each shard atomically
(temp file + ``os.replace``), as soon as it is labeled. An interrupted labeling
job therefore loses at most one shard, and the rerun labels only what is
missing. Any later transfer set that shares texts with an earlier one (a bigger
sample, a new augmentation of the same split) reuses their rows. Files are
``.npz`` of plain arrays, loaded with ``allow_pickle=False``.

Several processes may label into one store at once (two runs sharing a cache): each shard is
chosen, computed and written under an exclusive lock on the namespace (``flock`` on ``.lock``),
after re-reading the shards the others wrote, so no text is computed twice and the processes
share the work; readers need no lock (a shard appears whole or not at all).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from kdedge.io import atomic_path, sha256_file

SHARD_SIZE = 4096


def default_cache_dir() -> Path:
    """``$KDEDGE_CACHE``, else ``~/.cache/kdedge``."""
    return Path(os.environ.get("KDEDGE_CACHE") or Path.home() / ".cache" / "kdedge")


def teacher_fingerprint(teacher_model_dir: str | Path) -> str:
    """The hashes of the teacher's weight and tokenizer files (hashing 90 MB once, not per lookup)."""
    folder = Path(teacher_model_dir)
    files = "".join(f"{name}:{sha256_file(folder / name)}\n"
                    for name in ("tf_model.h5", "model.safetensors", "vocab.txt", "tokenizer.json")
                    if (folder / name).is_file())
    # The same weights under another head are another teacher. Only a non-default head is named, so the
    # stores of [CLS] teachers made before the head was a setting keep their names.
    pooling = _pooling(folder)
    return files if pooling == "cls" else f"{files}pooling:{pooling}\n"


def _pooling(folder: Path) -> str:
    from kdedge.models.teacher import POOLING_KEY

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return "cls"
    return str(config.get(POOLING_KEY, "cls")) if isinstance(config, dict) else "cls"


def namespace(fingerprint: str, max_len: int, truncation: str = "head") -> str:
    """The store's folder name for one teacher (its :func:`teacher_fingerprint`) and its input settings."""
    h = hashlib.sha256(f"{fingerprint}max_len:{max_len}\ntruncation:{truncation}\n".encode())
    return h.hexdigest()[:32]


def text_keys(texts: list[str]) -> np.ndarray:
    """SHA-256 of each text, ``uint8 [n, 32]``."""
    out = np.empty((len(texts), 32), dtype=np.uint8)
    for i, text in enumerate(texts):
        out[i] = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest(), dtype=np.uint8)
    return out


class LogitStore:
    """The rows of one namespace: ``lookup`` what is there, ``label`` what is not."""

    def __init__(self, cache_dir: str | Path, name: str):
        self.cache_dir, self.name = Path(cache_dir), name
        self.folder = self.cache_dir / "teacher_logits" / name
        self._rows: dict[bytes, np.ndarray] | None = None

    def rows(self) -> dict[bytes, np.ndarray]:
        """Every row on disk now (shards written since the last look are read), by text key bytes."""
        return self._load()

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._rows is None:
            self._rows, self._shards = {}, set()
        for shard in sorted(self.folder.glob("shard-*.npz")):  # shards another process wrote since the last look
            if shard.name in self._shards:
                continue
            with np.load(shard, allow_pickle=False) as z:
                for key, row in zip(z["keys"], z["logits"]):
                    self._rows[key.tobytes()] = row
            self._shards.add(shard.name)
        return self._rows

    @contextlib.contextmanager
    def _locked(self):
        """An exclusive lock on this namespace, across processes (held while one shard is chosen and made)."""
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def missing(self, texts: list[str]) -> list[int]:
        """Indices of the first occurrence of each text the store has no row for."""
        return self._missing(text_keys(texts))

    def _missing(self, keys: np.ndarray) -> list[int]:
        rows = self._load()
        seen = set()
        out = []
        for i, key in enumerate(keys):
            k = key.tobytes()
            if k not in rows and k not in seen:
                seen.add(k)
                out.append(i)
        return out

    def write(self, keys: np.ndarray, logits: np.ndarray) -> str:
        """Write one shard of rows (atomically, named by the hash of its keys) without reading the store;
        returns its file name."""
        logits = np.asarray(logits, dtype=np.float32)
        digest = hashlib.sha256(keys.tobytes()).hexdigest()[:24]
        name = f"shard-{digest}.npz"
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / name, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, keys=keys, logits=logits)
        return name

    def add_new(self, texts: list[str], logits: np.ndarray) -> int:
        """Write the rows of ``texts`` the store does not hold yet as one shard, under the namespace lock
        (a labeler elsewhere may have written some of them meanwhile); returns how many rows were written."""
        keys = text_keys(texts)
        with self._locked():
            rows = self._load()
            keep = [i for i, k in enumerate(keys) if k.tobytes() not in rows]
            if keep:
                self.add_rows(keys[keep], np.asarray(logits)[keep])
        return len(keep)

    def add(self, texts: list[str], logits: np.ndarray) -> None:
        """Write one shard for ``texts`` (atomically) and keep its rows."""
        self.add_rows(text_keys(texts), logits)

    def add_rows(self, keys: np.ndarray, logits: np.ndarray) -> None:
        """Write one shard of rows (keys from :func:`text_keys`) and keep them."""
        logits = np.asarray(logits, dtype=np.float32)
        name = self.write(keys, logits)
        if self._rows is None:
            self._load()  # everything on disk, this shard included
            return
        self._shards.add(name)
        for key, row in zip(keys, logits):
            self._rows[key.tobytes()] = row

    def label(self, texts: list[str], compute: Callable[[list[str]], np.ndarray],
              shard_size: int = SHARD_SIZE, on_shard: Callable[[int, int], None] | None = None,
              on_start: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
        """Logits for ``texts``, computing only the missing ones, a shard at a time.

        Args:
            compute: ``texts -> float [len(texts), classes]`` (the teacher).
            on_shard: called with ``(labeled_so_far, to_label)`` after each shard.
            on_start: called once with the number of texts to label, before any is.

        Returns:
            ``(logits [len(texts), classes], number of texts computed)``.
        """
        keys = text_keys(texts)  # hashed once: lookups and the final gather share them
        todo = self._missing(keys)
        if on_start is not None:
            on_start(len(todo))
        total, computed = len(todo), 0
        while todo:
            with self._locked():
                rows = self._load()  # the shards other processes wrote meanwhile
                todo = [i for i in todo if keys[i].tobytes() not in rows]
                chunk = todo[:shard_size]
                if chunk:
                    self.add([texts[i] for i in chunk], compute([texts[i] for i in chunk]))
                    computed += len(chunk)
            todo = todo[len(chunk):]
            if on_shard is not None and chunk:
                on_shard(total - len(todo), total)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32), 0
        rows = self._load()
        return np.stack([rows[k.tobytes()] for k in keys]).astype(np.float32), computed
