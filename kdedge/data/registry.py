"""Pick a dataset by name and find the data folder."""

from __future__ import annotations

import os
from pathlib import Path

import kdedge
from kdedge.errors import ConfigError, DataError
from kdedge.data.imdb import load_imdb
from kdedge.data.splits import Dataset
from kdedge.data.sst2 import load_sst2
from kdedge.data.table import load_files

DATASETS = ("sst2", "imdb", "custom")
DEFAULT_DATA_DIR = Path("..") / "shared" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """Find the data folder.

    Order: ``data_dir``; else ``$KDEDGE_DATA``; else ``../shared/data`` from the
    working directory, then from the repository root.

    Raises:
        DataError: The chosen folder does not exist.
    """
    if data_dir is not None:
        candidates, origin = [Path(data_dir).expanduser()], "--data-dir"
    elif os.environ.get("KDEDGE_DATA"):
        candidates, origin = [Path(os.environ["KDEDGE_DATA"]).expanduser()], "$KDEDGE_DATA"
    else:
        repo_root = Path(kdedge.__file__).resolve().parents[1]
        candidates, origin = [DEFAULT_DATA_DIR, repo_root / DEFAULT_DATA_DIR], None
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    if origin is not None:
        raise DataError(f"{origin} {candidates[0]}: folder not found")
    looked = " or ".join(str(c.absolute()) for c in candidates)
    raise DataError(f"no data folder at {looked}; pass --data-dir or set $KDEDGE_DATA")


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    train_file: str | os.PathLike | None = None,
    eval_file: str | os.PathLike | None = None,
    unlabeled_file: str | os.PathLike | None = None,
) -> Dataset:
    """Load ``sst2`` or ``imdb`` from the data folder, or ``custom`` from files.

    Args:
        name: One of :data:`DATASETS`.
        data_dir: Data folder for sst2/imdb; see :func:`resolve_data_dir`.
        train_file: Train table (.csv/.tsv/.jsonl); custom only, required.
        eval_file: Eval table; custom only, required.
        unlabeled_file: Optional extra unlabeled texts; custom only.

    Raises:
        ConfigError: Unknown name, or file arguments that do not fit it.
        DataError: The data is missing or malformed.
    """
    if name not in DATASETS:
        raise ConfigError(f"--dataset: unknown dataset {name!r} (choose {', '.join(DATASETS)})")
    if name == "custom":
        if train_file is None or eval_file is None:
            raise ConfigError("--dataset custom needs --train-file and --eval-file")
        return load_files(train_file, eval_file, unlabeled_file)
    if train_file is not None or eval_file is not None or unlabeled_file is not None:
        raise ConfigError(f"--train-file/--eval-file/--unlabeled-file are only for --dataset custom, not {name}")
    folder = resolve_data_dir(data_dir)
    return load_sst2(folder) if name == "sst2" else load_imdb(folder)
