"""Element-wise ops, dropout, the pixel-wise loss and bilinear interpolation.

Each op is a pair ``op_forward(...) -> (out, cache)`` / ``op_backward(dout, cache)``.
Arrays are NCHW. The convolution and pooling pairs live in :mod:`.conv` and :mod:`.pool`.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import check_dout, float_array, is_array, real_number, size_pair
from ..backend import get_array_module
from ._fast import takes_kernels

IGNORE_INDEX = 255


# ---------------------------------------------------------------- ReLU
def relu_forward(x):
    """``out = max(x, 0)``; any shape. Returns ``out`` and the cache, the mask ``x > 0``.

    float32/float64 NumPy arrays take one pass of a Numba kernel (:mod:`._relu_kernels`);
    others (CuPy, float16) the readable ``where`` (:func:`relu_where_forward`), its twin in
    the tests.
    """
    float_array(x, "x")
    if not takes_kernels(x):
        return relu_where_forward(x)
    from ._relu_kernels import relu_forward as kernel

    flat = np.ascontiguousarray(x).reshape(-1)
    out, mask = np.empty(x.shape, x.dtype), np.empty(x.shape, np.bool_)
    _flat(lambda i0, i1: kernel(flat, out.reshape(-1), mask.reshape(-1), i0, i1), flat.size)
    return out, mask


def relu_values(x):
    """The output of :func:`relu_forward` without the mask, for inference (what the
    :class:`~minideeplab.nn.ReLU` layer runs under ``no_grad``): one pass that writes no mask."""
    float_array(x, "x")
    if not takes_kernels(x):
        return relu_where_forward(x)[0]
    from ._relu_kernels import relu_values as kernel

    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(x.shape, x.dtype)
    _flat(lambda i0, i1: kernel(flat, out.reshape(-1), i0, i1), flat.size)
    return out


def relu_backward(dout, mask):
    """``dx = dout`` where the input was positive, else 0."""
    check_dout(dout, mask.shape)
    if not takes_kernels(dout) or not isinstance(mask, np.ndarray):
        return relu_where_backward(dout, mask)
    from ._relu_kernels import relu_backward as kernel

    flat, mask_flat = np.ascontiguousarray(dout).reshape(-1), np.ascontiguousarray(mask).reshape(-1)
    dx = np.empty(dout.shape, dout.dtype)
    _flat(lambda i0, i1: kernel(flat, mask_flat, dx.reshape(-1), i0, i1), flat.size)
    return dx


def bias_relu_(out, b=None, mask=True):
    """In place: ``out = max(out + b[c], 0)`` over the channels c, the output pass of a
    convolution and the ReLU after it in one (:meth:`~minideeplab.nn.Conv2d.forward` with
    ``relu=``). The same sum (in ``out``'s dtype) and select as ``out += b`` then
    :func:`relu_forward`, so the same bits. (In place, with a trailing underscore, like NumPy's
    ``out=`` ops: not an ``op_forward``/``op_backward`` pair; the ReLU's backward is
    :func:`relu_backward` on the mask.)

    Parameters
    ----------
    out : (N, C, H, W) C-contiguous float32 or float64 NumPy array, overwritten
    b : (C,) array of ``out``'s dtype, or None (no bias)
    mask : False skips the mask (inference)

    Returns
    -------
    the mask ``out + b > 0``, (N, C, H, W) bool, or None with ``mask=False``
    """
    if not takes_kernels(out) or not out.flags.c_contiguous:
        raise TypeError(f"out must be a C-contiguous float32 or float64 NumPy array, got {type(out).__name__} "
                        f"of dtype {getattr(out, 'dtype', None)}")
    if out.ndim != 4:
        raise ValueError(f"out must be (N, C, H, W), got shape {out.shape}")
    N, C, H, W = out.shape
    if b is not None and tuple(np.shape(b)) != (C,):
        raise ValueError(f"b must have shape ({C},), got {tuple(np.shape(b))}")
    if b is not None and getattr(b, "dtype", None) != out.dtype:  # a cast would round otherwise than out += b
        raise TypeError(f"b must have out's dtype {out.dtype}, got {getattr(b, 'dtype', type(b).__name__)}")
    from .._numba import in_threads
    from ._relu_kernels import bias_relu, bias_relu_values

    bias = np.zeros(C, out.dtype) if b is None else np.ascontiguousarray(b)  # zeros: max(v + 0, 0) = max(v, 0)
    planes = out.reshape(N * C, H * W)
    rows = 1 if out.size >= 1 << 20 else N * C + 1  # as _flat: one thread below a million
    if not mask:
        in_threads(lambda r0, r1: bias_relu_values(planes, bias, r0, r1), N * C, min_rows=rows)
        return None
    keep = np.empty(out.shape, np.bool_)
    in_threads(lambda r0, r1: bias_relu(planes, bias, keep.reshape(N * C, H * W), r0, r1), N * C, min_rows=rows)
    return keep


def relu_where_forward(x):
    """The readable ReLU (NumPy or CuPy): ``mask = x > 0``, ``out = where(mask, x, 0)``."""
    xp = get_array_module(x)
    mask = x > 0
    return xp.where(mask, x, xp.zeros((), dtype=x.dtype)), mask


def relu_where_backward(dout, mask):
    xp = get_array_module(dout)
    return xp.where(mask, dout, xp.zeros((), dtype=dout.dtype))


def _flat(fn, n):
    from .._numba import in_threads  # Numba is imported on first use, not with minideeplab.nn

    # Below a million elements one thread is faster: handing work to the pool costs ~0.1 ms
    in_threads(fn, n, min_rows=1 << 20)


# ---------------------------------------------------------------- Dropout
def dropout_forward(x, p, rng, train=True):
    """Inverted dropout (Caffe's): zero with probability ``p``, scale the rest by 1/(1-p).

    Parameters
    ----------
    x : array, any shape
    p : drop probability in [0, 1)
    rng : ``numpy.random.Generator``; the mask is drawn on the host so that NumPy
        and CuPy runs with the same seed drop the same units.
    train : in eval mode the op is the identity.

    A unit is kept where its k-bit word of ``rng``'s raw bits is at least ``ceil(p * 2**k)``,
    with k the first of 1, 8, 16 that makes ``p * 2**k`` whole (else 32): with probability
    ``1 - p`` (within 2**-32 where p is no multiple of 2**-32). DeepLab's p = 1/2 takes one bit per
    unit, 64x fewer random bits than a float64 of ``rng.random`` (``benchmarks/bench_train.py
    --layers``: width 1/8's two dropout layers took 4.6 ms of an iteration with ``rng.random``, now 1.0-1.4).
    """
    float_array(x, "x")
    p = real_number(p, "p", 0.0, 1.0, high_open=True)
    if not train or p == 0.0:
        return x, None
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator in train mode, got {type(rng).__name__}")
    xp = get_array_module(x)
    keep = xp.asarray(_keep_mask(x.shape, p, rng))
    scale = xp.asarray(1.0 / (1.0 - p), dtype=x.dtype)
    return x * keep * scale, (keep, scale)


def _keep_mask(shape, p, rng):
    """(shape) bool NumPy array, True with probability 1 - p (see :func:`dropout_forward`)."""
    k = next((k for k in (1, 8, 16) if (p * 2**k).is_integer()), 32)
    n = math.prod(shape)
    raw = rng.bit_generator.random_raw(-(-n * k // 64)).view(np.uint8)  # 64 random bits a draw
    words = np.unpackbits(raw) if k == 1 else raw.view(f"uint{k}")
    threshold = min(math.ceil(p * 2.0**k), 2**k - 1)  # p < 1; 2**k only where p rounds to 1
    return (words[:n] >= threshold).reshape(shape)


def dropout_backward(dout, cache):
    if cache is None:
        return float_array(dout, "dout")
    keep, scale = cache
    check_dout(dout, keep.shape)
    return dout * keep * scale


# ---------------------------------------------------------------- Softmax cross-entropy
def softmax(x, axis=1):
    """Numerically stable softmax along ``axis``."""
    float_array(x, "x")
    xp = get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=1):
    float_array(x, "x")
    xp = get_array_module(x)
    z = x - x.max(axis=axis, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


NORMALIZATIONS = ("valid", "batch_size", "full", "none")


def softmax_cross_entropy_forward(scores, labels, ignore_index=IGNORE_INDEX, normalization="valid",
                                  class_weights=None):
    """Pixel-wise softmax cross-entropy, Caffe's ``SoftmaxWithLoss``.

    Parameters
    ----------
    scores : (N, L, H, W) floating array of class scores (logits)
    labels : (N, H, W) integer array, values in [0, L) or ``ignore_index``
    ignore_index : label of pixels that do not count (void), 255 as in DeepLab
    normalization : Caffe's ``LossParameter.normalization``: ``"valid"`` divides the
        summed loss by the number of non-ignored pixels (DeepLab's setting),
        ``"batch_size"`` by N, ``"full"`` by N*H*W, ``"none"`` by 1.
    class_weights : None, or (L,) non-negative finite weights w: pixel i counts ``w[y_i]``
        times (class balancing, e.g. :func:`minideeplab.datasets.median_frequency_weights`);
        ``"valid"`` then divides by ``sum_i w[y_i]``, as ``torch.nn.functional.cross_entropy``
        with ``weight=`` and ``reduction="mean"``.

    Returns
    -------
    loss : float, ``-sum_i w[y_i] log softmax(scores)_{i, y_i} / norm`` (w = 1 without weights)
    cache
    """
    float_array(scores, "scores", 4)
    if not is_array(labels) or labels.ndim != 3:
        raise ValueError(f"labels must be an (N, H, W) array, got {getattr(labels, 'shape', labels)!r}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be an integer array, got dtype {labels.dtype}")
    N, L, H, W = scores.shape
    if N * L * H * W == 0:
        raise ValueError(f"scores must not be empty, got shape {scores.shape}")
    if tuple(labels.shape) != (N, H, W):
        raise ValueError(f"labels must have shape {(N, H, W)} to match scores {scores.shape}, got {labels.shape}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    xp = get_array_module(scores)
    labels = xp.asarray(labels)
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= L))
    if bool(bad.any()):
        found = sorted(set(int(v) for v in xp.unique(labels[bad]).tolist()))
        raise ValueError(f"labels must be in [0, {L}) or {ignore_index}; found {found}")
    target = xp.where(valid, labels, 0).astype(np.int64)
    logp = log_softmax(scores, axis=1)
    picked = xp.take_along_axis(logp, target[:, None], axis=1)[:, 0]
    if class_weights is None:
        weight = valid  # each valid pixel once
        count = int(valid.sum())
    else:
        w = _check_class_weights(class_weights, L, xp, scores.dtype)
        weight = w[target] * valid
        count = float(weight.sum())
    norm = {"valid": count if count > 0 else 1, "batch_size": N, "full": N * H * W, "none": 1}[normalization]
    loss = float(-(picked * weight).sum()) / norm
    return loss, (logp, target, weight, norm)


def _check_class_weights(class_weights, L, xp, dtype):
    w = np.asarray(class_weights.get() if hasattr(class_weights, "get") else class_weights)
    if w.shape != (L,) or not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise ValueError(f"class_weights must be {L} real numbers (one per class), got shape {w.shape}, "
                         f"dtype {w.dtype}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"class_weights must be finite and non-negative, got {w.tolist()}")
    return xp.asarray(w.astype(dtype))


def softmax_cross_entropy_backward(cache, dloss=1.0):
    """Gradient w.r.t. the scores: ``(softmax - onehot) * w[y] * valid / norm``.

    Returns
    -------
    dscores : (N, L, H, W)
    """
    xp = get_array_module(cache[0])
    logp, target, weight, norm = cache
    dloss = real_number(dloss, "dloss")
    d = xp.exp(logp)
    classes = xp.arange(d.shape[1]).reshape(1, -1, 1, 1)
    d -= (classes == target[:, None]).astype(d.dtype)
    d *= (weight[:, None] * (dloss / norm)).astype(d.dtype)
    return d


# ---------------------------------------------------------------- Bilinear interpolation
def interp_matrix(n_in: int, n_out: int, dtype=np.float64, xp=np):
    """(n_out, n_in) matrix of 1-D linear interpolation with aligned corners.

    Output sample ``i`` sits at input position ``i * (n_in - 1) / (n_out - 1)``
    (Caffe's INTERP layer, PyTorch's ``align_corners=True``).
    """
    A = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out == 1 or n_in == 1:
        A[:, 0] = 1.0
    else:
        pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
        lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
        frac = pos - lo
        A[np.arange(n_out), lo] = 1.0 - frac
        A[np.arange(n_out), lo + 1] += frac
    return xp.asarray(A.astype(dtype))


def zoom_size(size: int, zoom_factor: int) -> int:
    """Caffe INTERP output length for ``zoom_factor``: ``size + (size - 1) * (z - 1)``."""
    return size + (size - 1) * (zoom_factor - 1)


def shrink_size(size: int, shrink_factor: int) -> int:
    """Caffe INTERP output length for ``shrink_factor``: ``(size - 1) // s + 1``."""
    return (size - 1) // shrink_factor + 1


def interp_forward(x, size):
    """Bilinear resize with aligned corners, both up (zoom) and down (shrink).

    Parameters
    ----------
    x : (N, C, H, W) floating array
    size : (H_out, W_out)

    Returns
    -------
    out : (N, C, H_out, W_out), ``out = A_h @ x @ A_w.T``; cache
    """
    float_array(x, "x", 4)
    Ho, Wo = size_pair(size, "size")
    if 0 in x.shape:
        raise ValueError(f"x must not be empty, got shape {tuple(x.shape)}")
    xp = get_array_module(x)
    Ah = interp_matrix(x.shape[2], Ho, x.dtype, xp)
    Aw = interp_matrix(x.shape[3], Wo, x.dtype, xp)
    out = xp.matmul(xp.matmul(Ah, x), Aw.T)
    return out, (Ah, Aw, out.shape)


def interp_backward(dout, cache):
    """Adjoint of :func:`interp_forward`: ``dx = A_h.T @ dout @ A_w``."""
    xp = get_array_module(dout)
    Ah, Aw, out_shape = cache
    check_dout(dout, out_shape)
    return xp.matmul(xp.matmul(Ah.T, dout), Aw)


def shrink_labels(labels, size):
    """Subsample a label map to ``size`` at the aligned-corner positions (nearest).

    With Caffe's shrink sizes (``(H - 1) // 8 + 1``) and ``(H - 1) % 8 == 0`` the
    positions are exact pixels, so this equals DeepLab's INTERP of the labels.

    Parameters
    ----------
    labels : (..., H, W) integer array
    size : (h, w)
    """
    if not is_array(labels) or labels.ndim < 2 or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be an integer array of shape (..., H, W), got {getattr(labels, 'shape', labels)!r}")
    h, w = size_pair(size, "size")
    if 0 in labels.shape[-2:]:
        raise ValueError(f"labels must not be empty, got shape {tuple(labels.shape)}")
    xp = get_array_module(labels)
    H, W = labels.shape[-2:]
    ys = np.rint(np.arange(h) * ((H - 1) / max(h - 1, 1))).astype(np.int64)
    xs = np.rint(np.arange(w) * ((W - 1) / max(w - 1, 1))).astype(np.int64)
    return labels[..., xp.asarray(ys)[:, None], xp.asarray(xs)[None, :]]


# ---------------------------------------------------------------- Sum and concat
def sum_forward(*xs):
    """Element-wise sum of same-shaped arrays (the multi-scale score heads)."""
    if not xs:
        raise ValueError("sum_forward needs at least one array")
    shape = xs[0].shape
    for i, a in enumerate(xs):
        if a.shape != shape:
            raise ValueError(f"input {i} has shape {a.shape}, expected {shape}")
    out = xs[0].copy()
    for a in xs[1:]:
        out += a
    return out, len(xs)


def sum_backward(dout, n):
    float_array(dout, "dout")
    return tuple(dout for _ in range(n))


def concat_forward(xs, axis=1):
    """Concatenate along ``axis`` (channels by default)."""
    xp = get_array_module(*xs)
    return xp.concatenate(xs, axis=axis), ([a.shape[axis] for a in xs], axis)


def concat_backward(dout, cache):
    float_array(dout, "dout")
    xp = get_array_module(dout)
    sizes, axis = cache
    if dout.ndim <= axis or dout.shape[axis] != sum(sizes):
        raise ValueError(f"dout must have {sum(sizes)} entries along axis {axis}, got shape {tuple(dout.shape)}")
    return tuple(xp.split(dout, np.cumsum(sizes)[:-1].tolist(), axis=axis))
