"""Small datasets in their real layouts, built in tmp_path, shared by the loader and data-stage tests."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from kdedge.data import Dataset

# The real data, next to the repository (../shared/data); tests that read it skip without it.
REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


SST2_TRAIN = 'sentence\tlabel\nhide new secretions \t0\nit \'s a "charming" film \t1\nflat , dull \t0\n'
SST2_DEV = "sentence\tlabel\nsoars \t1\n"


def make_sst2(root: Path, subfolder: bool = True) -> Path:
    folder = root / "SST-2" if subfolder else root
    write(folder / "train.tsv", SST2_TRAIN)
    write(folder / "dev.tsv", SST2_DEV)
    return root


# (split, folder, file name, text); listed out of order on purpose.
IMDB_FILES = [
    ("train", "pos", "10_9.txt", "Great.<br /><br />Loved it."),
    ("train", "neg", "2_1.txt", "Awful<br/>film."),
    ("train", "pos", "9_8.txt", "Fine<BR>enough."),
    ("train", "neg", "11_3.txt", "Dull."),
    ("test", "neg", "0_2.txt", "Bad."),
    ("test", "pos", "5_10.txt", "Superb."),
    ("train", "unsup", "3_0.txt", "Saw it."),
    ("train", "unsup", "1_0.txt", "Meh."),
]


def expected_imdb(ds: Dataset) -> None:
    assert ds.name == "imdb"
    # Sorted by (label, numeric id): neg 2 < 11, pos 9 < 10.
    assert ds.train.texts == ["Awful film.", "Dull.", "Fine enough.", "Great.  Loved it."]
    assert ds.train.labels.tolist() == [0, 0, 1, 1]
    assert ds.eval.texts == ["Bad.", "Superb."]
    assert ds.eval.labels.tolist() == [0, 1]
    assert ds.unlabeled is not None
    assert ds.unlabeled.texts == ["Meh.", "Saw it."]
    assert ds.unlabeled.labels.tolist() == [-1, -1]
    assert ds.unlabeled.num_labeled == 0


def make_imdb_tarball(root: Path, files=IMDB_FILES, extra: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        entries = [(f"aclImdb/{s}/{f}/{n}", t) for s, f, n, t in files]
        if extra:
            entries += [("aclImdb/README", "readme"), ("aclImdb/train/urls_pos.txt", "http://x")]
        for name, text in entries:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return root


def make_imdb_folder(root: Path, files=IMDB_FILES) -> Path:
    for s, f, n, t in files:
        write(root / "aclImdb" / s / f / n, t)
    write(root / "aclImdb" / "imdb.vocab", "the\n")
    return root
