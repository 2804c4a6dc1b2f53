"""The Stanford Sentiment Treebank in its PTB-tree layout: SST-5, SST-3 and the SST-2 test sentences.

``trainDevTestTrees_PTB/trees/{train,dev,test}.txt`` (``trainDevTestTrees_PTB.zip``
as Stanford ships it) holds one tree per line, every node labeled 0-4::

    (3 (2 It) (4 (4 (2 's) (4 (3 (2 a) ...

The root's label is the sentence's; the sentence is the leaves joined by
spaces, with the treebank's bracket escapes (``-LRB-``, ``-RRB-``, ...) turned
back into brackets. Only whole sentences are read (not the phrases).

- ``sst5``: the five root labels.
- ``sst3``: 0-1 negative, 2 neutral, 3-4 positive.
- ``sst2``: 0-1 negative, 3-4 positive, neutral sentences dropped (the test
  split gives the 1,821 sentences papers report as "SST-2 test").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from kdedge.data.splits import SENTIMENT_LABELS, Dataset, Split, read_text
from kdedge.errors import DataError

TREES = Path("trainDevTestTrees_PTB") / "trees"
SST5_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
SST3_LABELS = ["negative", "neutral", "positive"]
# root label (0-4) -> class id, or None to drop the sentence
ROOT_MAPS = {
    "sst5": (0, 1, 2, 3, 4),
    "sst3": (0, 0, 1, 2, 2),
    "sst2": (0, 0, None, 1, 1),
}
LABEL_NAMES = {"sst5": SST5_LABELS, "sst3": SST3_LABELS, "sst2": SENTIMENT_LABELS}
_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_LEAF = re.compile(r"\(\d+ ([^()\s]+)\)")
_ROOT = re.compile(r"\(([0-4]) ")


def find_trees(data_dir: str | os.PathLike) -> Path | None:
    """The ``trees`` folder under ``data_dir`` (or ``data_dir`` itself), or None."""
    data_dir = Path(data_dir)
    for folder in (data_dir / TREES, data_dir / "trees", data_dir):
        if all((folder / f"{s}.txt").is_file() for s in ("train", "dev", "test")):
            return folder
    return None


def parse_tree(line: str, path: Path, line_no: int) -> tuple[str, int]:
    """``(sentence, root label 0-4)`` of one PTB tree line.

    Raises:
        DataError: The line is not a labeled tree; names file and line.
    """
    line = line.strip()
    root = _ROOT.match(line)
    if root is None or not line.endswith(")") or line.count("(") != line.count(")"):
        raise DataError(f"{path}:{line_no}: not a PTB sentiment tree (expected '(0-4 ...)')")
    words = [_ESCAPES.get(w, w) for w in _LEAF.findall(line)]
    if not words:
        raise DataError(f"{path}:{line_no}: tree has no words")
    return " ".join(words), int(root.group(1))


def read_trees(path: Path, name: str, task: str) -> Split:
    """One split of ``task`` (``sst5``, ``sst3`` or ``sst2``) from a trees file."""
    mapping = ROOT_MAPS[task]
    texts: list[str] = []
    labels: list[int] = []
    for line_no, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        text, root = parse_tree(line, path, line_no)
        label = mapping[root]
        if label is not None:
            texts.append(text)
            labels.append(label)
    if not texts:
        raise DataError(f"{path}: no trees")
    return Split(name=name, texts=texts, labels=np.array(labels, dtype=np.int64), source=str(path))


def load_sst_trees(data_dir: str | os.PathLike, task: str) -> Dataset:
    """``sst5`` or ``sst3`` from the treebank: train = train trees, eval = **test** trees (papers
    report SST-5/SST-3 on test), valid = dev trees (for choosing an epoch without looking at test).

    Raises:
        DataError: The trees are missing or malformed.
    """
    folder = find_trees(data_dir)
    if folder is None:
        raise DataError(f"{Path(data_dir) / TREES}: no train.txt, dev.txt and test.txt "
                        "(the Stanford trainDevTestTrees_PTB.zip layout)")
    return Dataset(name=task, train=read_trees(folder / "train.txt", "train", task),
                   eval=read_trees(folder / "test.txt", "eval", task), unlabeled=None,
                   label_names=list(LABEL_NAMES[task]), valid=read_trees(folder / "dev.txt", "valid", task))


def phrases(line: str) -> list[str]:
    """The text of every subtree of one PTB tree line (leaves joined by spaces), root included."""
    stack: list[list[str]] = []
    out: list[str] = []
    for token in re.findall(r"\(|\)|[^()\s]+", line):
        if token == "(":
            stack.append([])
        elif token == ")":
            words = stack.pop()
            if words and words[0].isdigit() and len(words[0]) == 1:  # drop the node's label
                words = words[1:]
            out.append(" ".join(words))
            if stack:
                stack[-1].extend(words)
        else:
            stack[-1].append(_ESCAPES.get(token, token))
    return [p for p in out if p]


def train_phrases(data_dir: str | os.PathLike) -> Split:
    """Every distinct phrase of the **train** trees (their subtrees), unlabeled: transfer text for the
    teacher to label. The dev and test trees are never read, so nothing of the eval split leaks in.

    Raises:
        DataError: The trees are missing.
    """
    folder = find_trees(data_dir)
    if folder is None:
        raise DataError(f"{Path(data_dir) / TREES}: no train.txt, dev.txt and test.txt (needed by --tree-phrases)")
    path = folder / "train.txt"
    seen: dict[str, None] = {}
    for line in read_text(path).split("\n"):
        if line.strip():
            for p in phrases(line.strip()):
                seen.setdefault(p, None)
    texts = list(seen)
    return Split("unlabeled", texts, np.full(len(texts), -1, dtype=np.int64), f"{path} (phrases)")


def sst2_test(data_dir: str | os.PathLike) -> Split | None:
    """The binary SST-2 test sentences (non-neutral test roots), or None when the trees are absent."""
    folder = find_trees(data_dir)
    return None if folder is None else read_trees(folder / "test.txt", "test", "sst2")
