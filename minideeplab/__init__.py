"""minideeplab: DeepLab from scratch.

A deep convolutional net whose coarse scores are refined by a fully connected CRF
(Chen et al., ICLR 2015), written with explicit forward/backward passes in NumPy
(CuPy on request) and Numba.
"""
import os

__version__ = "0.1.0"

# OpenBLAS's idle threads spin for about 2**28 cycles after each BLAS call, and on a small
# machine they take the cores from the Numba kernels that run between two GEMMs (the
# Winograd convolutions of benchmarks/bench_conv.py took 23-42% longer). 4 (its minimum) puts
# them to sleep at once. OpenBLAS reads the variable when NumPy loads it, so this default only
# applies when minideeplab is imported before NumPy (as by the command line); elsewhere set it
# in the environment.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from ._memory import apply_default as _keep_freed_memory  # noqa: E402

_keep_freed_memory()  # freed arrays stay in the heap: no page faults when the next iteration reuses them

from . import backend  # noqa: E402,F401
from ._io import FileFormatError  # noqa: E402,F401  (the error every file reader raises)
