"""Fetch a dataset from its official distribution URL when no data folder has it.

``kdedge data`` / ``pipeline`` call :func:`ensure_dataset` when the data folder
lacks the files a dataset needs. The archive goes to ``<folder>/.downloads/``
(``<folder>`` is ``$KDEDGE_DATA`` or ``~/.cache/kdedge/data``) with a progress
bar; an interrupted download resumes with an HTTP ``Range`` request; the files
kdedge reads are checked against pinned SHA-256 digests; only then are they
moved into place (atomically: a rename of a complete folder or file), so a
failed or corrupt download leaves nothing that looks complete.

The digests are those of the **files kdedge reads** (the SST-2 TSVs, the
treebank's three tree files, and for IMDB one digest over every review file of
the tarball, ``name<TAB>sha256`` lines in name order), taken from copies of the
official distributions. They are pinned per file rather than per archive so a
repackaged archive with the same contents (IMDB is also shipped without its
``*.feat`` files) still verifies.

``$KDEDGE_MIRROR`` (a URL prefix) fetches the same file names from elsewhere,
e.g. a company mirror; the tests point it at a server on loopback.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from kdedge.errors import DataError

CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class Source:
    """One official archive and the files of it that kdedge reads."""

    name: str
    url: str
    archive: str  # file name of the download
    kind: str  # "zip" (extracted into ``into``) or "tarball" (kept as is; the loader streams it)
    into: str  # folder (zip) or file name (tarball) under the data folder
    files: dict[str, str] = field(default_factory=dict)  # member -> sha256 (zip)
    content_sha256: str | None = None  # tarball: digest over its review files (module docstring)


SOURCES = {
    "sst2": Source("GLUE SST-2", "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip", "SST-2.zip", "zip", ".",
                   {"SST-2/train.tsv": "8621df47b79e9b3fa010405ef4dd506cbf483319cf851f20f2b6773f61d387b5",
                    "SST-2/dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"}),
    "trees": Source("Stanford Sentiment Treebank (PTB trees)",
                    "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip", "trainDevTestTrees_PTB.zip",
                    "zip", "trainDevTestTrees_PTB",
                    {"trees/train.txt": "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
                     "trees/dev.txt": "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40",
                     "trees/test.txt": "6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761"}),
    "imdb": Source("Large Movie Review Dataset v1.0", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                   "aclImdb_v1.tar.gz", "tarball", "aclImdb_v1.tar.gz",
                   content_sha256="89af12cafe99666ba1d026405213be16113ccedc30e370bf6cfb7a82db1be8c6"),
}
# What each dataset needs (SST-2's test sentences come from the trees when they are there).
NEEDS = {"sst2": ("sst2",), "sst5": ("trees",), "sst3": ("trees",), "imdb": ("imdb",)}


def default_folder() -> Path:
    """Where downloads go: ``$KDEDGE_DATA``, else ``~/.cache/kdedge/data``."""
    env = os.environ.get("KDEDGE_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kdedge" / "data"


def has_source(folder: Path, key: str) -> bool:
    """Whether ``folder`` already holds what ``SOURCES[key]`` provides (in any layout the loaders read)."""
    folder = Path(folder)
    if key == "sst2":
        return (folder / "SST-2" / "train.tsv").is_file() or (folder / "train.tsv").is_file()
    if key == "trees":
        from kdedge.data.sst_trees import find_trees
        return find_trees(folder) is not None
    return (folder / "aclImdb_v1.tar.gz").is_file() or (folder / "aclImdb").is_dir()


def url_of(source: Source) -> str:
    mirror = os.environ.get("KDEDGE_MIRROR")
    return f"{mirror.rstrip('/')}/{source.archive}" if mirror else source.url


def fetch(url: str, dest: Path, desc: str) -> None:
    """Download ``url`` to ``dest``, resuming ``dest.part`` with a Range request; a progress bar."""
    from kdedge.progress import progress_bytes

    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        if have and response.status != 206:  # the server ignored the range: start over
            have = 0
        total = response.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        with open(part, "ab" if have else "wb") as f, progress_bytes(total, have, desc) as bar:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size < total:
        raise DataError(f"{url}: the download stopped at {part.stat().st_size} of {total} bytes; run again to "
                        "resume it")
    os.replace(part, dest)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tarball_content_sha256(path: Path) -> str:
    """The digest over a review tarball's ``.txt`` review files (module docstring)."""
    lines = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[1] in ("train", "test") and \
                    parts[2] in ("pos", "neg", "unsup") and parts[3].endswith(".txt"):
                lines.append(f"{member.name}\t{_sha256(tar.extractfile(member).read())}\n")
    return _sha256("".join(sorted(lines)).encode())


