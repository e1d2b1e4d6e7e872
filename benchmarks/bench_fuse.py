"""The convolution + ReLU fusion (``nn.layers.FUSE_RELU``) on and off, taking turns in one process.

    python benchmarks/bench_fuse.py [--width 0.125] [--rounds 25]

DeepLab-LargeFOV at ``--width``, batch 8, crop 129 (the configurations of
``bench_train.py``'s w0.125 and w0.25): each round runs one training iteration (forward, loss,
backward, SGD step) and one forward pass under ``no_grad`` with the fusion off and on, in an
order that alternates from round to round, so that both see the same spells of a shared
machine's load. Prints the medians (the first round left out) and their ratio. The two settings
give the same scores bit for bit (``tests/test_nn_kernels.py``); the gradients agree to float
rounding (the bias gradient is summed by the layer instead of the op).
"""
from __future__ import annotations

import argparse
import time

import minideeplab  # noqa: F401  (before NumPy, as the command line imports it)
import numpy as np

from minideeplab import nn
from minideeplab.models import DeepLab
from minideeplab.nn import layers
from minideeplab.optim import SGD, deeplab_multipliers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--rounds", type=int, default=25)
    args = ap.parse_args(argv)
    m = DeepLab("DeepLab-LargeFOV", 21, width=args.width, seed=0)
    opt = SGD(m.params, 1e-3, 0.9, 5e-4, *deeplab_multipliers(m.params))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 129, 129)).astype(np.float32) * 50
    labels = rng.integers(0, 21, size=(8, 17, 17))

    def train():
        scores = m.forward(x)
        _, cache = nn.softmax_cross_entropy_forward(scores, labels)
        m.backward(nn.softmax_cross_entropy_backward(cache), input_grad=False)
        opt.step(m.grads)

    def forward():
        with nn.no_grad():
            m.forward(x)

    times = {(what, fuse): [] for what in ("training iteration", "forward pass") for fuse in (False, True)}
    for r in range(args.rounds):
        for fuse in ((False, True) if r % 2 == 0 else (True, False)):
            layers.FUSE_RELU = fuse
            for what, fn in (("training iteration", train), ("forward pass", forward)):
                t = time.perf_counter()
                fn()
                times[what, fuse].append(time.perf_counter() - t)
    layers.FUSE_RELU = True
    print(f"DeepLab-LargeFOV width {args.width}, batch 8, crop 129; medians of {args.rounds - 1} rounds")
    for what in ("training iteration", "forward pass"):
        off, on = (1e3 * float(np.median(times[what, f][1:])) for f in (False, True))
        print(f"{what:18s}  unfused {off:7.1f} ms  fused {on:7.1f} ms  fused / unfused {on / off:.3f}")


if __name__ == "__main__":
    main()
