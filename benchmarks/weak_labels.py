"""Quality of the training labels estimated from boxes, against the MSRC ground truth.

    python benchmarks/weak_labels.py [--split train] [--limit N] [--figure PATH]

Boxes: one per labelled segment (connected component of a class) of the ground truth.
MSRC has no background class, so the estimators run with ``background=None`` (pixels outside
every box are void in the estimate; a void estimate on a labelled pixel counts as a miss).
Prints the mean IoU over the 21 classes and the accuracy on labelled pixels, for Bbox-Rect and
Bbox-Seg (the paper's CRF parameters), and the seconds per image. ``--figure`` draws the first
images with at least three classes: image, ground truth, Bbox-Rect, Bbox-Seg.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from minideeplab._cli_compat import Renamed
from minideeplab.datasets import MSRC
from minideeplab.metrics import confusion_matrix
from minideeplab.weak import bbox_rect, bbox_seg, boxes_from_labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, metavar="DIR",
                    help="MSRC folder (default: $MINIDEEPLAB_MSRC or ../shared/data/msrc)")
    ap.add_argument("--root", dest="data", metavar="DIR", action=Renamed, new="--data")
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--figure", default=None, help="write a PNG of the estimates for the first --figure-rows images with 3+ classes")
    ap.add_argument("--figure-rows", type=int, default=4)
    args = ap.parse_args()
    ds = MSRC(args.data, args.split)
    n = min(len(ds), args.limit) if args.limit else len(ds)
    L = 21
    conf = {m: np.zeros((L + 1, L + 1), np.int64) for m in ("Bbox-Rect", "Bbox-Seg")}
    secs = {m: [] for m in conf}
    rows = []
    for i in range(n):
        image, gt = ds[i]
        boxes = boxes_from_labels(gt, L)
        ests = []
        for m in conf:
            t = time.perf_counter()
            est = bbox_rect(gt.shape, boxes, background=None) if m == "Bbox-Rect" else \
                bbox_seg(image, boxes, L, background=None)
            secs[m].append(time.perf_counter() - t)
            ests.append(est)
            est = np.where(est == 255, L, est)  # a void estimate: the extra class L
            confusion_matrix(gt, est, L + 1, out=conf[m])
        if len(rows) < args.figure_rows and len({b[0] for b in boxes}) >= 3:
            rows.append([image, gt] + ests)
    print(f"{n} MSRC '{args.split}' images, boxes from the ground truth's labelled segments")
    for m, c in conf.items():
        tp = np.diag(c)[:L].astype(float)
        iou = tp / (c[:L].sum(1) + c[:, :L].sum(0) - tp)
        acc = tp.sum() / c[:L].sum()
        print(f"  {m:9s}: mIoU {100 * np.nanmean(iou):5.1f}   accuracy on labelled pixels {100 * acc:5.1f}   "
              f"{np.median(secs[m]) * 1e3:6.1f} ms/image")
    if args.figure:
        from minideeplab.datasets.msrc import CLASSES, palette21
        from minideeplab.viz import save_rows

        save_rows(args.figure, rows, ["image", "ground truth", "Bbox-Rect", "Bbox-Seg"], palette21(),
                  class_names=CLASSES)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
