"""Pick a dataset by name and find the data folder."""

from __future__ import annotations

import os
from pathlib import Path

import kdedge
from kdedge.errors import ConfigError, DataError
from kdedge.data.imdb import load_imdb
from kdedge.data.splits import Dataset
from kdedge.data.sst2 import load_sst2
from kdedge.data.sst_trees import load_sst_trees, sst2_test
from kdedge.data.table import load_files

DATASETS = ("sst2", "sst5", "sst3", "imdb", "custom")
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
    label_names: list[str] | None = None,
) -> Dataset:
    """Load ``sst2``, ``sst5``, ``sst3`` or ``imdb`` from the data folder, or ``custom`` from files.

    ``sst2`` is GLUE's train and dev, plus the treebank's binary test sentences
    as ``test`` when the data folder has the trees; ``sst5``/``sst3`` are the
    treebank's sentences with the test split as eval.

    Args:
        name: One of :data:`DATASETS`.
        data_dir: Data folder for sst2/imdb; see :func:`resolve_data_dir`.
        train_file: Train table (.csv/.tsv/.jsonl); custom only, required.
        eval_file: Eval table; custom only, required.
        unlabeled_file: Optional extra unlabeled texts; custom only.
        label_names: custom only: the labels in id order (default: inferred from the train file).

    Raises:
        ConfigError: Unknown name, or file arguments that do not fit it.
        DataError: The data is missing or malformed.
    """
    if name not in DATASETS:
        raise ConfigError(f"--dataset: unknown dataset {name!r} (choose {', '.join(DATASETS)})")
    if name == "custom":
        if train_file is None or eval_file is None:
            raise ConfigError("--dataset custom needs --train-file and --eval-file")
        return load_files(train_file, eval_file, unlabeled_file, label_names=label_names)
    if train_file is not None or eval_file is not None or unlabeled_file is not None or label_names:
        raise ConfigError(f"--train-file/--eval-file/--unlabeled-file/--label-names are only for --dataset custom, "
                          f"not {name}")
    folder = resolve_data_dir(data_dir)
    if name == "sst2":
        ds = load_sst2(folder)
        ds.test = sst2_test(folder)
        return ds
    if name in ("sst5", "sst3"):
        return load_sst_trees(folder, name)
    return load_imdb(folder)
