"""Stanford Large Movie Review Dataset (aclImdb v1).

Layout: ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` plus
``aclImdb/train/unsup/*.txt``, either extracted or inside
``aclImdb_v1.tar.gz``, which is read in one streaming pass without extracting.
"""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np

from kdedge.errors import DataError
from kdedge.data.splits import SENTIMENT_LABELS, Dataset, Split

TARBALL = "aclImdb_v1.tar.gz"

_LABELS = {"neg": 0, "pos": 1, "unsup": -1}
_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(neg|pos|unsup)/([^/]+)$")
_FILE_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)

# (split, folder) -> {file name: text}
_Groups = dict[tuple[str, str], dict[str, str]]


def load_imdb(data_dir: str | os.PathLike, include_unlabeled: bool = True) -> Dataset:
    """Read IMDB from ``<data_dir>/aclImdb/`` or else ``<data_dir>/aclImdb_v1.tar.gz``.

    ``<br />`` tags become spaces. Within each split, reviews are ordered by
    (label, numeric id), whatever the order on disk. The eval split is test.

    Args:
        data_dir: Folder holding the extracted ``aclImdb`` folder or the tarball.
        include_unlabeled: Also read the 50,000 ``train/unsup`` reviews.

    Raises:
        DataError: Neither layout is found, a review folder is empty, or a
            file cannot be read.
    """
    data_dir = Path(data_dir)
    if (data_dir / "aclImdb").is_dir():
        root = data_dir / "aclImdb"
        groups = _read_folder(root, include_unlabeled)
        where = str(root)
    elif (data_dir / TARBALL).is_file():
        groups = _read_tarball(data_dir / TARBALL, include_unlabeled)
        where = f"{data_dir / TARBALL}: aclImdb"
    else:
        raise DataError(f"{data_dir}: neither aclImdb/ nor {TARBALL} found")

    def split(name: str, tar_split: str, names: list[str]) -> Split:
        texts: list[str] = []
        labels: list[int] = []
        for folder in names:
            files = groups.get((tar_split, folder), {})
            if not files:
                raise DataError(f"{where}/{tar_split}/{folder}: no reviews found")
            for file_name in sorted(files, key=lambda n: tuple(int(g) for g in _FILE_NAME.match(n).groups())):
                texts.append(_clean(files[file_name]))
                labels.append(_LABELS[folder])
        return Split(name, texts, np.array(labels, dtype=np.int64), source=f"{where}/{tar_split}")

    return Dataset(
        name="imdb",
        train=split("train", "train", ["neg", "pos"]),
        eval=split("eval", "test", ["neg", "pos"]),
        unlabeled=split("unlabeled", "train", ["unsup"]) if include_unlabeled else None,
        label_names=list(SENTIMENT_LABELS),
    )


def _clean(text: str) -> str:
    return _BR.sub(" ", text).strip()


def _wanted(split: str, folder: str, include_unlabeled: bool) -> bool:
    if folder == "unsup":
        return split == "train" and include_unlabeled
    return True


def _check_name(file_name: str, where: str) -> bool:
    """True for review files; raises for a ``.txt`` file not named ``<id>_<rating>.txt``."""
    if _FILE_NAME.match(file_name):
        return True
    if file_name.endswith(".txt"):
        raise DataError(f"{where}: review file name is not <id>_<rating>.txt")
    return False


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not valid UTF-8 ({e.reason})") from None


def _read_tarball(path: Path, include_unlabeled: bool) -> _Groups:
    groups: _Groups = {}
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                match = _MEMBER.match(member.name)
                if not member.isfile() or not match:
                    continue
                split, folder, file_name = match.groups()
                where = f"{path}: {member.name}"
                if not _wanted(split, folder, include_unlabeled) or not _check_name(file_name, where):
                    continue
                data = tar.extractfile(member).read()
                # A name stored twice in a tar: the later copy wins, as on extraction.
                groups.setdefault((split, folder), {})[file_name] = _decode(data, where)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{path}: cannot read the archive ({e})") from None
    return groups


def _read_folder(root: Path, include_unlabeled: bool) -> _Groups:
    groups: _Groups = {}
    for split in ("train", "test"):
        for folder in ("neg", "pos", "unsup"):
            directory = root / split / folder
            if not _wanted(split, folder, include_unlabeled):
                continue
            if not directory.is_dir():
                raise DataError(f"{directory}: folder not found")
            files = groups.setdefault((split, folder), {})
            for file in directory.iterdir():
                if file.is_file() and _check_name(file.name, str(file)):
                    files[file.name] = _decode(file.read_bytes(), str(file))
    return groups
