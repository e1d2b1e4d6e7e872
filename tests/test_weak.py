import numpy as np
import pytest

from minideeplab.weak import (bbox_rect, bbox_seg, bbox_seg_probs, box_core, boxes_from_labels, em_adapt, em_fixed,
                              em_fixed_boxes, image_tags)


def test_bbox_rect_smaller_boxes_win_and_background_or_void_outside():
    boxes = [(1, 0, 0, 4, 6), (2, 1, 1, 3, 3)]  # box 2 inside box 1
    t = bbox_rect((5, 7), boxes)
    want = np.zeros((5, 7), int)
    want[0:4, 0:6] = 1
    want[1:3, 1:3] = 2
    assert t.tolist() == want.tolist()
    assert bbox_rect((5, 7), boxes[::-1]).tolist() == want.tolist()  # order given does not matter
    v = bbox_rect((5, 7), boxes, background=None)
    assert (v[4] == 255).all() and (v[:, 6] == 255).all() and v[0, 0] == 1
    with pytest.raises(ValueError, match="outside"):
        bbox_rect((5, 7), [(1, 0, 0, 6, 2)])


def test_box_core_is_a_fifth_of_the_box():
    a, b, c, d = box_core(0, 0, 50, 100)
    assert ((c - a) * (d - b)) / (50 * 100) == pytest.approx(0.2, abs=0.02)
    assert (a + c) / 2 == pytest.approx(25, abs=1) and (b + d) / 2 == pytest.approx(50, abs=1)


def test_bbox_seg_probabilities_by_hand():
    P = bbox_seg_probs((20, 30), [(1, 0, 0, 20, 20)], 3)
    assert np.allclose(P.sum(0), 1)
    assert P[0, :, 25].tolist() == [1.0] * 20  # outside: background
    a, b, c, d = box_core(0, 0, 20, 20)
    assert P[1, a, b] == 0.75 and P[0, a, b] == pytest.approx(0.25)
    assert P[1, 0, 0] == 0.5 and P[0, 0, 0] == 0.5  # box, not core
    # no background (MSRC): inside overlapping boxes, uniform over their classes
    Q = bbox_seg_probs((20, 30), [(1, 0, 0, 20, 20), (2, 0, 10, 20, 30)], 3, background=None)
    assert np.allclose(Q.sum(0), 1)
    assert Q[1, 0, 15] == pytest.approx(0.5) and Q[2, 0, 15] == pytest.approx(0.5) and Q[0, 0, 15] == 0


def test_bbox_seg_recovers_an_object_inside_its_box():
    """A bright disc inside a generous box on a dark background: the CRF cuts the box down."""
    H, W = 60, 80
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (yy - 30) ** 2 + (xx - 40) ** 2 <= 15 ** 2
    img = np.where(disc[..., None], 200, 40).astype(np.uint8).repeat(3, 2)
    box = (1, 10, 20, 50, 60)
    seg = bbox_seg(img, [box], 2)
    rect = bbox_rect((H, W), [box])
    iou = lambda a: ((a == 1) & disc).sum() / ((a == 1) | disc).sum()
    assert iou(seg) > 0.9 and iou(seg) > iou(rect) + 0.2


def test_em_fixed_and_boxes():
    s = np.zeros((3, 2, 2))
    s[2] = 10.0  # class 2 scores highest everywhere but is absent
    s[1, 0, 0] = 1.0
    t = em_fixed(s, present=[0, 1], fg_bias=0.5, bg_bias=0.0)
    assert t.tolist() == [[1, 1], [1, 1]]  # 1 wins by its bias; 2 suppressed
    t = em_fixed(s, present=[0, 1], fg_bias=-0.5, bg_bias=0.0)
    assert t.tolist() == [[1, 0], [0, 0]]
    tb = em_fixed_boxes(s, [(1, 0, 0, 1, 1)], fg_bias=5, bg_bias=0)
    assert tb.tolist() == [[1, 0], [0, 0]]
    tv = em_fixed_boxes(s, [(1, 0, 0, 1, 1)], background=None)
    assert tv.tolist() == [[1, 255], [255, 255]]


def test_em_adapt_gives_each_present_class_its_share():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((4, 40, 50))
    s[1] += 3.0  # class 1 dominates the raw scores
    t = em_adapt(s, present=[0, 1, 3], rho_bg=0.4, rho_fg=0.2)
    share = np.bincount(t.ravel(), minlength=4) / t.size
    assert share[2] == 0  # absent
    assert share[0] >= 0.4 - 1e-9 and share[3] >= 0.2 - 1e-9  # at least rho each...
    assert share[1] > 0.15  # ... and the dominant class keeps pixels
    only = em_adapt(s, present=[3])
    assert (only == 3).all()
    with pytest.raises(ValueError, match="present"):
        em_adapt(s, present=[])


def test_weak_annotations_from_ground_truth():
    lab = np.full((6, 8), 255, np.uint8)
    lab[0:2, 0:3] = 4
    lab[4:6, 5:8] = 4  # a second segment of class 4
    lab[3, 0:2] = 7
    assert image_tags(lab, 21) == [4, 7]
    assert sorted(boxes_from_labels(lab, 21)) == [(4, 0, 0, 2, 3), (4, 4, 5, 6, 8), (7, 3, 0, 4, 2)]


