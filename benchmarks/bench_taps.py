"""The taps pair against im2col on DeepLab's dilated layers, one layer at a time.

    python benchmarks/bench_taps.py [--repeat 3] [--rounds 3]

One row per layer geometry (RESULTS.md's "fc6 one tap at a time"): batch, the share of the
(tap, output pixel) reads that land inside the map (``taps.inside_share``), then forward +
backward milliseconds of ``conv2d_im2col_*`` and ``conv2d_taps_*`` in float32 and their ratio.
Each figure is the best of ``--rounds`` medians of ``--repeat`` calls, the two pairs taking
turns to go first round by round, so that the machine's drift hits both alike. ``Conv2d`` on "auto"
runs the taps pair where the share is at most ``taps.MAX_INSIDE`` (printed in the header).
"""
from __future__ import annotations

import argparse
import os
import sys

import minideeplab  # noqa: F401  (before NumPy, as the command line imports it)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_conv import _forward_backward, _inputs, _median_time  # noqa: E402

from minideeplab.nn import conv_output_size, taps  # noqa: E402

LAYERS = [  # name, batch, C, F, map side (H, W), dilation (= padding), kernel 3
    ("fc6 w1/8 (17 x 17)", 8, 64, 128, (17, 17), 12),
    ("fc6 w1/4 (17 x 17)", 8, 128, 256, (17, 17), 12),
    ("fc6 w1/4, crop 65 (9 x 9)", 8, 128, 256, (9, 9), 12),
    ("fc6 w1/4, crop 161 (21 x 21)", 8, 128, 256, (21, 21), 12),
    ("fc6 w1/4, crop 241 (31 x 31)", 8, 128, 256, (31, 31), 12),
    ("fc6 w1, crop 321 (41 x 41)", 1, 512, 1024, (41, 41), 12),
    ("fc6 w1, an MSRC image (41 x 27)", 1, 512, 1024, (41, 27), 12),
    ("conv5 w1/4 (d2, 17 x 17)", 8, 128, 128, (17, 17), 2),
    ("conv5 w1 (d2, 41 x 41)", 1, 512, 512, (41, 41), 2),
]


def layer_times(N, C, F, hw, d, repeat, rounds):
    """Best-of-rounds forward + backward seconds of (im2col, taps) on one geometry."""
    H, W = hw
    x, w, b = _inputs(C, F, max(H, W), 3, N)
    x = np.ascontiguousarray(x[:, :, :H, :W])
    Ho, Wo = conv_output_size(H, 3, 1, d, d), conv_output_size(W, 3, 1, d, d)
    dout = np.ones((N, F, Ho, Wo), np.float32)
    best = {"im2col": np.inf, "taps": np.inf}
    for r in range(rounds):
        for algorithm in (("im2col", "taps") if r % 2 == 0 else ("taps", "im2col")):
            t = _median_time(lambda: _forward_backward(x, w, b, d, d, algorithm, dout), repeat)
            best[algorithm] = min(best[algorithm], t)
    return best["im2col"], best["taps"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.rounds < 1:
        ap.error("--repeat and --rounds must be >= 1")
    print(f"float32, forward + backward, best of {args.rounds} rounds x median of {args.repeat}; "
          f"taps.MAX_INSIDE = {taps.MAX_INSIDE}")
    print(f"{'layer':34s} {'batch':>5s} {'inside':>6s} {'im2col ms':>10s} {'taps ms':>8s} {'taps/im2col':>11s}")
    for name, N, C, F, hw, d in LAYERS:
        share = taps.inside_share(hw[0], hw[1], (3, 3), (d, d), (d, d))
        t_col, t_taps = layer_times(N, C, F, hw, d, args.repeat, args.rounds)
        print(f"{name:34s} {N:5d} {share:6.2f} {1e3 * t_col:10.2f} {1e3 * t_taps:8.2f} {t_taps / t_col:11.2f}",
              flush=True)


if __name__ == "__main__":
    main()
