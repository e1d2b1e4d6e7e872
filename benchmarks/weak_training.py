"""The five supervision settings of Papandreou et al. (ICCV 2015) on MSRC-21, scored on the test split.

    python benchmarks/weak_training.py --runs RUNS_DIR [--crf-from MODEL] [--limit N] [--figure PATH]

Each ``RUNS_DIR/msrc_<supervision>/model.npz`` is a model trained by

    minideeplab train --dataset msrc --supervision <supervision> ...   (same schedule for all)

(see benchmarks/RESULTS.md for the command). For every model found, prints the test global
accuracy and mean IoU of its unaries and after the fully connected CRF. All models use the
same CRF parameters: those cross-validated for the strongly supervised model (``--crf-from``,
default ``RUNS_DIR/msrc_strong/model.npz``), so the CRF is not tuned on pixel labels that the
weak settings are not supposed to have beyond what the strong model already used.
``--figure`` draws, for the first test images with at least three classes, the image, the
ground truth and each model's labels after the CRF.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from minideeplab.crf import dense_crf
from minideeplab._cli_compat import Renamed
from minideeplab.datasets import MSRC
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import load_model
from minideeplab.predict import predict_probs

SETTINGS = ["strong", "semi", "bbox-seg", "bbox-rect", "em-adapt"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--data", default=None, metavar="DIR",
                    help="MSRC folder (default: $MINIDEEPLAB_MSRC or ../shared/data/msrc)")
    ap.add_argument("--root", dest="data", metavar="DIR", action=Renamed, new="--data")
    ap.add_argument("--crf-from", default=None)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--figure", default=None, help="write a PNG of each model's labels after the CRF")
    ap.add_argument("--figure-rows", type=int, default=4)
    args = ap.parse_args()
    _, crf_meta = load_model(args.crf_from or os.path.join(args.runs, "msrc_strong", "model.npz"))
    params = crf_meta["dense_crf"]
    ds = MSRC(args.data, "test")
    n = min(len(ds), args.limit) if args.limit else len(ds)
    data = [ds[i] for i in range(n)]
    shown = [i for i, (_, lab) in enumerate(data) if len(set(np.unique(lab).tolist()) - {255}) >= 3]
    shown = shown[:args.figure_rows] if args.figure else []
    rows = [[data[i][0], data[i][1]] for i in shown]
    titles = ["image", "ground truth"]
    print(f"{n} test images; dense CRF {params}")
    print("| supervision | iterations | unary global | unary mIoU | CRF global | CRF mIoU |")
    print("|---|---|---|---|---|---|")
    for s in SETTINGS:
        path = os.path.join(args.runs, f"msrc_{s}", "model.npz")
        if not os.path.exists(path):
            print(f"| {s} | (no model) | | | | |")
            continue
        model, meta = load_model(path)
        t = time.perf_counter()
        cu, cc = np.zeros((21, 21), np.int64), np.zeros((21, 21), np.int64)
        titles.append(f"{s} + CRF")
        for i, (image, label) in enumerate(data):
            p = predict_probs(model, image)
            confusion_matrix(label, p.argmax(0), 21, out=cu)
            crf = dense_crf(image, p, **params).argmax(0)
            confusion_matrix(label, crf, 21, out=cc)
            if i in shown:
                rows[shown.index(i)].append(np.where(label == 255, 255, crf).astype(np.uint8))
        su, sc = summarize(cu), summarize(cc)
        print(f"| {s} | {meta.get('iterations', '?')} | {100 * su['global_acc']:.1f} | {100 * su['mean_iou']:.1f} | "
              f"{100 * sc['global_acc']:.1f} | {100 * sc['mean_iou']:.1f} |  ({time.perf_counter() - t:.0f} s)",
              flush=True)
    if rows:
        from minideeplab.datasets.msrc import CLASSES, palette21
        from minideeplab.viz import save_rows

        save_rows(args.figure, rows, titles, palette21(), class_names=CLASSES)
        print(f"wrote {args.figure} (void pixels of the ground truth drawn black in every column)")


if __name__ == "__main__":
    main()
