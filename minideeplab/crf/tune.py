"""Cross-validation of CRF parameters, coarse to fine as DeepLab did.

A search scores a CRF with each parameter setting on a validation set (:func:`score_setting`;
the unaries are computed once) and keeps the best by a metric ("global_acc", "class_avg_acc"
or "mean_iou").
:func:`coarse_to_fine` runs a coarse grid, then a finer grid around the coarse optimum.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..metrics import confusion_matrix, summarize
from .dense import dense_crf
from .grid import grid_crf

# DeepLab searched w1 in [3, 6], theta_alpha in [30, 100], theta_beta in [3, 6] on VOC; the grid is
# wider (and roughly geometric) because unaries from other nets need other values (MSRC: w1 10,
# theta_alpha 80, theta_beta 13 in pydensecrf's example).
DENSE_COARSE = {"w_bilateral": [3.0, 5.0, 10.0, 20.0], "theta_alpha": [20.0, 40.0, 80.0, 160.0],
                "theta_beta": [3.0, 6.0, 13.0]}
DENSE_FIXED = {"w_gaussian": 3.0, "theta_gamma": 3.0}
GRID_COARSE = {"w_contrast": [1.0, 3.0, 10.0, 30.0], "w_smooth": [0.0, 1.0, 3.0]}


def score_setting(crf, params, images, probs, labels, num_classes, metric="global_acc"):
    """``metric`` of ``crf(image, prob, **params)``'s labellings over the set (one confusion matrix).

    Parameters
    ----------
    crf : ``dense_crf``, ``grid_crf`` or any ``(image, prob, **params) -> (L, H, W)``
    params : dict of keyword arguments for ``crf``
    images, probs, labels : sequences of (H, W, 3) uint8, (L, H, W) and (H, W) integer arrays
    metric : a key of :func:`minideeplab.metrics.summarize`
    """
    conf = np.zeros((num_classes, num_classes), np.int64)
    for image, prob, label in zip(images, probs, labels):
        confusion_matrix(label, crf(image, prob, **params).argmax(0), num_classes, out=conf)
    return summarize(conf)[metric]


def grid_search(crf, grid, images, probs, labels, num_classes, fixed=None, metric="global_acc", progress=True,
                desc="CRF search"):
    """Every combination of ``grid`` (dict name -> values); returns (best params, [(params, score)])."""
    from tqdm.auto import tqdm

    if not grid or any(len(v) == 0 for v in grid.values()):
        raise ValueError("grid must map each parameter name to a non-empty list of values")
    if not (len(images) == len(probs) == len(labels)) or len(images) == 0:
        raise ValueError("images, probs and labels must be non-empty and of the same length")
    names = list(grid)
    results = []
    settings = list(itertools.product(*(grid[n] for n in names)))
    for values in tqdm(settings, desc=desc, disable=not progress):
        params = dict(fixed or {}, **dict(zip(names, values)))
        results.append((params, score_setting(crf, params, images, probs, labels, num_classes, metric)))
    best = max(results, key=lambda r: r[1])[0]
    return best, results


def _refine(values, best):
    """``best`` and the midpoints to its coarse neighbours (half the gap on each side; at an
    end of the grid, the same step outwards), kept positive."""
    ordered = sorted(values)
    if len(ordered) < 2:
        below = above = abs(best) / 2 or 1.0
    else:
        i = ordered.index(best)
        below = (ordered[i] - ordered[i - 1]) / 2 if i > 0 else (ordered[1] - ordered[0]) / 2
        above = (ordered[i + 1] - ordered[i]) / 2 if i + 1 < len(ordered) else (ordered[-1] - ordered[-2]) / 2
    return sorted({v for v in (best - below, best, best + above) if v > 0 or v == best})


def coarse_to_fine(crf, coarse, images, probs, labels, num_classes, fixed=None, metric="global_acc", progress=True):
    """A coarse grid, then a grid at half the spacing around the coarse optimum.

    Returns
    -------
    best : dict of the chosen parameters (``fixed`` included)
    history : list of (params, score) of every setting tried
    """
    best, coarse_history = grid_search(crf, coarse, images, probs, labels, num_classes, fixed, metric, progress,
                                       "coarse")
    fine = {n: _refine(coarse[n], best[n]) for n in coarse}
    best, fine_history = grid_search(crf, fine, images, probs, labels, num_classes, fixed, metric, progress, "fine")
    return best, coarse_history + fine_history


def tune_dense_crf(images, probs, labels, num_classes, coarse=None, metric="global_acc", progress=True):
    """w1, theta_alpha, theta_beta of :func:`dense_crf` (w2 = 3, theta_gamma = 3 fixed)."""
    return coarse_to_fine(dense_crf, coarse or DENSE_COARSE, images, probs, labels, num_classes, DENSE_FIXED,
                          metric, progress)


def tune_grid_crf(images, probs, labels, num_classes, coarse=None, connectivity=8, metric="global_acc",
                  progress=True):
    """The grid CRF's contrast and smoothness weights."""
    return coarse_to_fine(grid_crf, coarse or GRID_COARSE, images, probs, labels, num_classes,
                          {"connectivity": connectivity}, metric, progress)
