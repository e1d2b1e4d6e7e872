import numpy as np
import pytest

from minideeplab.metrics import confusion_matrix, pixel_accuracy, scores


def test_hand_computed_case():
    label = np.array([[0, 0, 1, 1],
                      [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1],
                     [2, 0, 0, 2]])
    conf = confusion_matrix(label, pred, 3)
    assert conf.tolist() == [[1, 1, 0],   # class 0: one right, one as 1
                             [0, 2, 1],   # class 1: two right, one as 2
                             [1, 0, 1]]   # class 2: one as 0, one right
    s = scores(conf)
    assert s["global_acc"] == pytest.approx(4 / 7)
    assert s["class_avg_acc"] == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)
    # IoU: 0: 1/(2+2-1)=1/3; 1: 2/(3+3-2)=1/2; 2: 1/(2+2-1)=1/3
    assert s["mean_iou"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)
    assert pixel_accuracy(label, pred) == pytest.approx(4 / 7)


def test_accumulation_and_absent_classes():
    conf = np.zeros((4, 4), dtype=np.int64)
    confusion_matrix(np.array([0, 1]), np.array([0, 1]), 4, out=conf)
    confusion_matrix(np.array([1, 255]), np.array([0, 3]), 4, out=conf)
    assert conf.sum() == 3 and conf[1, 0] == 1
    s = scores(conf)
    assert s["class_avg_acc"] == pytest.approx((1 + 0.5) / 2)  # classes 2 and 3 never occur
    assert s["mean_iou"] == pytest.approx((0.5 + 0.5) / 2)


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(np.zeros(3, int), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match=r"pred values must be in \[0, 2\)"):
        confusion_matrix(np.zeros(3, int), np.array([0, 1, 2]), 2)
    with pytest.raises(TypeError, match="label must be an integer"):
        confusion_matrix(np.zeros(3), np.zeros(3, int), 2)
