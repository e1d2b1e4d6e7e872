"""Convolution one kernel tap at a time, skipping what reads only padding (for atrous layers).

A dilated kernel on a small map reads mostly zeros. DeepLab-LargeFOV's fc6 is 3x3 with
dilation 12 and padding 12: on the 17 x 17 map of a 129-pixel crop, the tap at offset
(+12, +12) finds input for 5 x 5 of the 289 output pixels, and of the nine taps' 2,601 pixel
reads only 729 (28%) land inside the image; on a 9 x 9 map only the centre tap does, and the
layer is a 1 x 1 convolution. im2col multiplies all of them, zeros included. Here each tap
``(i, j)`` is one product over the rectangle of outputs whose input it finds::

    out[n, :, u, v] += w[:, :, i, j] @ x[n, :, u + i d - p, v + j d - p]   for (u, v) in its rectangle

so the work is proportional to the reads that land in the image. The backward pass runs the
same rectangles: ``dw[:, :, i, j] = sum_n dout_rect @ x_rect^T`` and
``dx_rect += w[:, :, i, j]^T @ dout_rect``. ``conv2d_taps_forward/backward`` is the twin of
``conv.conv2d_im2col_forward/backward`` for stride 1 (any kernel size, padding and dilation):
the same result up to rounding. It is plain slicing and ``matmul``, so it runs on NumPy and
CuPy. A ``Conv2d`` layer runs it where :func:`applies` says so (see
:meth:`minideeplab.nn.layers.Conv2d.algorithm_for`).
"""
from __future__ import annotations

from .._validate import check_dout, pair
from ..backend import get_array_module
from .conv import check_conv_inputs, conv_output_size

MAX_INSIDE = 0.7
"""Layers whose taps find input for at most this share of their (output pixel, tap) pairs run
this pair on ``"auto"``; the others keep im2col, whose one product over all taps is faster when
few reads are wasted. Measured forward + backward, 2 threads (``benchmarks/RESULTS.md``,
2026-12-04)."""


def tap_rectangles(H, W, kernel_size, padding, dilation):
    """The taps that find input, with their rectangles, for stride 1.

    Returns a list of ``(i, j, (u0, u1), (v0, v1), (y0, x0))``: tap ``(i, j)`` reads input for
    outputs ``u0 <= u < u1, v0 <= v < v1``, starting at input pixel ``(y0, x0)``. Taps that find
    none are left out.
    """
    (kh, kw), (ph, pw), (dh, dw) = kernel_size, padding, dilation
    Ho, Wo = conv_output_size(H, kh, 1, ph, dh), conv_output_size(W, kw, 1, pw, dw)
    taps = []
    for i in range(kh):
        u0, u1 = max(0, ph - i * dh), min(Ho, H + ph - i * dh)
        for j in range(kw):
            v0, v1 = max(0, pw - j * dw), min(Wo, W + pw - j * dw)
            if u1 > u0 and v1 > v0:
                taps.append((i, j, (u0, u1), (v0, v1), (u0 + i * dh - ph, v0 + j * dw - pw)))
    return taps


def inside_share(H, W, kernel_size, padding, dilation):
    """Share of a stride-1 layer's (output pixel, tap) pairs whose input lies inside the map."""
    (kh, kw), (ph, pw), (dh, dw) = kernel_size, padding, dilation
    Ho, Wo = conv_output_size(H, kh, 1, ph, dh), conv_output_size(W, kw, 1, pw, dw)
    if Ho < 1 or Wo < 1:
        return 1.0
    inside = sum((u1 - u0) * (v1 - v0) for _, _, (u0, u1), (v0, v1), _ in
                 tap_rectangles(H, W, kernel_size, padding, dilation))
    return inside / (kh * kw * Ho * Wo)


def applies(x, w, stride, padding, dilation):
    """True when a ``Conv2d`` layer on ``"auto"`` runs this pair rather than im2col: stride 1, a
    dilated kernel (dilation > 1 along an axis), ``x`` ``(N, C, H, W)`` with the weight's input
    channels and dtype, and at most ``MAX_INSIDE`` of the reads inside the map
    (:func:`inside_share`)."""
    return (tuple(stride) == (1, 1) and max(dilation) > 1 and getattr(x, "ndim", 0) == 4
            and len(getattr(w, "shape", ())) == 4 and x.shape[1] == w.shape[1] and x.dtype == w.dtype
            and inside_share(x.shape[2], x.shape[3], w.shape[2:], padding, dilation) <= MAX_INSIDE)


