"""Sentiment datasets: SST-2, IMDB, and user tables, as in-memory splits."""

from kdedge.data.imdb import load_imdb
from kdedge.data.registry import DATASETS, load_dataset, resolve_data_dir
from kdedge.data.splits import Dataset, Split
from kdedge.data.sst2 import load_sst2
from kdedge.data.table import load_files, load_table

__all__ = [
    "DATASETS",
    "Dataset",
    "Split",
    "load_dataset",
    "load_files",
    "load_imdb",
    "load_sst2",
    "load_table",
    "resolve_data_dir",
]