def _verify_and_place(source: Source, archive: Path, folder: Path, url: str) -> None:
    """Check the files kdedge reads against their digests, then move them into ``folder`` atomically."""
    bad = f"{url}: the download does not match the pinned SHA-256 digests"
    if source.kind == "tarball":
        try:
            digest = tarball_content_sha256(archive)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{bad} (not a readable tarball: {e})") from None
        if digest != source.content_sha256:
            raise DataError(f"{bad} (review files differ)")
        os.replace(archive, folder / source.into)
        return
    staging = folder / f".{source.archive}.extract"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as z:
            names = set(z.namelist())
            prefix = next((p for p in ("", f"{Path(source.archive).stem}/") if all(p + m in names
                                                                                    for m in source.files)), None)
            if prefix is None:
                missing = sorted(m for m in source.files if m not in names)
                raise DataError(f"{bad} (the archive lacks {', '.join(missing)})")
            for member, digest in source.files.items():
                data = z.read(prefix + member)
                if _sha256(data) != digest:
                    raise DataError(f"{bad} ({member} differs)")
                target = staging / member
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    except zipfile.BadZipFile as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{bad} (not a readable zip: {e})") from None
    except DataError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for top in sorted({m.split("/")[0] for m in source.files}):
        dest = (folder / source.into / top) if source.into != "." else folder / top
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging / top, dest)
    shutil.rmtree(staging, ignore_errors=True)
    archive.unlink()


def ensure_source(key: str, folder: Path | None = None, offline: bool = False) -> Path:
    """Make ``folder`` (default :func:`default_folder`) hold ``SOURCES[key]``; returns the folder.

    Raises:
        DataError: ``offline``, no network, a failed or corrupt download -- one line naming the URL
            and the folder to put the files in by hand.
    """
    folder = Path(folder) if folder is not None else default_folder()
    if has_source(folder, key):
        return folder
    source = SOURCES[key]
    url = url_of(source)
    by_hand = f"put {source.archive} ({source.name}, from {source.url}) in {folder}" + (
        " and unzip it there" if source.kind == "zip" else "")
    if offline:
        raise DataError(f"--offline: {source.name} is not in {folder}; {by_hand}")
    downloads = folder / ".downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / source.archive
    try:
        if not archive.exists():
            fetch(url, archive, f"download {source.archive}")
    except http.client.HTTPException as e:  # the connection dropped mid-file: the .part is kept
        raise DataError(f"could not download {url} ({type(e).__name__}); run again to resume, or {by_hand}") \
            from None
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or e
        raise DataError(f"could not download {url} ({reason}); {by_hand}") from None
    try:
        _verify_and_place(source, archive, folder, url)
    except DataError:
        archive.unlink(missing_ok=True)  # a corrupt archive is not resumed: the next run starts over
        raise
    return folder


def ensure_dataset(name: str, folder: Path | None = None, offline: bool = False,
                   optional: tuple[str, ...] = ()) -> Path:
    """Everything ``name`` needs (plus the ``optional`` sources, skipped quietly when they fail)."""
    folder = Path(folder) if folder is not None else default_folder()
    for key in NEEDS.get(name, ()):
        ensure_source(key, folder, offline)
    for key in optional:
        try:
            ensure_source(key, folder, offline)
        except DataError as e:
            print(f"kdedge data: skipped {SOURCES[key].name}: {e}", flush=True)
    return folder