def _rect(a, rows, cols):
    """``a[:, :, rows, cols]`` as a contiguous ``(C, N * h * w)`` matrix (channels first, so that
    one product covers the whole batch)."""
    xp = get_array_module(a)
    r = xp.ascontiguousarray(a[:, :, rows[0]:rows[1], cols[0]:cols[1]].transpose(1, 0, 2, 3))
    return r.reshape(r.shape[0], -1)


def _add_rect(a, rows, cols, m):
    """``a[:, :, rows, cols] += m`` for ``m`` a ``(C, N * h * w)`` matrix."""
    C, N = a.shape[1], a.shape[0]
    a[:, :, rows[0]:rows[1], cols[0]:cols[1]] += m.reshape(C, N, rows[1] - rows[0], cols[1] - cols[0]).transpose(
        1, 0, 2, 3)


def conv2d_taps_forward(x, w, b=None, padding=0, dilation=1):
    """Stride-1 convolution, one product per tap that finds input.

    Parameters
    ----------
    x : (N, C, H, W) floating array
    w : (F, C, kh, kw) array, same dtype as ``x``
    b : (F,) array or None
    padding, dilation : int or (int, int)

    Returns
    -------
    out : (N, F, H', W') array, ``H' = H + 2p - d(kh - 1)``
    cache : what :func:`conv2d_taps_backward` needs (it holds ``x``: do not write into it
        between the passes)
    """
    check_conv_inputs(x, w, b)
    padding = pair(padding, "padding", 0)
    dilation = pair(dilation, "dilation", 1)
    N, _, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = conv_output_size(H, kh, 1, padding[0], dilation[0]), conv_output_size(W, kw, 1, padding[1], dilation[1])
    if Ho < 1 or Wo < 1:
        raise ValueError(f"x of spatial size {H}x{W} is smaller than the dilated kernel "
                         f"({dilation[0] * (kh - 1) + 1}x{dilation[1] * (kw - 1) + 1}) with padding {padding}")
    xp = get_array_module(x)
    out = xp.zeros((N, F, Ho, Wo), x.dtype)
    taps = tap_rectangles(H, W, (kh, kw), padding, dilation)
    for i, j, (u0, u1), (v0, v1), (y0, x0) in taps:
        xr = _rect(x, (y0, y0 + u1 - u0), (x0, x0 + v1 - v0))  # (C, N * h * w)
        _add_rect(out, (u0, u1), (v0, v1), w[:, :, i, j] @ xr)
    if b is not None:
        out += b.reshape(1, F, 1, 1)
    return out, (x, w, taps, (Ho, Wo), b is not None)


def conv2d_taps_backward(dout, cache, input_grad=True):
    """Gradients of :func:`conv2d_taps_forward`.

    Returns
    -------
    dx : (N, C, H, W) or None (``input_grad=False``), dw : (F, C, kh, kw), db : (F,) or None
    """
    x, w, taps, (Ho, Wo), has_bias = cache
    N, F = x.shape[0], w.shape[0]
    xp = get_array_module(dout)
    check_dout(dout, (N, F, Ho, Wo))
    dw = xp.zeros(w.shape, w.dtype)
    dx = xp.zeros(x.shape, x.dtype) if input_grad else None
    for i, j, (u0, u1), (v0, v1), (y0, x0) in taps:
        dr = _rect(dout, (u0, u1), (v0, v1))  # (F, N * h * w)
        xr = _rect(x, (y0, y0 + u1 - u0), (x0, x0 + v1 - v0))  # (C, N * h * w)
        dw[:, :, i, j] = dr @ xr.T
        if input_grad:
            _add_rect(dx, (y0, y0 + u1 - u0), (x0, x0 + v1 - v0), w[:, :, i, j].T @ dr)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db
