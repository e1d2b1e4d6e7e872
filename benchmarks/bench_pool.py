"""Max pooling (3x3, stride 2, padding 1, Caffe's ceil rounding) and ReLU, ours beside PyTorch's.

    python benchmarks/bench_pool.py [--repeat 15]

DeepLab's pool inputs at widths 1/8 and 1/4, batch 8, crop 129 (channels x map side). One row per
shape: our forward, backward, inference forward (``maxpool2d_values``: no winners kept) and ReLU
forward, then (if torch is installed) PyTorch's forward,
forward + backward (``F.max_pool2d(..., ceil_mode=True)``) and ReLU forward, under
``torch.set_num_threads`` = our thread count, in this process after ours. Medians in ms.
"""
from __future__ import annotations

import argparse
import time

import minideeplab  # noqa: F401  (before NumPy, as the command line imports it)
import numpy as np

from minideeplab import nn

SHAPES = [(8, 129), (16, 129), (16, 65), (32, 65), (64, 33)]


def median_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    a = ap.parse_args()
    import numba

    rng = np.random.default_rng(0)
    rows = []
    for C, H in SHAPES:
        x = rng.standard_normal((8, C, H, H)).astype(np.float32)
        out, cache = nn.maxpool2d_forward(x, 3, 2, 1)
        g = rng.standard_normal(out.shape).astype(np.float32)
        rows.append([median_ms(lambda: nn.maxpool2d_forward(x, 3, 2, 1), a.repeat),
                     median_ms(lambda: nn.maxpool2d_backward(g, cache), a.repeat),
                     median_ms(lambda: nn.maxpool2d_values(x, 3, 2, 1), a.repeat),
                     median_ms(lambda: nn.relu_forward(x), a.repeat)])
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(numba.get_num_threads())
        for row, (C, H) in zip(rows, SHAPES):
            x = torch.randn(8, C, H, H, requires_grad=True)
            pool = lambda: torch.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True)
            g = torch.randn_like(pool())

            def forward_backward():
                pool().backward(g)

            row += [median_ms(pool, a.repeat), median_ms(forward_backward, a.repeat)]
            with torch.no_grad():
                xr = torch.randn(8, C, H, H)
                row.append(median_ms(lambda: torch.relu(xr), a.repeat))
    print(f"threads {numba.get_num_threads()}; torch {torch.__version__ if torch else 'not installed'}; batch 8; ms")
    print(f"{'C x H':>10s} | {'pool fwd':>8s} {'pool bwd':>8s} {'pool f+b':>8s} {'values':>8s} {'relu fwd':>8s} | "
          f"{'torch fwd':>9s} {'torch f+b':>9s} {'torch relu':>10s}")
    for (C, H), r in zip(SHAPES, rows):
        line = f"{f'{C} x {H}':>10s} | {r[0]:8.2f} {r[1]:8.2f} {r[0] + r[1]:8.2f} {r[2]:8.2f} {r[3]:8.2f} |"
        if len(r) > 4:
            line += f" {r[4]:9.2f} {r[5]:9.2f} {r[6]:10.2f}"
        print(line)


if __name__ == "__main__":
    main()
