import json

import numpy as np
import pytest

from kdedge.measure.metrics import (
    accuracy,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    precision_recall_f1,
    softmax,
)


def test_macro_f1_on_hand_computed_example():
    gold = np.array([1, 1, 1, 0, 0])
    pred = np.array([1, 1, 0, 0, 1])
    # class 1: tp 2, fp 1, fn 1 -> 4/6; class 0: tp 1, fp 1, fn 1 -> 2/4
    assert macro_f1(pred, gold) == pytest.approx((4 / 6 + 2 / 4) / 2)
    assert accuracy(pred, gold) == pytest.approx(0.6)


def test_softmax_is_stable_and_normalized():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)], [-1000.0, 0.0]]))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_allclose(p[0], [0.5, 0.5])
    np.testing.assert_allclose(p[1], [0.25, 0.75])
    np.testing.assert_allclose(p[2], [0.0, 1.0], atol=1e-300)


def test_confusion_matrix_rows_are_gold_columns_are_pred():
    gold = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    cm = confusion_matrix(pred, gold, 3)
    assert cm.tolist() == [[1, 1, 0],
                           [0, 2, 1],
                           [1, 0, 0]]
    assert cm.dtype.kind == "i"
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_precision_recall_f1_on_hand_computed_example():
    gold = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    m = precision_recall_f1(pred, gold, 3)
    # class 0: tp 1, predicted 2, gold 2; class 1: tp 2, predicted 3, gold 3; class 2: tp 0, predicted 1, gold 1
    assert m["precision"] == pytest.approx([1 / 2, 2 / 3, 0.0])
    assert m["recall"] == pytest.approx([1 / 2, 2 / 3, 0.0])
    assert m["f1"] == pytest.approx([1 / 2, 2 / 3, 0.0])
    assert m["macro_precision"] == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert m["macro_f1"] == pytest.approx(macro_f1(pred, gold, 3))
    # Asymmetric case: the binary example of test_macro_f1_on_hand_computed_example plus an extra miss.
    gold = np.array([1, 1, 1, 0, 0, 1])
    pred = np.array([1, 1, 0, 0, 1, 0])
    m = precision_recall_f1(pred, gold, 2)
    # class 0: tp 1, predicted 3, gold 2; class 1: tp 2, predicted 3, gold 4
    assert m["precision"] == pytest.approx([1 / 3, 2 / 3])
    assert m["recall"] == pytest.approx([1 / 2, 2 / 4])
    assert m["f1"] == pytest.approx([2 / 5, 4 / 7])  # 2tp / (2tp + fp + fn)
    assert m["macro_recall"] == pytest.approx(0.5)


def test_precision_recall_f1_zero_over_zero_is_zero():
    # Class 2 is neither in gold nor predicted; class 1 is never predicted.
    m = precision_recall_f1(np.array([0, 0, 0]), np.array([0, 1, 0]), 3)
    assert m["precision"] == pytest.approx([2 / 3, 0.0, 0.0])
    assert m["recall"] == pytest.approx([1.0, 0.0, 0.0])
    assert m["f1"] == pytest.approx([0.8, 0.0, 0.0])


def test_ece_is_zero_for_confident_correct_one_hot_predictions():
    gold = np.array([0, 1, 1, 0, 2])
    probs = np.eye(3)[gold]
    assert expected_calibration_error(probs, gold) == 0.0


def test_ece_two_bin_hand_computed():
    # bins=2: (0, 0.5] and (0.5, 1].
    # Bin 1 (conf 0.9, 0.9, 0.7, 0.7): 3 of 4 correct -> |0.75 - 0.8| = 0.05, weight 4/6.
    # Bin 0 (conf 0.5, 0.5 on a 2-way tie; argmax is label 0): 1 of 2 correct -> |0.5 - 0.5| = 0, weight 2/6.
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.7, 0.3], [0.3, 0.7], [0.5, 0.5], [0.5, 0.5]])
    gold = np.array([0, 1, 0, 0, 0, 1])
    assert expected_calibration_error(probs, gold, bins=2) == pytest.approx(4 / 6 * 0.05)
    # Over-confident everywhere: conf 0.8, accuracy 0.5 in a single bin -> 0.3.
    probs = np.array([[0.8, 0.2], [0.8, 0.2]])
    assert expected_calibration_error(probs, np.array([0, 1]), bins=2) == pytest.approx(0.3)
    assert expected_calibration_error(probs, np.array([0, 1]), bins=15) == pytest.approx(0.3)


def test_ece_bin_edge_goes_to_lower_bin():
    # conf 0.6 sits on an edge of 5 bins: it belongs to (0.4, 0.6], not (0.6, 0.8], so both rows
    # share one bin (had it gone up, ECE would be (|1 - 0.6| + |0 - 0.55|) / 2 = 0.475).
    probs = np.array([[0.6, 0.4], [0.45, 0.55]])
    gold = np.array([0, 0])
    # One bin: acc 1/2, mean conf 0.575 -> 0.075.
    assert expected_calibration_error(probs, gold, bins=5) == pytest.approx(0.075)


def test_classification_metrics_agreement_and_unlabeled_rows():
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0], [5.0, 0.0]])
    gold = np.array([0, 1, 1, -1, -1])  # the last two rows are unlabeled
    teacher = np.array([0, 1, 0, 0, 0])  # differs from the argmax (0, 1, 0, 1, 0) on row 3 only
    m = classification_metrics(logits, gold, reference_pred=teacher)
    assert m["examples"] == 3
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusion"] == [[1, 0], [1, 1]]
    assert isinstance(m["confusion"][0][0], int)
    assert m["precision"] == pytest.approx([1 / 2, 1.0])
    assert m["recall"] == pytest.approx([1.0, 1 / 2])
    assert m["macro_f1"] == pytest.approx(macro_f1(np.array([0, 1, 0]), np.array([0, 1, 1])))
    assert m["agreement"] == pytest.approx(4 / 5)  # all rows, labeled or not
    assert m["agreement_examples"] == 5
    # ECE only sees the labeled rows: the unlabeled row 4 (conf ~0.993) must not change it.
    p = softmax(logits[:3])
    assert m["ece"] == pytest.approx(expected_calibration_error(p, gold[:3]))
    assert m["ece"] == pytest.approx(classification_metrics(logits[:3], gold[:3])["ece"])
    assert "agreement" not in classification_metrics(logits[:3], gold[:3])
    json.dumps(m)  # JSON-ready: plain floats, ints and lists


def test_classification_metrics_num_labels_and_no_labeled_rows():
    logits = np.array([[0.0, 1.0], [1.0, 0.0]])
    m = classification_metrics(logits, np.array([1, 0]), num_labels=3)
    assert len(m["precision"]) == 3 and len(m["confusion"]) == 3
    assert m["accuracy"] == 1.0 and m["ece"] >= 0
    m = classification_metrics(logits, np.array([-1, -1]), reference_pred=np.array([1, 1]))
    assert m["examples"] == 0 and m["accuracy"] is None and m["confusion"] is None
    assert m["agreement"] == pytest.approx(0.5)
