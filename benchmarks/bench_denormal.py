"""What subnormal arithmetic costs a trained model, and what flush-to-zero mode saves.

    python benchmarks/bench_denormal.py [--model FILE] [--rounds 2] [--iters 3] [--layers] [--cli]

Prints how many of the model's weights are tiny but normal (below 1e-30 in magnitude), then,
with the CPU's FTZ/DAZ mode (:mod:`minideeplab.denormal`) off and on, taking turns ``--rounds``
times in this process:

- ``gemm``: a 1024 x 1024 float32 matrix product of entries 1e-20, whose products (1e-40) are
  subnormal, milliseconds (best of 3);
- ``train``: one training iteration of the model (default: the shipped MSRC model; its
  subnormal weights are flushed on loading, as always) on 8 real 129-px MSRC training crops
  (the embedded samples without ``--data``): forward, softmax cross-entropy, backward, median
  seconds of ``--iters`` after one warm-up;
- ``infer``: ``predict_scores`` (the model's test-time setting) on the first 4 test images,
  seconds per image, and whether the two modes' score maps are the same bits.

``--layers`` adds the backward pass layer by layer (ms, medians), off against on. ``--cli``
adds whole ``minideeplab train`` runs fine-tuning the model (the MSRC recipe's second-schedule
setting, data loading included) with ``MINIDEEPLAB_FLUSH_DENORMAL=0`` and without: seconds per
iteration as (time of ``--max-iter 40`` - time of ``--max-iter 10``) / 30, and images per
second.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="a model file (default: the shipped MSRC model)")
    ap.add_argument("--data", default="../shared/data/msrc", help="MSRC (the embedded samples if absent)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--layers", action="store_true", help="the backward pass layer by layer")
    ap.add_argument("--cli", action="store_true", help="whole `minideeplab train` runs, off and on")
    args = ap.parse_args(argv)
    if args.cli and not os.path.isdir(args.data):
        ap.error(f"--cli trains on MSRC: --data {args.data} is not a folder")

    import minideeplab  # noqa: F401  (before NumPy, as the command line)
    import numpy as np

    from minideeplab import _numba, denormal
    from minideeplab.datasets import MSRC, MSRCSamples
    from minideeplab.models import MSRC_MODEL, load_model
    from minideeplab.nn import functional as F
    from minideeplab.predict import predict_scores
    from minideeplab.train import TrainConfig, Trainer

    path = args.model or MSRC_MODEL
    model, _ = load_model(path)
    print(f"# {datetime.date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{_numba.get_num_threads()} threads, numpy {np.__version__}; {path}")
    tiny = {k: int(((v != 0) & (np.abs(v) < 1e-30)).sum()) for k, v in model.params.items()}
    worst = max(tiny, key=lambda k: tiny[k] / model.params[k].size)
    print(f"# weights in (0, 1e-30) in magnitude (normal, as loading flushes subnormals): {sum(tiny.values()):,d} "
          f"of {model.num_params():,d}; most in {worst}, {100 * tiny[worst] / model.params[worst].size:.0f}%")
    real = os.path.isdir(args.data)
    train_set = MSRC(args.data, "train") if real else MSRCSamples()
    test_set = MSRC(args.data, "test") if real else MSRCSamples()
    images = [test_set[i][0] for i in range(min(4, len(test_set)))]
    trainer = Trainer(model, train_set, TrainConfig(batch_size=8, crop_size=129, scales=(0.45, 0.95),
                                                     color_jitter=0.2, seed=1))
    x, labels, _ = trainer._sample()  # one batch as the trainer draws them
    a = np.full((1024, 1024), 1e-20, np.float32)

    def gemm():
        times = []
        for _ in range(3):
            t = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - t)
        return 1000 * min(times)

    def iteration(rows=None):
        t = time.perf_counter()
        h = x
        for layer in model.layers:
            h = layer.forward(h)
        loss, cache = F.softmax_cross_entropy_forward(h, F.shrink_labels(labels, h.shape[2:]).astype(np.int64))
        d = F.softmax_cross_entropy_backward(cache)
        for layer in reversed(model.layers):
            t0 = time.perf_counter()
            d = layer.backward(d, input_grad=False) if layer is model.layers[0] else layer.backward(d)
            if rows is not None:
                rows.setdefault(layer.name, []).append(time.perf_counter() - t0)
        return time.perf_counter() - t

    def train(rows=None):
        model.train()
        times = [iteration(rows) for _ in range(args.iters + 1)]
        return float(np.median(times[1:]))

    def infer():
        model.eval()
        t = time.perf_counter()
        scores = [predict_scores(model, im) for im in images]
        return (time.perf_counter() - t) / len(images), scores

    rows = {False: {}, True: {}}
    print("round  mode   gemm ms  train s/iter  infer s/image  same scores")
    try:
        for r in range(args.rounds):
            scores = {}
            for mode in (False, True):
                if not denormal.set_flush_denormal(mode):
                    sys.exit("this machine has no flush-to-zero mode (x86-64 Linux only)")
                g, s_iter = gemm(), train(rows[mode] if args.layers else None)
                s_image, scores[mode] = infer()
                same = str(all(np.array_equal(p, q) for p, q in zip(scores[False], scores[True]))) if mode else ""
                print(f"{r + 1:5d}  {'on' if mode else 'off':5s}  {g:7.1f}  {s_iter:12.3f}  {s_image:13.3f}  {same}")
    finally:
        denormal.set_flush_denormal(False)

    if args.layers:
        print("\nbackward, ms (median)   off      on")
        for name in rows[False]:
            off, on = (1000 * float(np.median(rows[m][name])) for m in (False, True))
            if off >= 1.0:
                print(f"{name:20s} {off:8.1f} {on:7.1f}")
        print(f"{'sum':20s} {sum(1000 * float(np.median(v)) for v in rows[False].values()):8.1f} "
              f"{sum(1000 * float(np.median(v)) for v in rows[True].values()):7.1f}")

    if args.cli:
        cli_runs(path, args)


def cli_runs(model_path, args):
    """Whole `minideeplab train` runs: seconds per iteration from runs of 40 and 10 iterations."""
    base = [sys.executable, "-m", "minideeplab", "train", "--data", args.data, "--split", "train",
            "--arch", "DeepLab-LargeFOV", "--width", "0.25", "--init-from", model_path,
            "--optimizer", "adam", "--lr", "1e-4", "--weight-decay", "5e-4", "--batch-size", "8",
            "--crop", "129", "--scales", "0.45", "0.95", "--input-scale", "0.7", "--color-jitter", "0.2",
            "--class-weights", "median-frequency", "--val-every", "0", "--snapshot-every", "100000",
            "--seed", "0", "--quiet"]
    print("\nwhole `minideeplab train` runs (--init-from the model, batch 8, crop 129)")
    print("round  mode  s/iter  images/s")
    for r in range(args.rounds):
        for mode in ("0", "1"):
            took = {}
            for n in (10, 40):
                with tempfile.TemporaryDirectory() as out:
                    env = dict(os.environ, MINIDEEPLAB_FLUSH_DENORMAL=mode)
                    t = time.perf_counter()
                    subprocess.run(base + ["--max-iter", str(n), "--out", out], env=env, check=True,
                                   stdout=subprocess.DEVNULL)
                    took[n] = time.perf_counter() - t
            s_iter = (took[40] - took[10]) / 30
            print(f"{r + 1:5d}  {'on' if mode == '1' else 'off':4s}  {s_iter:6.3f}  {8 / s_iter:8.1f}")


if __name__ == "__main__":
    main()
