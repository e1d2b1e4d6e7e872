"""What subnormal weights cost: a trained model's file as stored against the same weights with
its subnormal values at zero (what ``load_state_dict`` and the optimizers now do).

    python benchmarks/bench_subnormal.py [--model FILE] [--images 8] [--rounds 2] [--iters 4]

Prints, for the model file (default: the shipped MSRC model), how many of each layer's
weights are subnormal (below 1.2e-38 in magnitude), then, with the weights as stored and
flushed, taking turns ``--rounds`` times in this process:

- inference: ``predict_scores`` (the model's test-time setting: its scales and mirror) on the
  first ``--images`` MSRC test images (the embedded samples without ``--data``), seconds per
  image, and whether the two score maps are the same bits;
- training: one iteration of the MSRC recipe's shape (batch 8, 129-px crops: forward, softmax
  cross-entropy, backward, an SGD step at lr 0 so that the weights stay as they are; the
  optimizer's own flush is switched off for the stored arm), median seconds of ``--iters``
  after one warm-up.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="a model file (default: the shipped MSRC model)")
    ap.add_argument("--data", default="../shared/data/msrc", help="MSRC (the embedded samples if absent)")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=4)
    args = ap.parse_args(argv)

    import numpy as np

    from minideeplab import nn, optim
    from minideeplab._io import read_npz
    from minideeplab.datasets import MSRC, MSRCSamples
    from minideeplab.models import MSRC_MODEL, load_model
    from minideeplab.predict import predict_scores

    path = args.model or MSRC_MODEL
    model, _ = load_model(path)
    stored, _ = read_npz(path)
    tiny = np.finfo(np.float32).tiny
    print(f"# {datetime.date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}; {path}")
    total = 0
    for k, a in stored.items():
        n = int(((a != 0) & (np.abs(a) < tiny)).sum())
        total += n
        if n:
            print(f"{k:16s} {n:9,d} of {a.size:9,d} subnormal ({100 * n / a.size:.0f}%)")
    print(f"all parameters: {total:,d} of {sum(a.size for a in stored.values()):,d} subnormal")

    ds = MSRC(args.data, "test") if os.path.isdir(args.data) else MSRCSamples()
    images = [ds[i][0] for i in range(min(args.images, len(ds)))]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 129, 129)).astype(np.float32) * 50
    labels = rng.integers(0, model.num_classes, size=(8, 17, 17))

    def set_weights(which):
        for k, a in model.params.items():
            a[...] = stored[k]
            if which == "flushed":
                a[np.abs(a) < tiny] = 0

    def infer():
        model.eval()
        t = time.perf_counter()
        scores = [predict_scores(model, im) for im in images]
        return (time.perf_counter() - t) / len(images), scores

    def train_iters():
        model.train()
        opt = optim.SGD(model.params, 0.0, 0.9, 0.0)
        times = []
        for _ in range(args.iters + 1):
            t = time.perf_counter()
            loss, cache = nn.softmax_cross_entropy_forward(model.forward(x), labels)
            model.backward(nn.softmax_cross_entropy_backward(cache), input_grad=False)
            opt.step(model.grads)
            times.append(time.perf_counter() - t)
        model.eval()
        return float(np.median(times[1:]))

    flush = optim.flush_subnormals
    print("round  weights   inference s/image  training s/iter  same scores")
    for r in range(args.rounds):
        scores = {}
        for which in ("stored", "flushed"):
            optim.flush_subnormals = flush if which == "flushed" else (lambda a: a)
            try:
                set_weights(which)
                s_image, scores[which] = infer()
                s_iter = train_iters()
            finally:
                optim.flush_subnormals = flush
            same = "" if which == "stored" else \
                str(all(np.array_equal(a, b) for a, b in zip(scores["stored"], scores["flushed"])))
            print(f"{r + 1:5d}  {which:8s}  {s_image:17.3f}  {s_iter:15.3f}  {same}")


if __name__ == "__main__":
    main()
