"""3x3 convolution (stride 1, padding 1, no dilation) by Winograd's minimal filtering F(2x2, 3x3).

Each 2x2 output tile is ``A^T [(G g G^T) * (B^T d B)] A`` for its 4x4 input window d and the
3x3 kernel g (Lavin & Gray, 2016): 16 multiplications per tile instead of 36. Over channels the
element-wise products become 16 matrix products, (F, C) @ (C, tiles), so the work moves into
GEMMs 2.25x smaller than im2col's, and the 9x-sized column matrix is never built. The
backward pass stays in the transformed domain: ``dU = dM V^T``, ``dV = U^T dM``.
``conv.conv2d_forward`` uses this path for NumPy arrays when it applies; results equal the
direct convolution up to rounding (the transforms add and subtract at most 4 terms).
"""
from __future__ import annotations

import numpy as np

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


MIN_CHANNELS = 128
"""Below this many input or output channels im2col was as fast or faster in
``benchmarks/bench_conv.py`` (64 channels, 161x161): the transforms cost more than the smaller
GEMMs save."""


def applies(x, w, stride, padding, dilation):
    """True when ``conv2d_forward`` takes this path: NumPy, 3x3, stride 1, padding 1, no
    dilation, at least ``MIN_CHANNELS`` input and output channels."""
    return (isinstance(x, np.ndarray) and tuple(w.shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(padding) == (1, 1) and tuple(dilation) == (1, 1) and x.dtype in (np.float32, np.float64)
            and min(w.shape[0], w.shape[1]) >= MIN_CHANNELS)


def _kernel_transform(w):
    """U[4a + b, f, c] = (G w[f, c] G^T)[a, b]: (F, C, 3, 3) -> (16, F, C), two BLAS products."""
    F, C = w.shape[:2]
    g = G.astype(w.dtype)
    t = (w.reshape(F * C * 3, 3) @ g.T).reshape(F * C, 3, 4)          # w G^T
    u = g @ t.transpose(1, 0, 2).reshape(3, F * C * 4)                  # G (w G^T)
    return np.ascontiguousarray(u.reshape(4, F, C, 4).transpose(0, 3, 1, 2)).reshape(16, F, C)


def _kernel_grad(dU):
    """dw[f, c] = G^T dU[:, :, f, c] G: the adjoint of :func:`_kernel_transform`, (4, 4, F, C) -> (F, C, 3, 3)."""
    _, _, F, C = dU.shape
    g = G.astype(dU.dtype)
    t = (g.T @ dU.reshape(4, 4 * F * C)).reshape(3, 4, F * C)           # G^T dU
    d = t.transpose(2, 0, 1).reshape(F * C * 3, 4) @ g                  # (G^T dU) G
    return d.reshape(F, C, 3, 3)


def _rows(fn, rows, work):
    from .._numba import in_threads  # Numba is imported on first use, not with minideeplab.nn

    in_threads(fn, rows, min_rows=1 if work >= 1 << 16 else rows + 1)


def forward(x, w):
    """(N, C, H, W), (F, C, 3, 3) -> out (N, F, H, W) and the cache for :func:`backward`."""
    if np.ndim(x) != 4 or np.ndim(w) != 4 or tuple(w.shape[1:]) != (x.shape[1], 3, 3):
        raise ValueError(f"x must be (N, C, H, W) and w (F, C, 3, 3) with the same C; got x {np.shape(x)}, "
                         f"w {np.shape(w)}")
    N, C, H, W = x.shape
    F = w.shape[0]
    th, tw = (H + 1) // 2, (W + 1) // 2
    P = N * th * tw
    x = np.ascontiguousarray(x)
    from ._winograd_kernels import input_transform, output_transform

    V = np.empty((16, C, P), x.dtype)
    _rows(lambda a, b: input_transform(x, V, th, tw, a, b), C, V.size)
    U = _kernel_transform(w.astype(x.dtype, copy=False))
    M = np.matmul(U, V)
    out = np.empty((N, F, H, W), x.dtype)
    _rows(lambda a, b: output_transform(M, out, th, tw, a, b), F, M.size)
    return out, (V, U, w.shape, (th, tw), out.shape)


def backward(dout, cache):
    """Gradients (dx, dw) of :func:`forward` for the upstream gradient ``dout`` (N, F, H, W)."""
    from ._winograd_kernels import input_grad_transform, output_grad_transform

    V, U, (F, C, _, _), (th, tw), _ = cache
    N, _, H, W = dout.shape
    dout = np.ascontiguousarray(dout, dtype=V.dtype)
    dM = np.empty((16, F, V.shape[2]), V.dtype)
    _rows(lambda a, b: output_grad_transform(dout, dM, th, tw, a, b), F, dM.size)
    dU = np.matmul(dM, V.transpose(0, 2, 1)).reshape(4, 4, F, C)
    dw = _kernel_grad(dU)
    dV = np.matmul(U.transpose(0, 2, 1), dM)
    dx = np.empty((N, C, H, W), V.dtype)
    _rows(lambda a, b: input_grad_transform(dV, dx, th, tw, a, b), C, dV.size)
    return dx, dw