def test_box_targets_and_em_target_fn():
    from minideeplab.datasets import SyntheticScenes
    from minideeplab.weak import BoxTargets, em_target_fn

    ds = SyntheticScenes(8, (33, 33), 4, objects=(1, 2), seed=2)
    bt = BoxTargets(ds, "bbox-rect", 4, background=0)
    img, est = bt[0]
    gt = ds[0][1]
    boxes = [b for b in boxes_from_labels(gt, 4) if b[0] != 0]
    assert np.array_equal(est, bbox_rect(gt.shape, boxes, 0)) and np.array_equal(img, ds[0][0])
    fn, strong = em_target_fn(ds, "semi", 4, background=0, strong_fraction=0.25)
    assert len(strong) == 2
    small = ds[1][1][::8, ::8].copy()
    small[0, 0] = 255
    scores = np.random.default_rng(0).standard_normal((4,) + small.shape)
    i_strong, i_weak = sorted(strong)[0], [i for i in range(8) if i not in strong][0]
    assert np.array_equal(fn(i_strong, None, small, scores), small)
    t = fn(i_weak, None, small, scores)
    assert t[0, 0] == 255 and set(np.unique(t)) - {255} <= set(image_tags(ds[i_weak][1], 4))
    fa, none = em_target_fn(ds, "em-adapt", 4, background=0)
    assert none == set() and fa(0, None, small, scores).shape == small.shape


@pytest.mark.parametrize("supervision", ["strong", "semi", "bbox-rect", "bbox-seg", "em-adapt"])
def test_train_command_supervisions(supervision, tmp_path, capsys):
    from minideeplab.cli import main

    args = ["train", "--supervision", supervision, "--width", "0.0625", "--size", "33", "--crop", "33",
            "--images", "8", "--batch-size", "2", "--max-iter", "2", "--snapshot-every", "1", "--out", str(tmp_path),
            "--quiet"]
    assert main(args) == 0
    assert main(args[:-5] + ["--max-iter", "3", "--out", str(tmp_path), "--resume", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "at iteration 2" in out and (tmp_path / "model.npz").exists()


@pytest.mark.parametrize("supervision", ["semi", "em-adapt"])
def test_weak_training_resumes_bit_exactly(supervision, tmp_path):
    """Targets made from the model's own scores: stopping at 2 and resuming to 4 gives the
    same weights as 4 iterations in one go."""
    from minideeplab.cli import main
    from minideeplab.models import load_model

    base = ["train", "--supervision", supervision, "--width", "0.0625", "--size", "33", "--crop", "33",
            "--images", "8", "--batch-size", "2", "--snapshot-every", "1", "--quiet",
            "--lr-policy", "step", "--step-size", "100"]  # the lr does not depend on --max-iter
    assert main(base + ["--max-iter", "4", "--out", str(tmp_path / "a")]) == 0
    assert main(base + ["--max-iter", "2", "--out", str(tmp_path / "b")]) == 0
    assert main(base + ["--max-iter", "4", "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, _ = load_model(str(tmp_path / "a" / "model.npz"))
    b, _ = load_model(str(tmp_path / "b" / "model.npz"))
    assert list(a.params) == list(b.params)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k


def test_bad_scores():
    s = np.zeros((3, 4, 5))
    with pytest.raises(ValueError, match=r"scores must be \(L, H, W\)"):
        em_adapt(s[0], [0])
    s[1, 0, 0] = np.nan
    for fn in (lambda: em_adapt(s, [0, 1]), lambda: em_fixed(s, [0]), lambda: em_fixed_boxes(s, [(1, 0, 0, 2, 2)])):
        with pytest.raises(ValueError, match="scores contains NaN"):
            fn()
    with pytest.raises(ValueError, match="box class 7 out of range"):
        em_fixed_boxes(np.zeros((3, 4, 5)), [(7, 0, 0, 2, 2)])


def test_strong_only_and_semi_draw_the_same_pixel_labelled_images():
    from minideeplab.datasets import SyntheticScenes
    from minideeplab.weak import Subset, em_target_fn, strong_subset

    ds = SyntheticScenes(12, (33, 33), 4, objects=(1, 2), seed=2)
    for size in (1, 3, 12):
        chosen = strong_subset(len(ds), size, seed=5)
        assert len(chosen) == size and chosen <= set(range(12))
        _, strong = em_target_fn(ds, "semi", 4, background=0, seed=5, strong_images=size)
        assert strong == chosen
        sub = Subset(ds, chosen)
        assert len(sub) == size and sub.num_classes == 4
        for j, i in enumerate(sorted(chosen)):
            assert np.array_equal(sub[j][1], ds[i][1])
    assert strong_subset(12, 3, seed=5) != strong_subset(12, 3, seed=6)
    _, quarter = em_target_fn(ds, "semi", 4, background=0, seed=5)    # the default: a quarter
    assert quarter == strong_subset(12, 3, seed=5)
    with pytest.raises(ValueError, match="pixel-labelled images"):
        strong_subset(12, 13)
    with pytest.raises(ValueError, match="indices"):
        Subset(ds, [12])


def test_train_command_strong_images(tmp_path, capsys):
    from minideeplab.cli import main

    args = ["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "8", "--batch-size", "2",
            "--max-iter", "1", "--strong-images", "3", "--quiet"]
    assert main(args + ["--supervision", "strong", "--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--supervision", "semi", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "strong-only: 3 pixel-labelled images" in out and "semi-supervised: 3 of 8 images" in out
    assert main(args + ["--supervision", "bbox-rect", "--out", str(tmp_path / "c")]) == 2
    assert "--strong-images applies to" in capsys.readouterr().err
    assert main(args[:-3] + ["--strong-images", "0", "--supervision", "strong", "--out", str(tmp_path / "d")]) == 2
    assert "--strong-images must be >= 1" in capsys.readouterr().err
