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
the calling thread's, then restarts the other threads that compute for the library: the kernel
threads of :mod:`._numba` and the worker threads of every OpenBLAS loaded in the process
(NumPy's, SciPy's), which start again at their next use, copying it. OpenBLAS is restarted
through its ``blas_thread_shutdown_``, which pthreads builds (the NumPy and SciPy wheels) honour;
where NumPy uses another BLAS (MKL, BLIS, Accelerate) or an OpenMP build of OpenBLAS, that
library's threads keep their mode, as do other pools (PyTorch's, OpenMP's). Do not call it while
another thread is computing: the threads it restarts must be idle.

The ``minideeplab`` command and :meth:`minideeplab.train.Trainer.fit` run in this mode and put
the previous bits back when they return; importing the library changes nothing. Elsewhere than
Linux (glibc) on x86-64 the functions do nothing and report False.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import platform
import sys

FTZ = 1 << 15
"""MXCSR bit: results that would be subnormal are zero."""
DAZ = 1 << 6
"""MXCSR bit: subnormal operands read as zero."""
BITS = FTZ | DAZ


class _FEnv(ctypes.Structure):
    """glibc's ``fenv_t`` on x86-64: the x87 environment (28 bytes), then MXCSR."""
    _fields_ = [("x87", ctypes.c_ushort * 14), ("mxcsr", ctypes.c_uint)]


def supported() -> bool:
    """Whether :func:`set_flush_denormal` can work here (Linux on x86-64, glibc's libm)."""
    return _libm() is not None


def _libm():
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return _load_libm()


@functools.cache
def _load_libm():
    for name in ("libm.so.6", ctypes.util.find_library("m")):
        try:
            libm = ctypes.CDLL(name)
            libm.fegetenv.argtypes = libm.fesetenv.argtypes = (ctypes.POINTER(_FEnv),)
            return libm
        except (OSError, AttributeError, TypeError):
            continue
    return None


def _env(libm):
    env = _FEnv()
    return env if libm.fegetenv(ctypes.byref(env)) == 0 else None


def get_bits() -> int | None:
    """The calling thread's FTZ and DAZ bits (``mxcsr & (FTZ | DAZ)``), None where unsupported."""
    libm = _libm()
    env = _env(libm) if libm is not None else None
    return None if env is None else env.mxcsr & BITS


def flush_denormal_enabled() -> bool:
    """Whether the calling thread runs with both FTZ and DAZ set (False where unsupported)."""
    return get_bits() == BITS


def set_bits(bits: int) -> bool:
    """Set the FTZ and DAZ bits to ``bits`` (a subset of ``FTZ | DAZ``) for the calling thread,
    then restart the threads that follow it (module docstring). Returns True when the calling
    thread now holds exactly those bits, False where unsupported (nothing changes then)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits & ~BITS:
        raise ValueError(f"bits must be a subset of FTZ | DAZ ({BITS:#x}), got {bits!r}")
    libm = _libm()
    env = _env(libm) if libm is not None else None
    if env is None:
        return False
    env.mxcsr = (env.mxcsr & ~BITS) | bits
    if libm.fesetenv(ctypes.byref(env)) != 0:
        return False
    if "minideeplab._numba" in sys.modules:  # first: its tasks may still run (none calls BLAS)
        sys.modules["minideeplab._numba"].restart_pool()
    _restart_blas_threads()
    return get_bits() == bits


def set_flush_denormal(mode: bool) -> bool:
    """Set (``mode`` True) or clear FTZ and DAZ, as ``torch.set_flush_denormal``: for this
    thread, the library's kernel threads and OpenBLAS's threads (module docstring).

    Returns True when the calling thread now runs in the requested mode, False where the CPU or
    the C library offers no such mode (nothing is changed then).
    """
    if not isinstance(mode, bool):
        raise TypeError(f"mode must be True or False, got {mode!r}")
    return set_bits(BITS if mode else 0)


@contextlib.contextmanager
def flushing(enabled: bool = True):
    """``with flushing():`` runs its block in flush-to-zero mode (:func:`set_flush_denormal`) and
    then puts back the FTZ/DAZ bits it found, however the block ends; ``enabled`` False (or an
    unsupported platform) leaves the mode alone. What the command line and ``Trainer.fit`` use."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {enabled!r}")
    before = get_bits() if enabled else None
    try:
        if before is not None:  # set even if on already: the BLAS and kernel threads follow
            set_flush_denormal(True)
        yield
    finally:
        if before is not None and get_bits() != before:
            set_bits(before)


def _restart_blas_threads() -> int:
    """Stop the worker threads of every OpenBLAS loaded in this process; OpenBLAS starts them
    again from the calling thread at its next threaded call. Returns how many were stopped."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line and ".so" in line}
    except OSError:
        return 0
    stopped = 0
    for path in sorted(paths):
        try:
            shutdown = ctypes.CDLL(path).blas_thread_shutdown_
        except (OSError, AttributeError):
            continue
        shutdown()
        stopped += 1
    return stopped
