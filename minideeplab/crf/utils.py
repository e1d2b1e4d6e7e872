"""Helpers mirroring ``pydensecrf.utils`` (same names, arguments and outputs)."""
from __future__ import annotations

import warnings

import numpy as np


def unary_from_softmax(sm, scale=None, clip=1e-5):
    """``-log`` of a softmax output ``(L, ...)`` as ``(L, N)`` float32 unaries.

    ``scale`` in (0, 1] mixes the probabilities with the uniform distribution first;
    ``clip`` bounds them away from 0.
    """
    sm = np.asarray(sm)
    if not np.issubdtype(sm.dtype, np.number) or np.iscomplexobj(sm):
        raise TypeError(f"sm must be a real numeric array of probabilities, got dtype {sm.dtype}")
    if sm.ndim < 2:
        raise ValueError(f"sm must have shape (L, ...), got {sm.shape}")
    if sm.size and not (0 <= sm.min() and sm.max() <= 1):  # NaN fails too
        raise ValueError(f"sm must hold probabilities in [0, 1], got values in [{sm.min()}, {sm.max()}]")
    L = sm.shape[0]
    if clip is not None and not 0 < clip <= 1:
        raise ValueError(f"clip must be None or in (0, 1], got {clip!r}")
    if scale is not None:
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        sm = scale * sm + (1.0 - scale) / L
    if clip is not None:
        sm = np.clip(sm, clip, 1.0)
    return -np.log(sm).reshape(L, -1).astype(np.float32)


def unary_from_labels(labels, n_labels, gt_prob, zero_unsure=True):
    """Unaries from a (possibly partial) labelling, flattened.

    The given label gets probability ``gt_prob``, the others share the rest. With
    ``zero_unsure`` label 0 means "unknown" (its pixels get the uniform energy -log(1/n_labels))
    and labels 1..n_labels map to classes 0..n_labels-1.
    """
    if isinstance(n_labels, bool) or not isinstance(n_labels, (int, np.integer)) or n_labels < 2:
        raise ValueError(f"n_labels must be an int >= 2 (the labels other than the given one share "
                         f"1 - gt_prob), got {n_labels!r}")
    if not isinstance(gt_prob, (int, float, np.floating, np.integer)) or not 0 < gt_prob < 1:
        raise ValueError(f"gt_prob must be in (0, 1), got {gt_prob!r}")
    labels = np.asarray(labels).reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got {labels.min()}")
    cls = labels - 1 if zero_unsure else labels
    known = labels > 0 if zero_unsure else np.ones(labels.shape, bool)
    if np.any((cls[known] < 0) | (cls[known] >= n_labels)):
        raise ValueError(f"labels must be in [{1 if zero_unsure else 0}, {n_labels + (1 if zero_unsure else 0)})")
    U = np.full((n_labels, labels.size), -np.log((1.0 - gt_prob) / (n_labels - 1)), dtype=np.float32)
    U[cls[known], np.nonzero(known)[0]] = -np.log(gt_prob)
    if zero_unsure:
        U[:, ~known] = -np.log(1.0 / n_labels)
    return U


def create_pairwise_gaussian(sdims, shape):
    """Position features ``(len(shape), prod(shape))``: the index along axis i divided by sdims[i]."""
    if len(sdims) != len(shape):
        raise ValueError(f"sdims {sdims} and shape {shape} must have the same length")
    mesh = np.array(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), dtype=np.float32)
    for i, s in enumerate(sdims):
        mesh[i] /= s
    return mesh.reshape(len(sdims), -1)


def create_pairwise_bilateral(sdims, schan, img, chdim=-1):
    """Position and channel features ``(len(sdims) + C, N)`` of an image or volume.

    ``img`` has its channels on axis ``chdim`` (-1 for (H, W, C); None for no channel
    axis); positions are the remaining axes, divided by ``sdims``, channels by ``schan``.
    """
    img = np.asarray(img)
    if chdim is None:
        feats = img[np.newaxis].astype(np.float32)
    else:
        feats = np.moveaxis(img, chdim, 0).astype(np.float32)
    schan = np.broadcast_to(np.asarray(schan, dtype=np.float32), (feats.shape[0],))
    feats = feats / schan.reshape((-1,) + (1,) * (feats.ndim - 1))
    if len(sdims) != feats.ndim - 1:
        raise ValueError(f"sdims needs one value per spatial axis ({feats.ndim - 1}), got {sdims}")
    mesh = np.array(np.meshgrid(*[np.arange(s) for s in feats.shape[1:]], indexing="ij"), dtype=np.float32)
    for i, s in enumerate(sdims):
        mesh[i] /= s
    return np.concatenate([mesh, feats]).reshape(len(sdims) + feats.shape[0], -1)


def compute_unary(labels, M, GT_PROB=0.5):
    """Deprecated, use :func:`unary_from_labels` instead (pydensecrf's old name)."""
    warnings.warn("pydensecrf.compute_unary is deprecated, use unary_from_labels instead.", DeprecationWarning,
                  stacklevel=2)
    return unary_from_labels(labels, M, GT_PROB)


def softmax_to_unary(sm, GT_PROB=1):
    """Deprecated, use :func:`unary_from_softmax` instead (pydensecrf's old name)."""
    warnings.warn("pydensecrf.softmax_to_unary is deprecated, use unary_from_softmax instead.", DeprecationWarning,
                  stacklevel=2)
    return unary_from_softmax(sm, None if GT_PROB == 1 else GT_PROB, clip=None)
