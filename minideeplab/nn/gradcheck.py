"""Numerical gradients and relative error, for checking backward passes.

Bars (float64): a correct backward gives ``rel_error`` around 1e-8 or smaller;
anything above 1e-6 means a bug.
"""
from __future__ import annotations

import numpy as np


def rel_error(a, b) -> float:
    """``max |a - b| / max(|a| + |b|)``, a scale-free distance between two arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-300))


def numerical_gradient(f, x, dout, h=1e-6):
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    ``x`` is perturbed in place and restored; use float64.

    Parameters
    ----------
    f : callable taking no arguments and returning an array (it reads ``x``)
    x : array to perturb
    dout : array with the shape of ``f()``; use 1.0 for scalar ``f``
    """
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 for a numerical gradient, got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = np.sum(np.asarray(f()) * dout)
        x[i] = old - h
        fm = np.sum(np.asarray(f()) * dout)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad
