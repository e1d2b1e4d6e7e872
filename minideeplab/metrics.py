"""Segmentation metrics from a confusion matrix accumulated over a dataset.

``conf[i, j]`` counts pixels of true class ``i`` predicted as ``j``; void pixels
(``ignore_index``, 255) are left out. Then

* global pixel accuracy = ``trace(conf) / conf.sum()``
* class-average accuracy = mean over classes present in the ground truth of
  ``conf[c, c] / conf[c, :].sum()``
* mean IoU = mean over classes present in the ground truth or the prediction of
  ``conf[c, c] / (conf[c, :].sum() + conf[:, c].sum() - conf[c, c])``
"""
from __future__ import annotations

import numpy as np

from ._validate import real_number
from .nn.functional import IGNORE_INDEX


def _check_pair(label, pred):
    label, pred = np.asarray(label), np.asarray(pred)
    if label.shape != pred.shape:
        raise ValueError(f"label {label.shape} and pred {pred.shape} must have the same shape")
    for name, a in (("label", label), ("pred", pred)):
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    return label, pred


def confusion_matrix(label, pred, num_classes, ignore_index=IGNORE_INDEX, out=None):
    """``(L, L)`` int64 counts; ``out`` (if given) is added to and returned.

    Parameters
    ----------
    label, pred : integer arrays of the same shape; ``label == ignore_index`` is skipped
    num_classes : L
    """
    label, pred = _check_pair(label, pred)
    valid = label != ignore_index
    lab, prd = label[valid].astype(np.int64), pred[valid].astype(np.int64)
    for name, a in (("label", lab), ("pred", prd)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} values must be in [0, {num_classes}) (or {ignore_index} in label)")
    conf = np.bincount(lab * num_classes + prd, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    if out is not None:
        out += conf
        return out
    return conf


def summarize(conf):
    """``dict(global_acc, class_avg_acc, mean_iou, per_class_acc, per_class_iou)`` from a confusion matrix."""
    conf = np.asarray(conf)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1] or conf.shape[0] == 0:
        raise ValueError(f"conf must be a square (L, L) confusion matrix, got shape {conf.shape}")
    if not (np.issubdtype(conf.dtype, np.integer) or np.issubdtype(conf.dtype, np.floating)):
        raise TypeError(f"conf must hold counts (int or float), got dtype {conf.dtype}")
    conf = conf.astype(np.float64)
    if not np.all(np.isfinite(conf)) or conf.min() < 0:
        raise ValueError("conf must hold finite counts >= 0")
    tp = np.diag(conf)
    gt = conf.sum(axis=1)
    pr = conf.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_c = tp / gt
        iou_c = tp / (gt + pr - tp)
    return {
        "global_acc": float(tp.sum() / max(conf.sum(), 1)),
        "class_avg_acc": float(np.nanmean(acc_c)) if np.any(gt > 0) else float("nan"),
        "mean_iou": float(np.nanmean(iou_c)) if np.any(gt + pr > 0) else float("nan"),
        "per_class_acc": acc_c,
        "per_class_iou": iou_c,
    }


def pixel_accuracy(label, pred, ignore_index=IGNORE_INDEX):
    """Fraction of non-void pixels where ``pred == label``."""
    label, pred = _check_pair(label, pred)
    valid = label != ignore_index
    return float((label[valid] == pred[valid]).mean()) if valid.any() else float("nan")


def boundary_band(label, width):
    """Pixels within ``width`` pixels (Euclidean) of a label boundary: a (H, W) bool mask.

    Boundary pixels are those with a 4-neighbour of another label (void counts as a label,
    so an object's edge against a void band is a boundary too); ``width=0`` keeps only them.
    """
    from scipy.ndimage import distance_transform_edt

    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label must be (H, W), got {label.shape}")
    real_number(width, "width", 0.0)
    edge = np.zeros(label.shape, bool)
    dv = label[1:] != label[:-1]
    dh = label[:, 1:] != label[:, :-1]
    edge[1:] |= dv
    edge[:-1] |= dv
    edge[:, 1:] |= dh
    edge[:, :-1] |= dh
    if not edge.any():
        return edge
    return distance_transform_edt(~edge) <= width


def trimap_scores(labels, preds, widths, num_classes, ignore_index=IGNORE_INDEX):
    """DeepLab's trimap evaluation: scores on the pixels near boundaries, for each band width.

    Parameters
    ----------
    labels, preds : sequences of (H, W) integer maps (ground truth, prediction)
    widths : a band width in pixels, or a sequence of them

    Returns
    -------
    dict ``width -> summarize(...)`` (global_acc, class_avg_acc, mean_iou, ...) over the band pixels
    """
    labels, preds = list(labels), list(preds)
    if len(labels) != len(preds):
        raise ValueError(f"labels and preds must have the same length, got {len(labels)} and {len(preds)}")
    widths = [widths] if np.ndim(widths) == 0 else list(widths)
    out = {}
    for w in widths:
        conf = np.zeros((num_classes, num_classes), np.int64)
        for lab, prd in zip(labels, preds):
            lab = np.asarray(lab).astype(np.int64)
            band = boundary_band(lab, w)
            confusion_matrix(np.where(band, lab, ignore_index), prd, num_classes, ignore_index, out=conf)
        out[w] = summarize(conf)
    return out
