"""The data stage: splits written as JSONL, with the unlabeled transfer text (kdedge.stages.data)."""

from __future__ import annotations

import json
from pathlib import Path

from kdedge.data import Split
from tests.data.builders import IMDB_FILES, make_imdb_tarball, write


def test_imdb_unlabeled_sentences_and_data_stage(tmp_path: Path) -> None:
    from kdedge.stages.data import DataConfig, run_data
    from kdedge.data.unlabeled import imdb_unlabeled

    review = "The plot was thin. The cast was great fun!<br />Go see it now."
    files = IMDB_FILES + [("train", "unsup", "7_0.txt", review)]
    root = make_imdb_tarball(tmp_path / "data", files)
    write(root / "SST-2" / "train.tsv", "sentence\tlabel\na fine film \t1\n")
    write(root / "SST-2" / "dev.tsv", "sentence\tlabel\na bad film \t0\n")
    u = imdb_unlabeled(root, max_texts=10, min_words=3)
    assert sorted(u.texts) == ["Go see it now.", "The cast was great fun!", "The plot was thin."]
    assert (u.labels == -1).all()
    assert len(imdb_unlabeled(root, max_texts=2, min_words=3)) == 2

    run_data(tmp_path / "out", DataConfig(dataset="sst2", data_dir=str(root), max_unlabeled=2))  # auto: imdb
    back = Split.from_jsonl(tmp_path / "out" / "unlabeled.jsonl", "unlabeled")
    assert len(back) == 2 and set(back.texts) <= set(u.texts)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["unlabeled"]["examples"] == 2
    # Without IMDB in the folder, auto means none.
    (root / "aclImdb_v1.tar.gz").unlink()
    run_data(tmp_path / "out2", DataConfig(dataset="sst2", data_dir=str(root)))
    assert not (tmp_path / "out2" / "unlabeled.jsonl").exists()
    assert json.loads((tmp_path / "out2" / "config.json").read_text())["unlabeled_resolved"] == "none"


def test_custom_dataset_keeps_its_unlabeled_file(tmp_path: Path) -> None:
    from kdedge.stages.data import DataConfig, run_data

    train = write(tmp_path / "train.csv", "text,label\ngood,1\nbad,0\n")
    evals = write(tmp_path / "eval.jsonl", '{"text": "fine", "label": 1}\n')
    unl = write(tmp_path / "more.tsv", "text\nsome text\nmore text\n")
    run_data(tmp_path / "out", DataConfig(dataset="custom", train_file=str(train), eval_file=str(evals),
                                          unlabeled_file=str(unl), data_dir=str(tmp_path / "nothing-here")))
    back = Split.from_jsonl(tmp_path / "out" / "unlabeled.jsonl", "unlabeled")
    assert back.texts == ["some text", "more text"]
