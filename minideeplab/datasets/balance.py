"""Class weights for the loss: median frequency balancing (Eigen & Fergus, ICCV 2015).

A class's frequency is its pixel count divided by the pixels of the images it appears in;
its weight is the median of the classes' frequencies over its own::

    freq(c) = pixels of c / pixels (not void) of the images that contain c
    w(c)    = median_c' freq(c') / freq(c)

so that rare classes (MSRC's birds, boats, chairs) count as much in the pixel loss as the
frequent "stuff" (grass, sky) and the class-average accuracy is what training favours.
"""
from __future__ import annotations

import numpy as np

from ..nn.functional import IGNORE_INDEX


def median_frequency_weights(labels, num_classes, ignore_index=IGNORE_INDEX, absent=0.0):
    """Median frequency weights from training label maps.

    Parameters
    ----------
    labels : iterable of (H, W) integer label maps, values in [0, num_classes) or ``ignore_index``
    num_classes : L
    absent : the weight of a class that never occurs in ``labels``: 0 when it is never a target;
        1 (the median class's weight) when other targets may hold it, e.g. the labels that EM
        estimates for weakly labelled images, balanced by the pixel-labelled ones.

    Returns
    -------
    (L,) float64 weights
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    pixels = np.zeros(num_classes, np.float64)      # pixels of class c
    image_pixels = np.zeros(num_classes, np.float64)  # valid pixels of the images that contain c
    seen = 0
    for lab in labels:
        lab = np.asarray(lab)
        if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"labels must be (H, W) integer maps, got shape {lab.shape}, dtype {lab.dtype}")
        valid = lab[lab != ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
            raise ValueError(f"labels must be in [0, {num_classes}) or {ignore_index}; found {int(valid.min())}.."
                             f"{int(valid.max())}")
        counts = np.bincount(valid.astype(np.int64), minlength=num_classes)
        pixels += counts
        image_pixels[counts > 0] += valid.size
        seen += 1
    if seen == 0:
        raise ValueError("labels is empty")
    present = pixels > 0
    if not present.any():
        raise ValueError("labels hold no pixel of any class (all void)")
    freq = np.zeros(num_classes)
    freq[present] = pixels[present] / image_pixels[present]
    absent = float(absent)
    if not np.isfinite(absent) or absent < 0:
        raise ValueError(f"absent must be a finite weight >= 0, got {absent!r}")
    weights = np.full(num_classes, absent)
    weights[present] = np.median(freq[present]) / freq[present]
    return weights
