"""Numba kernels for exponentials and row normalisation, shared by both CRFs (``@njit`` only;
:mod:`.softmax` wraps them).

A float32 exp for non-positive arguments that the compiler vectorises (the mean-field updates
spend much of their time in exp), and the row operations around it.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._numba import njit

if numba.config.DISABLE_JIT:
    def _bits_as_f32(i):
        """The float32 whose bits are the int32 ``i``."""
        return np.array(i, np.int32).view(np.float32)[()]
else:
    @intrinsic
    def _bits_as_f32(typingctx, i):
        """The float32 whose bits are the int32 ``i`` (an LLVM bitcast, vectorisable)."""
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())
        return types.float32(types.int32), codegen


# exp(x) for float32 x <= 0 as in Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in
# two for exactness), a degree-7 polynomial for exp(r), 2^n built from its exponent bits.
# Relative error below 1e-7 against float64 exp for x >= -60; below -60 the result is exactly 0.
# The cut matters for speed, not accuracy: the callers subtract each pixel's maximum first, so
# exp(-60) ~ 1e-26 is far below float32's resolution of the sum, while values under 1e-38
# (denormals) make every later multiplication by them about ten times slower.
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)
_EXP_P = (np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3),
          np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1))
EXP_CUT = np.float32(-60.0)


@njit
def exp_nonpositive(x, out):
    """out[v] = exp(x[v]) for -60 <= x[v] <= 0, 0 below -60; float32, in a loop the compiler vectorises."""
    p0, p1, p2, p3, p4, p5 = _EXP_P
    for v in range(x.shape[0]):
        a = max(x[v], EXP_CUT)
        n = np.floor(a * _LOG2E + np.float32(0.5))
        r = a - n * _LN2_HI - n * _LN2_LO
        p = (((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5) * (r * r) + r + np.float32(1.0)
        e = p * _bits_as_f32((np.int32(n) + np.int32(127)) << np.int32(23))
        out[v] = e if x[v] >= EXP_CUT else np.float32(0.0)


@njit
def exp_rows_into(e, x, dst):
    """dst[k] = exp(E_k) / sum(exp(E_k)) for the rows E_k <= 0 (already minus their maximum)
    of ``e``, flat (n * L,); ``x`` (n * L,) is scratch for the exponentials, dst is (n, L)."""
    n, L = dst.shape
    exp_nonpositive(e, x)
    for k in range(n):
        tot = x[k * L]
        for v in range(1, L):
            tot += x[k * L + v]
        inv = np.float32(1.0) / tot
        for v in range(L):
            dst[k, v] = x[k * L + v] * inv


@njit
def pixel_major_energies(logp, padded, shifted):
    """padded[i, :L] = logp[:, i], padded[i, L:] = -inf, shifted[i] = padded[i] - max(padded[i]).

    logp : (L, N) log-probabilities (label-major, as the probabilities come), i.e. the
    negated unary; padded, shifted : (N, Lp) with Lp >= L (pixel-major, labels padded).
    """
    L, N = logp.shape
    n_padded = padded.shape[1]
    for i in range(N):
        mx = logp[0, i]
        for v in range(L):
            x = logp[v, i]
            padded[i, v] = x
            mx = max(mx, x)
        for v in range(L, n_padded):
            padded[i, v] = -np.inf
        for v in range(n_padded):
            shifted[i, v] = padded[i, v] - mx


@njit
def normalize_rows(Q):
    """Q_i /= sum(Q_i), in place."""
    N, L = Q.shape
    for i in range(N):
        tot = Q[i, 0]
        for v in range(1, L):
            tot += Q[i, v]
        inv = 1.0 / tot
        for v in range(L):
            Q[i, v] *= inv


@njit
def transpose_into(Q, out):
    """out[v, i] = Q[i, v] for v < out.shape[0]: pixel-major (N, >= L) to label-major (L, N)."""
    N = Q.shape[0]
    L = out.shape[0]
    for i in range(N):
        for v in range(L):
            out[v, i] = Q[i, v]


@njit
def exp_normalize_rows(E, Q):
    """Q_i = exp(E_i) / sum(exp(E_i)) for rows E_i <= 0 (already minus their maximum)."""
    N, L = E.shape
    exp_nonpositive(E.reshape(N * L), Q.reshape(N * L))
    normalize_rows(Q)
