"""Where two unary sources' global accuracies differ: per class, after one method.

    python benchmarks/per_class_gap.py A/results.json B/results.json [--method "fully connected CRF"]

Global accuracy is the per-class accuracies weighted by each class's share of the labelled
pixels, so A - B is the sum over the classes of (acc_A - acc_B) x share. Reads two
``compare-crf`` results.json files of the same images (e.g. ``runs/compare_all/dcnn`` and
``runs/compare_all/textonboost``) and prints each class's share, both accuracies and its
contribution, and the totals over MSRC's six "stuff" classes and over the objects.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from minideeplab.datasets.msrc import CLASSES

STUFF = ("building", "grass", "tree", "sky", "water", "road")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--method", default="fully connected CRF", help="unary, grid CRF or fully connected CRF")
    args = ap.parse_args()
    rows = []
    for path in (args.a, args.b):
        with open(path) as fh:
            rows.append(next(r for r in json.load(fh)["rows"] if r["method"] == args.method))
    pix = np.array(rows[0]["per_class_pixels"], float)
    if not np.array_equal(pix, rows[1]["per_class_pixels"]):
        raise ValueError("the two results are not of the same images (their per-class pixel counts differ)")
    share = pix / pix.sum()
    acc_a, acc_b = (np.array(r["per_class_acc"], float) for r in rows)
    contrib = 100 * (acc_a - acc_b) * share
    print(f"{args.method}: A = {args.a}, B = {args.b}\n")
    print("| class | share of pixels | A | B | contribution to A - B |\n|---|---|---|---|---|")
    for c in np.argsort(contrib):
        print(f"| {CLASSES[c]} | {100 * share[c]:.1f}% | {100 * acc_a[c]:.1f} | {100 * acc_b[c]:.1f} | {contrib[c]:+.2f} |")
    stuff = np.isin(CLASSES, STUFF)
    print(f"\nglobal A - B: {contrib.sum():+.2f} points; stuff ({100 * share[stuff].sum():.0f}% of the pixels) "
          f"{contrib[stuff].sum():+.2f}, objects {contrib[~stuff].sum():+.2f}")


if __name__ == "__main__":
    main()
