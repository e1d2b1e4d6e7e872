"""Softmax over labels for both CRFs: ``-U`` in, beliefs Q out, rows in the kernel threads.

Beliefs are pixel-major, ``(N, L)``: a pixel's labels are adjacent, as the updates read them.
The fast engines pad the labels to a multiple of :data:`LABEL_PAD` with energy -inf (hence
Q = 0 there, exactly), so their inner loops vectorise without a remainder.
"""
from __future__ import annotations

import numpy as np

from .._numba import in_threads
from ._softmax_kernels import normalize_rows, pixel_major_energies, transpose_into

PROB_CLIP = 1e-5
"""Probabilities are clipped to [PROB_CLIP, 1] before the log (pydensecrf's default)."""
LABEL_PAD = 8


def padded_label_count(L):
    """L rounded up to a multiple of :data:`LABEL_PAD`."""
    return L + (-L) % LABEL_PAD


def clipped_log(probs):
    """``log(clip(probs, PROB_CLIP, 1))`` as (L, N) float32: the negated unary -U, label-major."""
    L = probs.shape[0]
    logp = np.clip(probs.reshape(L, -1), PROB_CLIP, 1.0, dtype=np.float32)
    np.log(logp, out=logp)
    return logp


def padded_energies(logp, n_labels_padded):
    """``(minus_unary, shifted)``, both (N, n_labels_padded) float32, pixel-major: -U with the
    padded labels at -inf, and the same minus each row's maximum. ``logp`` (L, N) is -U."""
    N = logp.shape[1]
    minus_unary = np.empty((N, n_labels_padded), np.float32)
    shifted = np.empty_like(minus_unary)
    in_threads(lambda a, b: pixel_major_energies(logp[:, a:b], minus_unary[a:b], shifted[a:b]), N)
    return minus_unary, shifted


def exp_inplace(x):
    """``np.exp(x, out=x)`` on (N, L) rows; NumPy's SIMD exp, row blocks in the kernel threads."""
    in_threads(lambda a, b: np.exp(x[a:b], out=x[a:b]), x.shape[0])
    return x


def softmax_into(E, out):
    """out = softmax(E) along the last axis (E is left unchanged); NumPy's exp, Numba's loops."""
    np.subtract(E, E.max(axis=1, keepdims=True), out=out)
    exp_inplace(out)
    normalize_rows(out)
    return out


def to_label_major(Q, L, H, W):
    """(N, >= L) pixel-major beliefs -> (L, H, W) float32, a new array."""
    out = np.empty((L, H * W), np.float32)
    transpose_into(np.ascontiguousarray(Q, dtype=np.float32), out)
    return out.reshape(L, H, W)
