"""Input checks shared by the public functions: clear errors that name the argument."""
from __future__ import annotations

import numpy as np

from .backend import get_array_module


def is_array(a) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype") and hasattr(a, "ndim")


def float_array(a, name: str, ndim: int | None = None):
    """Check that ``a`` is a floating-point array (NumPy or CuPy) with ``ndim`` dimensions."""
    if not is_array(a):
        raise TypeError(f"{name} must be an array, got {type(a).__name__}")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(a.shape)}")
    return a


def check_dout(dout, shape, name: str = "dout"):
    """``dout`` must be a floating-point array of the forward output's ``shape`` (no broadcasting)."""
    float_array(dout, name)
    if tuple(dout.shape) != tuple(shape):
        raise ValueError(f"{name} must have the forward output's shape {tuple(shape)}, got {tuple(dout.shape)}")
    return dout


def size_pair(size, name: str) -> tuple[int, int]:
    """An output size ``(H, W)`` of two positive ints."""
    try:
        h, w = size
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair of positive ints (H, W), got {size!r}") from None
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be a pair of positive ints (H, W), got {size!r}")
        if v < 1:
            raise ValueError(f"{name} must be positive, got {size!r}")
    return int(h), int(w)


def real_number(v, name: str, low=-np.inf, high=np.inf, low_open=False, high_open=False) -> float:
    """A real number (not a bool) in the interval; returned as float."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {v!r}")
    try:
        x = float(v)
    except OverflowError:  # an int beyond float's range
        raise ValueError(f"{name} must be in the range of a float, got {v!r}") from None
    ok = (low < x if low_open else low <= x) and (x < high if high_open else x <= high)
    if not ok:  # NaN fails too
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low:g}, {high:g}{hi}, got {v!r}")
    return x


def finite(a, name: str):
    xp = get_array_module(a)
    if not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def pair(v, name: str, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, as ``(vertical, horizontal)``, each >= ``minimum``."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        a, b = v
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    for x in (a, b):
        if not isinstance(x, (int, np.integer)) or isinstance(x, bool):
            raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")
        if x < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {v!r}")
    return int(a), int(b)


def positive_int(v, name: str, minimum: int = 1) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)
