"""Atomic file writing, JSON, and the output-folder check.

Every file kdedge writes goes to a temporary name in the same folder and is
moved into place with ``os.replace``, which is atomic on POSIX: a reader sees
either the old file, the new file, or nothing -- never half a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from kdedge.errors import ConfigError, StageInputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    ``suffix`` keeps the extension for writers that insist on one (``.h5``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual mode
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_figure(path: str | os.PathLike, fig, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG, atomically, and close it."""
    import io

    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    write_bytes(path, buf.getvalue())


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageInputError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise StageInputError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None


def _json_default(obj: Any) -> Any:
    # numpy scalars and paths show up in metrics and configs.
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` on success.

    Used for outputs that are folders (a HF checkpoint): either the whole
    folder appears or nothing does.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this filesystem or kernel cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Put the finished folder ``src`` at ``dst``, replacing any folder there, with no moment where ``dst`` is
    missing or mixed: on Linux the two are exchanged atomically and the old one is then deleted. Elsewhere the
    old folder is first renamed aside (``.<name>.old-*``, deleted after): a crash in between leaves it there,
    complete, instead of nothing."""
    src, dst = Path(src), Path(dst)
    if not dst.exists():
        os.replace(src, dst)
        return
    if _exchange(src, dst):
        shutil.rmtree(src)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
    os.replace(dst, aside / dst.name)
    os.replace(src, dst)
    shutil.rmtree(aside, ignore_errors=True)


def prepare_out_dir(out: str | os.PathLike, overwrite: bool, flag: str = "--out") -> Path:
    """Check that a stage may write to ``out``; creates nothing.

    Raises:
        ConfigError: ``out`` exists and is not empty, and ``overwrite`` is False; or nothing can be
            written there (a read-only or pseudo filesystem, no permission).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{flag} {out}: folder exists and is not empty (pass --overwrite to replace it)")
    base = out.absolute()
    while not base.exists():
        base = base.parent
    try:  # a real probe: root passes access() checks, and /proc refuses a mkdir that access() allows
        probe = tempfile.mkdtemp(prefix=".kdedge-write-check.", dir=base)
        os.rmdir(probe)
        if base != out.absolute():
            probe = base / out.absolute().relative_to(base).parts[0]
            probe.mkdir()
            probe.rmdir()
    except OSError as e:
        raise ConfigError(f"{flag} {out}: cannot write there ({e.strerror or e})") from None
    return out


PARTIAL = ".partial"  # suffix of the hidden sibling an --overwrite run writes into


def partial_path(out: str | os.PathLike) -> Path:
    """Where a replacing run of ``out`` is written until it is complete: ``.<name>.partial`` beside it."""
    out = Path(out)
    return out.parent / f".{out.name}{PARTIAL}"


@contextlib.contextmanager
def output_folder(out: str | os.PathLike, overwrite: bool, resume: bool = False,
                  keep_on_error: str | None = None) -> Iterator[Path]:
    """The folder a stage writes into, for ``--out out`` (checked first: raises before anything is written).

    A new or empty ``out`` is written in place. With ``overwrite`` over a non-empty one the stage writes into
    :func:`partial_path` instead, and the finished folder replaces ``out`` in one step (:func:`replace_dir`):
    until then the previous output stays whole and readable, whatever happens to this run. With ``resume``
    an interrupted replacing run (its ``.partial`` folder) is continued, else ``out`` itself. On an error the
    partial folder is deleted, unless it holds ``keep_on_error`` (checkpoints a ``--resume`` can use).
    """
    out = Path(out)
    partial = partial_path(out)
    if resume:
        target = partial if partial.is_dir() else out
    else:
        prepare_out_dir(out, overwrite)
        if not (overwrite and out.is_dir() and any(out.iterdir())):
            yield out
            return
        if partial.exists():
            shutil.rmtree(partial)  # an earlier replacing run that was not resumed: --overwrite starts over
        target = partial
    if target == out:
        yield out
        return
    target.mkdir(parents=True, exist_ok=True)
    try:
        yield target
    except BaseException:
        if not (keep_on_error and (target / keep_on_error).exists()):
            shutil.rmtree(target, ignore_errors=True)
        raise
    replace_dir(target, out)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
