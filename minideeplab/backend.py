"""Array backend selection: NumPy by default, CuPy when asked for.

This is the only module that imports CuPy. Every op starts with
``xp = get_array_module(x)`` and so runs unchanged on either backend.

Select CuPy with ``minideeplab.backend.use("cupy")`` or by setting the
environment variable ``MINIDEEPLAB_BACKEND=cupy`` before import.
"""
from __future__ import annotations

import os

import numpy as np

_BACKENDS = ("numpy", "cupy")
_current = "numpy"


def _import_cupy():
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "backend 'cupy' needs CuPy: pip install 'minideeplab[gpu]'"
        ) from exc
    return cupy


def use(name: str) -> None:
    """Select the array backend for newly created arrays: ``"numpy"`` or ``"cupy"``."""
    global _current
    if name not in _BACKENDS:
        raise ValueError(f"name must be one of {_BACKENDS}, got {name!r}")
    if name == "cupy":
        _import_cupy()
    _current = name


def current() -> str:
    """Name of the selected backend."""
    return _current


def xp():
    """The selected array module (``numpy`` or ``cupy``)."""
    return _import_cupy() if _current == "cupy" else np


def get_array_module(*arrays):
    """The array module (``numpy`` or ``cupy``) that owns ``arrays``.

    Like ``cupy.get_array_module``, but never imports CuPy for NumPy input.
    """
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            return _import_cupy()
    return np


def asnumpy(a):
    """Copy an array to host memory as a NumPy array (no copy for NumPy input)."""
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.asarray(a)


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


_env = os.environ.get("MINIDEEPLAB_BACKEND")
if _env:
    use(_env.lower())
