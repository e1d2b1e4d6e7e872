"""Seconds per training iteration and peak memory, DeepLab-LargeFOV, one 321x321 crop.

    python benchmarks/bench_train.py [--width 1.0] [--iters 3] [--batch 1]

One iteration = forward, loss, backward and the SGD update (what ``Trainer.step``
does, minus data loading). Peak memory is the process's maximum resident set size,
so run one width per process (the script does that when given several widths).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import minideeplab  # noqa: F401  (before NumPy, as the command line: OPENBLAS_THREAD_TIMEOUT=4)
import numpy as np


def one(width, iters, batch, crop):
    from minideeplab import nn
    from minideeplab.models import DeepLab
    from minideeplab.optim import SGD, deeplab_multipliers

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    m = DeepLab("DeepLab-LargeFOV", 21, width=width, seed=0)
    opt = SGD(m.params, 1e-3, 0.9, 5e-4, *deeplab_multipliers(m.params))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, crop, crop)).astype(np.float32) * 50
    out_size = (crop - 1) // 8 + 1
    labels = rng.integers(0, 21, size=(batch, out_size, out_size))
    times = []
    for _ in range(iters + 1):
        t = time.perf_counter()
        scores = m.forward(x)
        loss, cache = nn.softmax_cross_entropy_forward(scores, labels)
        m.backward(nn.softmax_cross_entropy_backward(cache))
        opt.step(m.grads)
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"width {width:<6g} params {m.num_params():>11,}  batch {batch} crop {crop}: "
          f"{np.median(times[1:]):7.2f} s/iter (median of {iters}, first {times[0]:.2f} s)  "
          f"peak RSS {peak / 1024:7.0f} MiB (before building the model: {base / 1024:.0f} MiB)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=float, nargs="+", default=[1.0, 0.25])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--crop", type=int, default=321)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        one(args.width[0], args.iters, args.batch, args.crop)
        return
    print(f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}", flush=True)
    for w in args.width:
        subprocess.run([sys.executable, __file__, "--child", "--width", str(w), "--iters", str(args.iters),
                        "--batch", str(args.batch), "--crop", str(args.crop)], check=True)


if __name__ == "__main__":
    main()
