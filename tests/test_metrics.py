import numpy as np
import pytest

from minideeplab.metrics import confusion_matrix, pixel_accuracy, summarize


def test_hand_computed_case():
    label = np.array([[0, 0, 1, 1],
                      [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1],
                     [2, 0, 0, 2]])
    conf = confusion_matrix(label, pred, 3)
    assert conf.tolist() == [[1, 1, 0],   # class 0: one right, one as 1
                             [0, 2, 1],   # class 1: two right, one as 2
                             [1, 0, 1]]   # class 2: one as 0, one right
    s = summarize(conf)
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
    s = summarize(conf)
    assert s["class_avg_acc"] == pytest.approx((1 + 0.5) / 2)  # classes 2 and 3 never occur
    assert s["mean_iou"] == pytest.approx((0.5 + 0.5) / 2)


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(np.zeros(3, int), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match=r"pred values must be in \[0, 2\)"):
        confusion_matrix(np.zeros(3, int), np.array([0, 1, 2]), 2)
    with pytest.raises(TypeError, match="label must be an integer"):
        confusion_matrix(np.zeros(3), np.zeros(3, int), 2)


def test_boundary_band_by_hand():
    from minideeplab.metrics import boundary_band

    row = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    assert boundary_band(row, 0).astype(int).tolist() == [[0, 0, 0, 1, 1, 0, 0, 0]]
    assert boundary_band(row, 1).astype(int).tolist() == [[0, 0, 1, 1, 1, 1, 0, 0]]
    assert boundary_band(row, 2).astype(int).tolist() == [[0, 1, 1, 1, 1, 1, 1, 0]]
    sq = np.zeros((5, 5), int)
    sq[2, 2] = 1  # one pixel: it and its 4 neighbours are boundary; diagonals are at distance 1
    assert boundary_band(sq, 0).sum() == 5 and boundary_band(sq, 1).sum() == 13
    assert not boundary_band(np.zeros((3, 3), int), 5).any()


def test_trimap_scores_by_hand():
    from minideeplab.metrics import trimap_scores

    lab = np.array([[0, 0, 0, 0, 1, 1, 1, 1]])
    pred = np.array([[0, 0, 0, 1, 1, 1, 1, 1]])  # the boundary moved by one pixel
    t = trimap_scores([lab], [pred], [0, 1, 3], 2)
    assert t[0]["global_acc"] == pytest.approx(1 / 2)   # pixels 3, 4
    assert t[1]["global_acc"] == pytest.approx(3 / 4)   # pixels 2..5
    assert t[3]["global_acc"] == pytest.approx(7 / 8)   # everything
    assert t[0]["mean_iou"] == pytest.approx((0 / 1 + 1 / 2) / 2)
