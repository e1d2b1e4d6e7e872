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
