"""How much can the fully connected CRF add to the shipped model's unaries, at best?

    python benchmarks/crf_headroom.py [--data DIR] [--split test] [--input-scales 0.5] [--limit N]

An analysis, not a result: the dense CRF parameters are chosen *on the scored split itself*,
so each "best" line is a ceiling that no validation procedure can beat on that split.

Two sets of unaries are scored, each with and without the CRF, over one parameter grid
(w_bilateral x theta_alpha x theta_beta; w_gaussian = theta_gamma = 3 as everywhere):

- ``net``: the shipped model's probabilities at ``--input-scales``;
- ``net + image labels``: the same probabilities with the classes absent from the image's
  ground truth zeroed and the rest renormalised. This removes the errors that are "a class
  that is not in the picture" and keeps the net's boundaries and its confusions between the
  classes that are present: the unaries of a net that recognises *what* is in the image
  perfectly, and still has to find *where*.

Prints global / class-average accuracy / mean IoU and the CRF's gain for every setting, the
setting with the largest class-average gain for each set of unaries, and its per-class changes
(classes with ground-truth pixels in the split).
"""
from __future__ import annotations

import argparse
import itertools
import sys

import minideeplab  # noqa: F401  (first: sets OpenBLAS's thread timeout before NumPy loads it)
import numpy as np
from tqdm.auto import tqdm

from minideeplab._cli_compat import Renamed
from minideeplab.crf import dense_crf
from minideeplab.datasets import MSRC
from minideeplab.datasets.msrc import CLASSES
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import load_msrc_model
from minideeplab.predict import predict_probs
from minideeplab.weak import image_tags

GRID = {"w_bilateral": [4.0, 8.0], "theta_alpha": [20.0, 60.0, 160.0], "theta_beta": [3.0, 8.0]}
FIXED = {"w_gaussian": 3.0, "theta_gamma": 3.0}
L = 21


def keep_present(prob, label):
    """``prob`` (L, H, W) with the classes absent from ``label`` zeroed, renormalised.

    A pixel where the net gives every present class zero probability (underflow) is split
    evenly between them."""
    present = np.zeros(L, bool)
    present[image_tags(label, L)] = True
    q = prob * present[:, None, None] + 1e-6 * present[:, None, None]
    return (q / q.sum(0, keepdims=True)).astype(np.float32)


def score(pairs):
    conf = np.zeros((L, L), np.int64)
    for label, pred in pairs:
        confusion_matrix(label, pred, L, out=conf)
    return summarize(conf)


def fmt(s):
    return [100 * s[k] for k in ("global_acc", "class_avg_acc", "mean_iou")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, metavar="DIR",
                    help="MSRC folder (default: $MINIDEEPLAB_MSRC or ../shared/data/msrc)")
    ap.add_argument("--root", dest="data", metavar="DIR", action=Renamed, new="--data")
    ap.add_argument("--split", default="test")
    ap.add_argument("--input-scales", default="0.5", help="comma-separated, e.g. 0.5,0.7,0.9")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    scales = tuple(float(s) for s in args.input_scales.split(","))
    model, _ = load_msrc_model()
    ds = MSRC(args.data, args.split)
    n = min(len(ds), args.limit) if args.limit else len(ds)
    images, labels, probs = [], [], []
    for i in tqdm(range(n), desc="unaries"):
        image, label = ds[i]
        images.append(image)
        labels.append(label)
        probs.append(predict_probs(model, image, scales if len(scales) > 1 else scales[0]))
    unaries = {"net": probs, "net + image labels": [keep_present(p, y) for p, y in zip(probs, labels)]}
    names = list(GRID)
    combos = [dict(FIXED, **dict(zip(names, v))) for v in itertools.product(*GRID.values())]
    print(f"{n} MSRC '{args.split}' images, input scales {scales}; CRF parameters chosen on this split "
          "(a ceiling, not a result)")
    for kind, ps in unaries.items():
        base = score(zip(labels, (p.argmax(0) for p in ps)))
        b = fmt(base)
        print(f"\n{kind}: unary  global {b[0]:.2f}  class-avg {b[1]:.2f}  mIoU {b[2]:.2f}")
        print(f"{'w1':>5} {'t_alpha':>7} {'t_beta':>6} | {'global':>6} {'cl-avg':>6} {'mIoU':>6} | gain: "
              f"{'global':>6} {'cl-avg':>6} {'mIoU':>6}")
        best = None
        for params in tqdm(combos, desc=f"dense CRF grid ({kind})", leave=False, file=sys.stderr):
            s = score((y, dense_crf(im, p, **params).argmax(0)) for im, p, y in zip(images, ps, labels))
            r = fmt(s)
            tqdm.write(f"{params['w_bilateral']:5g} {params['theta_alpha']:7g} {params['theta_beta']:6g} | "
                  f"{r[0]:6.2f} {r[1]:6.2f} {r[2]:6.2f} | {r[0] - b[0]:+12.2f} {r[1] - b[1]:+6.2f} "
                  f"{r[2] - b[2]:+6.2f}")
            if best is None or r[1] > fmt(best[1])[1]:
                best = (params, s)
        params, s = best
        print(f"largest class-average gain ({kind}): {fmt(s)[1] - b[1]:+.2f} at w1 {params['w_bilateral']:g}, "
              f"theta_alpha {params['theta_alpha']:g}, theta_beta {params['theta_beta']:g}; per class "
              "(unary -> change):")
        print("  " + ", ".join(f"{c} {100 * u:.1f} {100 * (a - u):+.1f}" for c, u, a in
                               zip(CLASSES, base["per_class_acc"], s["per_class_acc"]) if not np.isnan(u)))


if __name__ == "__main__":
    main()
