"""The student's training loop: which epoch's weights it ends with."""

from __future__ import annotations

import numpy as np
import pytest

from kdedge.models.student import build_student
from kdedge.stages.distill import DistillConfig
from kdedge.training.distill import predict, train_student
from tests.support import synthetic_task, tiny_student_config


def _accuracy(model, ids, labels) -> float:
    return float((predict(model, ids).argmax(1) == labels).mean())


@pytest.mark.parametrize("keep_best", [True, False])
def test_keep_best_restores_the_epoch_of_best_validation_accuracy(keep_best) -> None:
    ids, labels = synthetic_task(256, seed=0)
    valid_ids, valid_labels = synthetic_task(64, seed=1)
    # Validation labels that disagree with the task: learning it makes validation accuracy fall,
    # so the best validation epoch is an early one, not the last.
    valid_labels = 1 - valid_labels
    logits = np.eye(2, dtype=np.float32)[labels] * 4.0
    cfg = DistillConfig(epochs=4, batch_size=32, lr=1e-2, baseline=False)
    model = build_student(tiny_student_config("wordavg"), vocab_size=20)
    history = train_student(model, ids, logits, labels, cfg, valid_ids=valid_ids, valid_labels=valid_labels,
                            keep_best=keep_best)

    accs = [row["valid_accuracy"] for row in history]
    kept = [row["epoch"] for row in history if row["kept"]]
    assert len(kept) == 1
    if keep_best:
        assert kept[0] == 1 + int(np.argmax(accs)) and kept[0] < cfg.epochs
        assert _accuracy(model, valid_ids, valid_labels) == pytest.approx(max(accs))
    else:
        assert kept == [cfg.epochs]
        assert _accuracy(model, valid_ids, valid_labels) == pytest.approx(accs[-1])


def test_keep_best_needs_a_validation_split() -> None:
    ids, labels = synthetic_task(32, seed=0)
    model = build_student(tiny_student_config("wordavg"), vocab_size=20)
    with pytest.raises(ValueError, match="validation"):
        train_student(model, ids, np.zeros((32, 2), np.float32), labels, DistillConfig(epochs=1), keep_best=True)


@pytest.mark.parametrize("arch", ["cnn", "transformer"])  # dropout everywhere; attention too
def test_an_interrupted_run_resumes_to_the_weights_of_an_uninterrupted_one(arch, tmp_path, capsys) -> None:
    """Two epochs, stop; a fresh model from the same initial weights resumes from the checkpoints and ends
    bitwise where four epochs in one go end (history included); another run's checkpoints are ignored."""
    import tensorflow as tf

    small = arch == "transformer"  # its per-epoch retrace is slow: fewer rows and epochs
    ids, labels = synthetic_task(96 if small else 200, seed=0)
    valid_ids, valid_labels = synthetic_task(64, seed=1)
    logits = np.eye(2, dtype=np.float32)[labels] * 3.0
    labels = labels.copy()
    labels[::3] = -1  # unlabeled rows, as in a transfer set
    cfg = DistillConfig(epochs=3 if small else 4, batch_size=32, lr=1e-2, baseline=False, soft_end=0.2)

    def fresh():
        tf.keras.utils.set_random_seed(7)
        return build_student(tiny_student_config(arch), vocab_size=20)

    kw = {"valid_ids": valid_ids, "valid_labels": valid_labels, "keep_best": True}
    whole = fresh()
    h_whole = train_student(whole, ids, logits, labels, cfg, **kw)
    part = fresh()
    train_student(part, ids, logits, labels, cfg, checkpoint_dir=tmp_path / "ck", stop_after_epochs=cfg.epochs // 2,
                  **kw)
    assert (tmp_path / "ck" / "state.json").is_file()
    resumed = fresh()
    h_resumed = train_student(resumed, ids, logits, labels, cfg, checkpoint_dir=tmp_path / "ck", **kw)
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in h] for h in (h_whole, h_resumed)]
    assert strip[0] == strip[1]
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)
    if small:
        return
    # Checkpoints made with other settings are not resumed from: a full run of those settings instead.
    capsys.readouterr()
    other = fresh()
    h_other = train_student(other, ids, logits, labels, DistillConfig(**{**cfg.__dict__, "lr": 5e-3}),
                            checkpoint_dir=tmp_path / "ck", **kw)
    assert [r["epoch"] for r in h_other] == [1, 2, 3, 4] and h_other[0]["loss"] != h_whole[0]["loss"]
    assert "made with other inputs or settings: starting over" in capsys.readouterr().err
