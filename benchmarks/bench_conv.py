"""Conv forward+backward time and GFLOP/s on DeepLab's shapes, beside torch (if installed).

    python benchmarks/bench_conv.py [--repeat 5] [--threads 2]
    python benchmarks/bench_conv.py --breakdown    # im2col's steps, per shape
    python benchmarks/bench_conv.py --sweep        # Winograd vs im2col by channel count

Prints one row per shape: minideeplab seconds, GFLOP/s, torch seconds, the ratio
ours/torch, and the NumPy float32 matmul peak of this machine for scale.
FLOPs counted: forward 2*N*F*C*kh*kw*H'*W', backward twice that (dx and dw).

torch is timed in a child process: imported beside NumPy, its thread pool and
OpenBLAS's fight over the 2 cores and NumPy's matmul runs at half speed.
minideeplab is imported before NumPy, as its command line does, so that its default
OPENBLAS_THREAD_TIMEOUT=4 applies (see minideeplab/__init__.py); the header prints it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import platform
import statistics
import time

import minideeplab  # noqa: F401  (before NumPy: OpenBLAS reads its settings when NumPy loads it)
import numpy as np

from minideeplab.nn import (conv2d_im2col_backward, conv2d_im2col_forward, conv2d_winograd_backward,
                            conv2d_winograd_forward, winograd)

SHAPES = [  # name, C, F, H, k, pad, dilation
    ("conv 64ch 161x161", 64, 64, 161, 3, 1, 1),
    ("conv 256ch 41x41", 256, 256, 41, 3, 1, 1),
    ("conv5 512ch 41x41 d2", 512, 512, 41, 3, 2, 2),
    ("fc6 512->1024 41x41 d12", 512, 1024, 41, 3, 12, 12),
]


def _median_time(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_peak(repeat):
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    t = _median_time(lambda: a @ a, repeat)
    return 2 * 2048**3 / t / 1e9


def _inputs(C, F, H, k, N):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    w = (rng.standard_normal((F, C, k, k)) * 0.01).astype(np.float32)
    return x, w, np.zeros(F, np.float32)


def torch_times(repeat, threads, N):
    """Run in a child process: {shape name: median seconds} for torch, or {} without torch."""
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(threads)
    out = {"version": torch.__version__}
    for name, C, F, H, k, p, d in SHAPES:
        x, w, b = _inputs(C, F, H, k, N)
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True)

        def theirs():
            o = torch.nn.functional.conv2d(tx, tw, tb, padding=p, dilation=d)
            o.backward(torch.ones_like(o))

        out[name] = _median_time(theirs, repeat)
    return out


def breakdown(repeat, N):
    """Seconds of each step of our forward + backward: im2col, the three GEMMs, col2im."""
    from minideeplab.nn import col2im, im2col

    print(f"{'shape':26s} {'im2col':>7s} {'fwd GEMM':>9s} {'dW GEMM':>8s} {'dcol GEMM':>9s} {'col2im':>7s} "
          f"{'GEMMs':>7s} (seconds)")
    for name, C, F, H, k, p, d in SHAPES:
        x, w, _ = _inputs(C, F, H, k, N)
        args = ((1, 1), (p, p), (d, d))
        col = im2col(x, k, k, *args)
        c = col.reshape(N, C * k * k, -1)
        wm = w.reshape(F, -1)
        dout = np.ones((N, F, c.shape[-1]), np.float32)
        t = [_median_time(lambda: im2col(x, k, k, *args), repeat),
             _median_time(lambda: np.matmul(wm, c), repeat),
             _median_time(lambda: [dout[n] @ c[n].T for n in range(N)], repeat),
             _median_time(lambda: np.matmul(wm.T, dout), repeat),
             _median_time(lambda: col2im(col, H, H, *args), repeat)]
        print(f"{name:26s} {t[0]:7.3f} {t[1]:9.3f} {t[2]:8.3f} {t[3]:9.3f} {t[4]:7.3f} {sum(t[1:4]):7.3f}",
              flush=True)


SWEEP = [(C, H) for C in (8, 16, 32, 64, 128) for H in (161, 81, 41)] + [(256, 41), (512, 41)]


def _forward_backward(x, w, b, p, d, algorithm, dout=None):
    """One forward + backward of the pair ``algorithm`` (stride 1, padding p, dilation d);
    ``dout`` None: ones, made inside the timed call."""
    if algorithm == "winograd":
        out, cache = conv2d_winograd_forward(x, w, b, d)
        conv2d_winograd_backward(np.ones_like(out) if dout is None else dout, cache)
    else:
        out, cache = conv2d_im2col_forward(x, w, b, 1, p, d)
        conv2d_im2col_backward(np.ones_like(out) if dout is None else dout, cache)


def sweep(repeat, N):
    """Forward + backward of C -> C 3x3 convolutions (padding 1) by each pair."""
    print(f"{'channels':>8s} {'size':>8s} {'winograd s':>11s} {'im2col s':>9s} {'ratio':>6s}")
    for C, H in SWEEP:
        x, w, b = _inputs(C, C, H, 3, N)
        dout = np.ones((N, C, H, H), np.float32)
        t_w = _median_time(lambda: _forward_backward(x, w, b, 1, 1, "winograd", dout), repeat)
        t_i = _median_time(lambda: _forward_backward(x, w, b, 1, 1, "im2col", dout), repeat)
        print(f"{C:8d} {H:>4d}x{H:<3d} {t_w:11.4f} {t_i:9.4f} {t_w / t_i:6.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--breakdown", action="store_true", help="time im2col, the GEMMs and col2im separately")
    ap.add_argument("--sweep", action="store_true", help="Winograd vs im2col from 8 to 512 channels")
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sweep:
        sweep(args.repeat, args.batch)
        return
    if args.breakdown:
        breakdown(args.repeat, args.batch)
        return
    if args.torch_child:
        print(json.dumps(torch_times(args.repeat, args.threads, args.batch)))
        return
    child = subprocess.run([sys.executable, __file__, "--torch-child", "--repeat", str(args.repeat),
                            "--threads", str(args.threads), "--batch", str(args.batch)],
                           capture_output=True, text=True, check=True)
    ttimes = json.loads(child.stdout.strip().splitlines()[-1])
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info())
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; {blas}; "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}")
    print(f"torch: {ttimes['version'] + f' ({args.threads} threads, own process)' if ttimes else 'not installed'}")
    print(f"numpy float32 matmul peak (2048^3): {matmul_peak(args.repeat):.1f} GFLOP/s")
    print(f"{'shape':26s} {'path':>8s} {'ours s':>8s} {'GFLOP/s':>8s} {'torch s':>8s} {'GFLOP/s':>8s} {'ours/torch':>10s}")
    N = args.batch
    for name, C, F, H, k, p, d in SHAPES:
        x, w, b = _inputs(C, F, H, k, N)
        flops = 3 * 2 * N * F * C * k * k * H * H

        # the pair a Conv2d layer runs for this shape (nn.Conv2d.algorithm_for)
        path = "winograd" if winograd.applies(x, w, (1, 1), (p, p), (d, d)) else "im2col"
        t_ours = _median_time(lambda: _forward_backward(x, w, b, p, d, path), args.repeat)
        row = f"{name:26s} {path:>8s} {t_ours:8.3f} {flops / t_ours / 1e9:8.1f}"
        if name in ttimes:
            t_torch = ttimes[name]
            row += f" {t_torch:8.3f} {flops / t_torch / 1e9:8.1f} {t_ours / t_torch:10.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
