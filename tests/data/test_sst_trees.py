"""The Stanford Sentiment Treebank's PTB trees: SST-5, SST-3 and the SST-2 test sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdedge.data import load_dataset
from kdedge.data.sst_trees import parse_tree, read_trees
from kdedge.errors import DataError
from tests.data.builders import REAL_DATA, write

TREES = [
    "(4 (3 (2 A) (4 lovely)) (2 -LRB-film-RRB-))",
    "(0 (1 awful) (2 .))",
    "(2 (2 It) (2 's))",
    "(1 (1 dull) (2 ,) (2 really))",
    "(3 (3 good) (2 enough))",
]


def write_trees(folder: Path) -> Path:
    trees = folder / "trainDevTestTrees_PTB" / "trees"
    for name in ("train", "dev", "test"):
        write(trees / f"{name}.txt", "\n".join(TREES) + "\n")
    return trees


def test_parse_tree_joins_leaves_and_unescapes_brackets() -> None:

    text, root = parse_tree("(4 (3 (2 A) (4 lovely)) (2 -LRB-) (2 film) (2 -RRB-))", Path("t"), 1)
    assert (text, root) == ("A lovely ( film )", 4)


@pytest.mark.parametrize(("task", "labels", "names"), [
    ("sst5", [4, 0, 2, 1, 3], ["very negative", "negative", "neutral", "positive", "very positive"]),
    ("sst3", [2, 0, 1, 0, 2], ["negative", "neutral", "positive"]),
])
def test_sst5_and_sst3_read_roots_with_test_as_eval_and_dev_as_valid(tmp_path: Path, task, labels, names) -> None:
    write_trees(tmp_path)
    (tmp_path / "trainDevTestTrees_PTB" / "trees" / "test.txt").write_text(TREES[1] + "\n")
    (tmp_path / "trainDevTestTrees_PTB" / "trees" / "dev.txt").write_text(TREES[4] + "\n" + TREES[0] + "\n")
    ds = load_dataset(task, tmp_path)
    assert ds.label_names == names and ds.train.labels.tolist() == labels
    assert ds.train.texts[1] == "awful ." and ds.eval.texts == ["awful ."] and ds.test is None
    assert ds.valid.texts == ["good enough", "A lovely -LRB-film-RRB-"]
    assert ds.valid.labels.tolist() == labels[4:] + labels[:1]


def test_data_stage_writes_the_valid_split_and_drops_a_stale_one(tmp_path: Path) -> None:
    from kdedge.stages.data import DataConfig, run_data
    write_trees(tmp_path)
    stats = run_data(tmp_path / "out", DataConfig(dataset="sst3", data_dir=str(tmp_path), unlabeled="none"))
    assert stats["valid"]["examples"] == len(TREES) and (tmp_path / "out" / "valid.jsonl").is_file()
    (tmp_path / "trainDevTestTrees_PTB" / "trees" / "dev.txt").unlink()
    (tmp_path / "SST-2").mkdir()
    for name, rows in (("train.tsv", ["good film\t1", "bad film\t0"]), ("dev.tsv", ["dull\t0"])):
        (tmp_path / "SST-2" / name).write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    stats = run_data(tmp_path / "out", DataConfig(dataset="sst2", data_dir=str(tmp_path), unlabeled="none"))
    assert "valid" not in stats and not (tmp_path / "out" / "valid.jsonl").exists()


def test_sst2_gets_the_binary_test_sentences_of_the_trees(tmp_path: Path) -> None:
    trees = write_trees(tmp_path)
    split = read_trees(trees / "test.txt", "test", "sst2")
    assert split.labels.tolist() == [1, 0, 0, 1] and "It 's" not in split.texts


def test_bad_tree_names_file_and_line(tmp_path: Path) -> None:
    trees = write_trees(tmp_path)
    (trees / "train.txt").write_text(TREES[0] + "\n(7 oops)\n")
    with pytest.raises(DataError, match=r"train\.txt:2: not a PTB sentiment tree"):
        load_dataset("sst5", tmp_path)
    (trees / "train.txt").unlink()
    with pytest.raises(DataError, match=r"no train\.txt, dev\.txt and test\.txt"):
        load_dataset("sst3", tmp_path)


@pytest.mark.skipif(not (REAL_DATA / "trainDevTestTrees_PTB").is_dir(), reason="needs ../shared/data")
def test_real_treebank_counts() -> None:
    sst5 = load_dataset("sst5", REAL_DATA)
    assert (len(sst5.train), len(sst5.eval)) == (8544, 2210)
    assert sorted(set(sst5.train.labels.tolist())) == [0, 1, 2, 3, 4]
    sst3 = load_dataset("sst3", REAL_DATA)
    assert len(sst3.eval) == 2210 and sorted(set(sst3.eval.labels.tolist())) == [0, 1, 2]
    sst2 = load_dataset("sst2", REAL_DATA)
    assert sst2.test is not None and len(sst2.test) == 1821


def test_train_phrases_are_every_distinct_subtree_of_the_train_trees_only(tmp_path: Path) -> None:
    from kdedge.data.sst_trees import phrases, train_phrases

    assert phrases("(3 (2 It) (4 (2 -LRB-) (3 good)))") == ["It", "(", "good", "( good", "It ( good"]
    trees = write_trees(tmp_path)
    (trees / "test.txt").write_text("(4 (4 secret) (4 words))\n")
    split = train_phrases(tmp_path)
    assert "secret" not in split.texts and "awful ." in split.texts and "awful" in split.texts
    assert len(split.texts) == len(set(split.texts)) and (split.labels == -1).all()
