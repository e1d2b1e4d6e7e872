"""Convolution as im2col + matrix product, with stride, padding and dilation.

Dilation is only a stride inside im2col: a kernel of size ``k`` with dilation ``d``
touches ``k + (k - 1) * (d - 1)`` input pixels, so the atrous ("hole") algorithm of
DeepLab costs one argument. Output size, for each spatial axis::

    H' = 1 + (H + 2 * pad - (dilation * (kh - 1) + 1)) // stride

The input gradient of a convolution is a transposed convolution with the same
dilation, which here is ``col2im`` applied to ``w.T @ dout``.

This is one of two algorithms for a convolution, each a forward/backward pair:
``conv2d_im2col_forward/backward`` here (any kernel, stride, padding and dilation; NumPy or
CuPy) and ``conv2d_winograd_forward/backward`` in :mod:`.winograd` (3x3, stride 1, padding =
dilation; fewer multiplications). Which one a layer runs is decided in one place,
:meth:`minideeplab.nn.layers.Conv2d.algorithm_for`.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_dout, float_array, pair
from ..backend import get_array_module
from ._fast import in_rows, takes_kernels


KEEP_COL_BYTES = 32 << 20
"""The forward pass keeps columns up to this size for the backward pass; larger ones (at
DeepLab's full width: conv1_2's 237 MiB, conv2_1's 60 MiB) are rebuilt there from ``x``, a
ninth of their size, so that the training iteration's peak memory stays where it was when
those layers ran the Winograd pair (``benchmarks/RESULTS.md``). Such a cache holds ``x`` itself:
do not write into ``x`` between the forward and the backward pass."""


def conv_output_size(size: int, k: int, stride: int, pad: int, dilation: int) -> int:
    """Output length along one axis (floor rounding, as in Caffe and PyTorch)."""
    return 1 + (size + 2 * pad - (dilation * (k - 1) + 1)) // stride


def im2col(x, kh, kw, stride, padding, dilation, pad_value=0.0):
    """Gather sliding windows into columns.

    Parameters
    ----------
    x : (N, C, H, W) array
    kh, kw : kernel size
    stride, padding, dilation : (int, int) pairs, (vertical, horizontal)
    pad_value : value of the padding (0 for convolution, -inf for max pooling)

    Returns
    -------
    col : (N, C, kh, kw, H', W') array; ``col[n, c, i, j, y, x]`` is
        ``x_padded[n, c, y * sh + i * dh, x * sw + j * dw]``.

    float32/float64 NumPy arrays take a Numba kernel (:mod:`._im2col_kernels`, threaded over
    the planes, no padded copy); others (CuPy) :func:`im2col_slices`, its twin in the tests.
    """
    if not takes_kernels(x):
        return im2col_slices(x, kh, kw, stride, padding, dilation, pad_value)
    from ._im2col_kernels import im2col_planes

    N, C, H, W = x.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    planes = np.ascontiguousarray(x).reshape(N * C, H, W)
    col = np.empty((N * C, kh, kw, Ho, Wo), x.dtype)
    in_rows(lambda r0, r1: im2col_planes(planes, col, *stride, *padding, *dilation, pad_value, r0, r1), N * C,
            col.size)
    return col.reshape(N, C, kh, kw, Ho, Wo)


def col2im(col, H, W, stride, padding, dilation):
    """Adjoint of :func:`im2col` (without ``pad_value``): sum the columns back.

    Parameters
    ----------
    col : (N, C, kh, kw, H', W') array
    H, W : spatial size of the image that :func:`im2col` read

    Returns
    -------
    x : (N, C, H, W) array (C-contiguous for NumPy input: a Numba kernel, like :func:`im2col`;
        :func:`col2im_slices` is the readable twin)
    """
    if not takes_kernels(col):
        return col2im_slices(col, H, W, stride, padding, dilation)
    from ._im2col_kernels import col2im_planes

    N, C, kh, kw, Ho, Wo = col.shape
    planes = np.ascontiguousarray(col).reshape(N * C, kh, kw, Ho, Wo)
    x = np.empty((N * C, H, W), col.dtype)
    in_rows(lambda r0, r1: col2im_planes(planes, x, *stride, *padding, *dilation, r0, r1), N * C, col.size)
    return x.reshape(N, C, H, W)


def im2col_slices(x, kh, kw, stride, padding, dilation, pad_value=0.0):
    """The readable :func:`im2col` (NumPy or CuPy): pad, then one strided slice per tap."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho = conv_output_size(H, kh, sh, ph, dh)
    Wo = conv_output_size(W, kw, sw, pw, dw)
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    col = xp.empty((N, C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        y0 = i * dh
        for j in range(kw):
            x0 = j * dw
            col[:, :, i, j] = x[:, :, y0 : y0 + sh * Ho : sh, x0 : x0 + sw * Wo : sw]
    return col


def col2im_slices(col, H, W, stride, padding, dilation):
    """The readable :func:`col2im` (NumPy or CuPy): add each tap's slice into a padded image."""
    xp = get_array_module(col)
    N, C, kh, kw, Ho, Wo = col.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    # The padded image must hold every window, also when (H + 2p - k) % s != 0.
    Hp = max(H + 2 * ph, (kh - 1) * dh + sh * (Ho - 1) + 1)
    Wp = max(W + 2 * pw, (kw - 1) * dw + sw * (Wo - 1) + 1)
    x = xp.zeros((N, C, Hp, Wp), dtype=col.dtype)
    for i in range(kh):
        y0 = i * dh
        for j in range(kw):
            x0 = j * dw
            x[:, :, y0 : y0 + sh * Ho : sh, x0 : x0 + sw * Wo : sw] += col[:, :, i, j]
    return x[:, :, ph : ph + H, pw : pw + W]


def check_conv_inputs(x, w, b):
    """``x`` (N, C, H, W) and ``w`` (F, C, kh, kw) floating arrays of one dtype, ``b`` None or (F,)."""
    float_array(x, "x", 4)
    float_array(w, "w", 4)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} input channels but x has {x.shape[1]} (x: {x.shape}, w: {w.shape})")
    if w.dtype != x.dtype:
        raise TypeError(f"w dtype {w.dtype} differs from x dtype {x.dtype}")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise ValueError(f"b must have shape ({w.shape[0]},), got {tuple(b.shape)}")


def conv2d_im2col_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation, as in Caffe and PyTorch) by im2col + one GEMM per image.

    Parameters
    ----------
    x : (N, C, H, W) floating array
    w : (F, C, kh, kw) array, same dtype as ``x``
    b : (F,) array or None
    stride, padding, dilation : int or (int, int)

    Returns
    -------
    out : (N, F, H', W') array, ``H' = 1 + (H + 2p - d(kh-1) - 1) // s``
    cache : what :func:`conv2d_im2col_backward` needs
    """
    check_conv_inputs(x, w, b)
    stride = pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    dilation = pair(dilation, "dilation", 1)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride[0], padding[0], dilation[0])
    Wo = conv_output_size(W, kw, stride[1], padding[1], dilation[1])
    if Ho < 1 or Wo < 1:
        raise ValueError(
            f"x of spatial size {H}x{W} is smaller than the dilated kernel "
            f"({dilation[0] * (kh - 1) + 1}x{dilation[1] * (kw - 1) + 1}) with padding {padding}"
        )
    xp = get_array_module(x)
    col = im2col(x, kh, kw, stride, padding, dilation)
    # (F, CKK) @ (N, CKK, P) -> (N, F, P): one BLAS call per image.
    out = xp.matmul(w.reshape(F, -1), col.reshape(N, C * kh * kw, Ho * Wo))
    out = out.reshape(N, F, Ho, Wo)
    if b is not None:
        out += b.reshape(1, F, 1, 1)
    keep = col.nbytes <= KEEP_COL_BYTES  # else the backward pass rebuilds col from x
    cache = (x.shape, w, col if keep else None, None if keep else x, (Ho, Wo), stride, padding, dilation,
             b is not None)
    return out, cache


def conv2d_im2col_backward(dout, cache, input_grad=True):
    """Gradients of :func:`conv2d_im2col_forward`.

    Parameters
    ----------
    dout : (N, F, H', W') upstream gradient
    cache : from :func:`conv2d_im2col_forward`
    input_grad : False skips ``dx`` (a network's first layer: nothing needs the image's gradient)

    Returns
    -------
    dx : (N, C, H, W) or None, dw : (F, C, kh, kw), db : (F,) or None
    """
    xp = get_array_module(dout)
    (N, C, H, W), w, col, x, (Ho, Wo), stride, padding, dilation, has_bias = cache
    F, _, kh, kw = w.shape
    check_dout(dout, (N, F, Ho, Wo))
    if col is None:
        col = im2col(x, kh, kw, stride, padding, dilation)
    dout_mat = dout.reshape(N, F, Ho * Wo)
    col_mat = col.reshape(N, C * kh * kw, Ho * Wo)
    dw_t = xp.zeros((C * kh * kw, F), dtype=w.dtype)
    for n in range(N):  # one GEMM per image, no transposed copy of col; (CKK, P) @ (P, F) was
        dw_t += col_mat[n] @ dout_mat[n].T  # 1.3-1.8x faster than (F, P) @ (P, CKK) (bench_conv)
    del col, col_mat  # a rebuilt col is freed before dcol, its equal in size, is made
    dw = dw_t.T.reshape(w.shape)
    db = dout_mat.sum(axis=(0, 2)) if has_bias else None
    if not input_grad:
        return None, dw, db
    dcol = xp.matmul(w.reshape(F, -1).T, dout_mat).reshape(N, C, kh, kw, Ho, Wo)
    dx = col2im(dcol, H, W, stride, padding, dilation)
    return dx, dw, db
