"""Flush-to-zero arithmetic: the CPU itself reads and writes subnormal numbers as zero.

:mod:`.subnormal` zeroes the subnormal values a model *stores*. A trained network also makes
them in its *arithmetic*: weight decay leaves the weights of units that never fire tiny but
normal (a 6,000-iteration width-1/4 net holds 352,446 of its 1.29 million weights below 1e-30,
38% of conv4_3's), and their products with gradients or activations fall under float32's
smallest normal number, 1.2e-38. An x86 CPU computes each such product in microcode, about a
hundred times slower than a normal one: the shipped model's backward pass took 1.9x as long as
in this mode (conv4_2 to conv5_3 3.2-3.5x), and a long training run slows as it goes
(``benchmarks/bench_denormal.py``, ``benchmarks/RESULTS.md``).

x86-64 keeps two bits for this in each thread's MXCSR register: FTZ (a result that would be
subnormal is zero) and DAZ (a subnormal operand reads as zero). :func:`set_flush_denormal` sets
or clears both, as ``torch.set_flush_denormal`` does. What they change is below 1.2e-38 (float32)
or 2.2e-308 (float64) in magnitude, far under the rounding of any sum a network or a CRF forms.

The register belongs to a thread, and a new thread copies its creator's. So the function sets
the calling thread's, then restarts the other threads that compute: OpenBLAS's workers (NumPy's
matrix products) and the threads that run minideeplab's Numba kernels (:mod:`._numba`); both
start again at their next use, copying it. Threads of other libraries keep their mode. Do not
call it while another thread is computing.

The ``minideeplab`` command runs in this mode (``MINIDEEPLAB_FLUSH_DENORMAL=0`` in the
environment leaves the CPU as it is) and puts the previous mode back when it returns; importing
the library changes nothing. Elsewhere than Linux on x86-64 the function does nothing and
returns False.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

FTZ = 1 << 15
"""MXCSR bit: results that would be subnormal are zero."""
DAZ = 1 << 6
"""MXCSR bit: subnormal operands read as zero."""


class _FEnv(ctypes.Structure):
    """``fenv_t`` of glibc and musl on x86-64: the x87 environment, then MXCSR."""
    _fields_ = [("x87", ctypes.c_ushort * 14), ("mxcsr", ctypes.c_uint)]


def _libm():
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        libm.fegetenv.argtypes = libm.fesetenv.argtypes = (ctypes.POINTER(_FEnv),)
        return libm
    except (OSError, AttributeError):
        return None


def _mxcsr(libm):
    env = _FEnv()
    if libm.fegetenv(ctypes.byref(env)) != 0:
        return None
    return env


def supported() -> bool:
    """Whether :func:`set_flush_denormal` can work here (Linux on x86-64)."""
    return _libm() is not None


def flush_denormal_enabled() -> bool:
    """Whether the calling thread runs with FTZ and DAZ set (False where unsupported)."""
    libm = _libm()
    env = _mxcsr(libm) if libm is not None else None
    return env is not None and env.mxcsr & (FTZ | DAZ) == FTZ | DAZ


def set_flush_denormal(mode: bool) -> bool:
    """Set (``mode`` True) or clear FTZ and DAZ for this thread and NumPy's BLAS threads.

    Returns True when the calling thread now runs in the requested mode, False where the CPU or
    the C library offers no such mode (nothing is changed then). See the module docstring for
    which threads follow.
    """
    if not isinstance(mode, bool):
        raise TypeError(f"mode must be True or False, got {mode!r}")
    libm = _libm()
    env = _mxcsr(libm) if libm is not None else None
    if env is None:
        return False
    env.mxcsr = env.mxcsr | FTZ | DAZ if mode else env.mxcsr & ~(FTZ | DAZ)
    if libm.fesetenv(ctypes.byref(env)) != 0:
        return False
    _restart_blas_threads()
    if "minideeplab._numba" in sys.modules:  # its pool's threads, if any, copy the mode anew
        sys.modules["minideeplab._numba"].restart_pool()
    return flush_denormal_enabled() == mode


def _restart_blas_threads() -> int:
    """Stop the worker threads of every OpenBLAS loaded in this process; OpenBLAS starts them
    again from the calling thread at its next threaded call. Returns how many were stopped."""
    stopped = 0
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line and ".so" in line}
    except OSError:
        return 0
    for path in sorted(paths):
        try:
            shutdown = ctypes.CDLL(path).blas_thread_shutdown_
        except (OSError, AttributeError):
            continue
        shutdown()
        stopped += 1
    return stopped


def apply_for_command_line() -> bool | None:
    """What the ``minideeplab`` command does on start: :func:`set_flush_denormal` (True) unless
    ``MINIDEEPLAB_FLUSH_DENORMAL=0``. Returns the mode to put back on exit, or None when nothing
    was changed."""
    if os.environ.get("MINIDEEPLAB_FLUSH_DENORMAL", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    before = flush_denormal_enabled()
    if before or not set_flush_denormal(True):
        return None
    return before
