"""3x3 convolution (stride 1, padding = dilation) by Winograd's minimal filtering F(2x2, 3x3).

Each 2x2 output tile is ``A^T [(G g G^T) * (B^T d B)] A`` for its 4x4 input window d and the
3x3 kernel g (Lavin & Gray, 2016): 16 multiplications per tile instead of 36. Over channels the
element-wise products become 16 matrix products, (F, C) @ (C, tiles), so the work moves into
GEMMs 2.25x smaller than im2col's, and the 9x-sized column matrix is never built. The
backward pass stays in the transformed domain: ``dU = dM V^T``, ``dV = U^T dM``.
``conv2d_winograd_forward/backward`` is the twin of ``conv.conv2d_im2col_forward/backward``
for these layers: the same result up to rounding (the transforms add and subtract at most 4
terms). A ``Conv2d`` layer runs this pair where :func:`applies` says so (see
:meth:`minideeplab.nn.layers.Conv2d.algorithm_for`).

Dilated ("atrous") layers with padding equal to the dilation d, as in DeepLab's conv5 and fc6,
are d x d interleaved ordinary 3x3 convolutions, one per output phase; the kernels tile each
phase on its own, so they take the same path (see ``_winograd_kernels``).
"""
from __future__ import annotations

import numpy as np

from ._fast import in_rows

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


MIN_CHANNELS = 128
MIN_SIZE = 32
"""Layers with fewer input or output channels, or a smaller map, keep im2col. Measured by
``benchmarks/bench_conv.py`` on DeepLab-LargeFOV's layers (forward + backward, 2 threads, RESULTS.md, "Training
speed"): since im2col became a threaded kernel, im2col was faster on every 3x3 layer at widths
1/8 and 1/4 (batch 8, crop 129: up to 128 channels on 17x17 maps), and at width 1 (crop 321)
on the 64-channel conv1_2 (168 against 183 ms) and conv2_1 (57 against 68 ms); Winograd won on
conv2_2 (110 against 119 ms), conv3_2 (76 against 98) and conv4_2 (81 against 85)."""


def fits(kernel_size, stride, padding, dilation):
    """True for the geometry this pair computes: a 3x3 kernel, stride 1, the same dilation d
    along both axes and padding d (all ``(int, int)`` pairs)."""
    d = tuple(dilation)
    return tuple(kernel_size) == (3, 3) and tuple(stride) == (1, 1) and d[0] == d[1] and tuple(padding) == d


def applies(x, w, stride, padding, dilation):
    """True when a ``Conv2d`` layer on ``"auto"`` runs this pair rather than im2col: :func:`fits`
    without dilation, ``x`` a float32 or float64 NumPy array ``(N, C, H, W)``, ``w``
    ``(F, C, 3, 3)`` of the same dtype, at least ``MIN_CHANNELS`` input and output channels and
    a map of at least ``MIN_SIZE`` pixels each way.

    Dilated layers fit too, but im2col was faster on every one of DeepLab's (conv5, dilation 2:
    6.0 against 11.3 ms at width 1/8, batch 8, crop 129, 96 against 113 ms at width 1, crop 321;
    fc6, dilation 12: 9.4 against 23.5 and 175 against 227 ms, forward + backward): on the
    small maps of those layers most of a phase's tiles straddle the border."""
    return (isinstance(x, np.ndarray) and x.ndim == 4 and np.ndim(w) == 4 and tuple(dilation) == (1, 1)
            and fits(w.shape[2:], stride, padding, dilation) and x.dtype in (np.float32, np.float64)
            and w.dtype == x.dtype and x.shape[1] == w.shape[1] and min(w.shape[0], w.shape[1]) >= MIN_CHANNELS
            and min(x.shape[2], x.shape[3]) >= MIN_SIZE)


def _kernel_transform(w):
    """U[4a + b, f, c] = (G w[f, c] G^T)[a, b]: (F, C, 3, 3) -> (16, F, C)."""
    from ._winograd_kernels import kernel_transform

    F, C = w.shape[:2]
    U = np.empty((16, F, C), w.dtype)
    in_rows(lambda lo, hi: kernel_transform(w, U, lo, hi), F, U.size)
    return U


