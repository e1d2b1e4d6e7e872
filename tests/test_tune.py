import numpy as np
import pytest

from minideeplab.crf import dense_crf
from minideeplab.crf.tune import coarse_to_fine, grid_search, score_setting, tune_grid_crf
from minideeplab.datasets import SyntheticScenes, noisy_probs


def _val_set(n=4):
    ds = SyntheticScenes(n, (40, 48), 3, objects=(1, 3), seed=11, radius=(0.2, 0.35))
    rng = np.random.default_rng(0)
    images, probs, labels = [], [], []
    for i in range(n):
        img, lab = ds[i]
        images.append(img)
        probs.append(noisy_probs(lab, 3, strength=1.2, noise=1.0, rng=rng))
        labels.append(lab)
    return images, probs, labels


def test_grid_search_finds_the_best_of_an_exhaustive_evaluation():
    images, probs, labels = _val_set()
    grid = {"w_bilateral": [0.0, 5.0], "theta_beta": [5.0, 20.0]}
    best, results = grid_search(dense_crf, grid, images, probs, labels, 3, fixed={"n_iter": 5}, progress=False)
    assert len(results) == 4
    by_hand = {(w, t): score_setting(dense_crf, {"n_iter": 5, "w_bilateral": w, "theta_beta": t},
                                     images, probs, labels, 3)
               for w in grid["w_bilateral"] for t in grid["theta_beta"]}
    top = max(by_hand, key=by_hand.get)
    assert (best["w_bilateral"], best["theta_beta"]) == top and best["n_iter"] == 5
    assert by_hand[top] > by_hand[(0.0, 5.0)] - 1e-12


def test_coarse_to_fine_refines_around_the_coarse_optimum():
    images, probs, labels = _val_set()
    best, hist = tune_grid_crf(images, probs, labels, 3, coarse={"w_contrast": [1.0, 3.0], "w_smooth": [0.5]},
                               progress=False)
    coarse_best = max(hist[:2], key=lambda r: r[1])[0]
    assert len(hist) > 2 and abs(best["w_contrast"] - coarse_best["w_contrast"]) <= 0.5 + 1e-12
    score_best = max(s for _, s in hist)
    assert any(p == best and s == score_best for p, s in hist)
    unary_acc = np.mean([(p.argmax(0) == l).mean() for p, l in zip(probs, labels)])
    assert score_best > unary_acc  # the tuned CRF helps


def test_bad_search_arguments():
    images, probs, labels = _val_set(1)
    with pytest.raises(ValueError, match="non-empty list"):
        grid_search(dense_crf, {"w_bilateral": []}, images, probs, labels, 3)
    with pytest.raises(ValueError, match="same length"):
        coarse_to_fine(dense_crf, {"w_bilateral": [1.0]}, images, probs[:0], labels, 3)


def test_refine_takes_midpoints_to_the_coarse_neighbours():
    from minideeplab.crf.tune import _refine

    assert _refine([20.0, 40.0, 80.0, 160.0], 40.0) == [30.0, 40.0, 60.0]
    assert _refine([20.0, 40.0, 80.0, 160.0], 160.0) == [120.0, 160.0, 200.0]  # outwards at the end
    assert _refine([3.0, 5.0], 3.0) == [2.0, 3.0, 4.0]
    assert _refine([0.0, 0.5, 1.0], 0.0) == [0.0, 0.25]  # nothing below zero
    assert _refine([2.0], 2.0) == [1.0, 2.0, 3.0]
