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