def _kernel_grad(dU):
    """dw[f, c] = G^T dU[:, f, c] G: the adjoint of :func:`_kernel_transform`, (16, F, C) -> (F, C, 3, 3)."""
    from ._winograd_kernels import kernel_grad

    _, F, C = dU.shape
    dw = np.empty((F, C, 3, 3), dU.dtype)
    in_rows(lambda lo, hi: kernel_grad(dU, dw, lo, hi), F, dU.size)
    return dw


def conv2d_winograd_forward(x, w, b=None, dilation=1):
    """3x3 convolution, stride 1, padding and dilation ``dilation``, by F(2x2, 3x3).

    Parameters
    ----------
    x : (N, C, H, W) float32 or float64 NumPy array
    w : (F, C, 3, 3) array
    b : (F,) array or None
    dilation : int >= 1 (the padding is the same)

    Returns
    -------
    out : (N, F, H, W) array (the size is kept)
    cache : what :func:`conv2d_winograd_backward` needs
    """
    if np.ndim(x) != 4 or np.ndim(w) != 4 or tuple(w.shape[1:]) != (x.shape[1], 3, 3):
        raise ValueError(f"x must be (N, C, H, W) and w (F, C, 3, 3) with the same C; got x {np.shape(x)}, "
                         f"w {np.shape(w)}")
    if isinstance(dilation, bool) or not isinstance(dilation, (int, np.integer)) or dilation < 1:
        raise ValueError(f"dilation must be a positive int, got {dilation!r}")
    if getattr(x, "dtype", None) not in (np.float32, np.float64) or not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a float32 or float64 NumPy array, got {type(x).__name__} "
                        f"of dtype {getattr(x, 'dtype', None)}")
    d = int(dilation)
    N, C, H, W = x.shape
    F = w.shape[0]
    if b is not None and tuple(np.shape(b)) != (F,):
        raise ValueError(f"b must have shape ({F},), got {tuple(np.shape(b))}")
    th, tw = (-(-H // d) + 1) // 2, (-(-W // d) + 1) // 2  # tiles per phase: ceil(ceil(H / d) / 2)
    P = N * d * th * d * tw
    x = np.ascontiguousarray(x)
    from ._winograd_kernels import input_transform, output_transform

    V = np.empty((16, C, P), x.dtype)
    in_rows(lambda lo, hi: input_transform(x, V, th, tw, d, lo, hi), C, V.size)
    U = _kernel_transform(np.ascontiguousarray(w, dtype=x.dtype))
    M = np.matmul(U, V)
    out = np.empty((N, F, H, W), x.dtype)
    in_rows(lambda lo, hi: output_transform(M, out, th, tw, d, lo, hi), F, M.size)
    if b is not None:
        out += b.reshape(1, F, 1, 1)
    return out, (V, U, w.shape, (th, tw, d), out.shape, b is not None)


def conv2d_winograd_backward(dout, cache, input_grad=True):
    """Gradients of :func:`conv2d_winograd_forward`.

    Parameters
    ----------
    dout : (N, F, H, W) upstream gradient, a NumPy array
    cache : from :func:`conv2d_winograd_forward`
    input_grad : False skips ``dx``

    Returns
    -------
    dx : (N, C, H, W) or None, dw : (F, C, 3, 3), db : (F,) or None
    """
    from ._winograd_kernels import input_grad_transform, output_grad_transform

    V, U, (F, C, _, _), (th, tw, d), out_shape, has_bias = cache
    if not isinstance(dout, np.ndarray) or tuple(dout.shape) != out_shape:
        raise ValueError(f"dout must be a NumPy array of shape {out_shape}, got {type(dout).__name__} "
                         f"of shape {getattr(dout, 'shape', None)}")
    N, _, H, W = dout.shape
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    dout = np.ascontiguousarray(dout, dtype=V.dtype)
    dM = np.empty((16, F, V.shape[2]), V.dtype)
    in_rows(lambda lo, hi: output_grad_transform(dout, dM, th, tw, d, lo, hi), F, dM.size)
    dU = np.matmul(dM, V.transpose(0, 2, 1))
    dw = _kernel_grad(dU)
    if not input_grad:
        return None, dw, db
    dV = np.matmul(U.transpose(0, 2, 1), dM)
    dx = np.empty((N, C, H, W), V.dtype)
    in_rows(lambda lo, hi: input_grad_transform(dV, dx, th, tw, d, lo, hi), C, dV.size)
    return dx, dw, db
