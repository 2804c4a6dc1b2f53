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
        candidates, origin = default_candidates(), None
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    if origin is not None:
        raise DataError(f"{origin} {candidates[0]}: folder not found")
    looked = " or ".join(dict.fromkeys(str(c.absolute()) for c in candidates))
    raise DataError(f"no data folder at {looked}; pass --data-dir or set $KDEDGE_DATA")


def default_candidates() -> list[Path]:
    """The folders searched without --data-dir or $KDEDGE_DATA: ../shared/data (from the working
    directory, then from the repository root), then the download folder ~/.cache/kdedge/data."""
    from kdedge.data.download import default_folder
    repo_root = Path(kdedge.__file__).resolve().parents[1]
    found = [DEFAULT_DATA_DIR, repo_root / DEFAULT_DATA_DIR, default_folder()]
    return list({str(p.absolute()): p for p in found}.values())


def locate_dataset(name: str, data_dir: str | os.PathLike | None, offline: bool = False) -> Path:
    """The data folder holding ``name``, downloading it when no folder has it.

    ``--data-dir`` (or ``$KDEDGE_DATA``) is used as given: a dataset missing there is downloaded
    into it (``$KDEDGE_DATA``) or refused (``--data-dir``, naming the URL). Otherwise the default
    folders are searched in order and, when none has the dataset, it is downloaded into
    ``~/.cache/kdedge/data`` (:mod:`kdedge.data.download`).

    Raises:
        DataError: the folder is missing, or the dataset is not there and cannot be downloaded.
    """
    from kdedge.data.download import NEEDS, SOURCES, ensure_dataset, has_source

    needs = NEEDS.get(name, ())
    if data_dir is not None:
        folder = resolve_data_dir(data_dir)
        missing = [k for k in needs if not has_source(folder, k)]
        if missing:
            s = SOURCES[missing[0]]
            raise DataError(f"--data-dir {folder}: no {s.name} there; put {s.archive} (from {s.url}) in it, "
                            "or leave out --data-dir to download it")
        return folder
    if os.environ.get("KDEDGE_DATA"):
        folder = Path(os.environ["KDEDGE_DATA"]).expanduser()
        return ensure_dataset(name, folder, offline, _optional(name)).resolve()
    for candidate in default_candidates():
        if candidate.is_dir() and all(has_source(candidate, k) for k in needs):
            return candidate.resolve()
    return ensure_dataset(name, None, offline, _optional(name)).resolve()


def _optional(name: str) -> tuple[str, ...]:
    """Sources fetched beside a dataset when possible: SST-2's test sentences come from the treebank."""
    return ("trees",) if name == "sst2" else ()


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
