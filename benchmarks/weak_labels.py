"""Quality of the training labels estimated from boxes, against the MSRC ground truth.

    python benchmarks/weak_labels.py [--split train] [--limit N]

Boxes: one per labelled segment (connected component of a class) of the ground truth.
MSRC has no background class, so the estimators run with ``background=None`` (pixels outside
every box are void in the estimate; a void estimate on a labelled pixel counts as a miss).
Prints the mean IoU over the 21 classes and the accuracy on labelled pixels, for Bbox-Rect and
Bbox-Seg (the paper's CRF parameters), and the seconds per image.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from minideeplab.datasets import MSRC
from minideeplab.metrics import confusion_matrix
from minideeplab.weak import bbox_rect, bbox_seg, boxes_from_labels

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.environ.get("MINIDEEPLAB_MSRC", os.path.join(HERE, "..", "..", "shared",
                                                                                       "data", "msrc")))
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    ds = MSRC(args.root, args.split)
    n = min(len(ds), args.limit) if args.limit else len(ds)
    L = 21
    conf = {m: np.zeros((L + 1, L + 1), np.int64) for m in ("Bbox-Rect", "Bbox-Seg")}
    secs = {m: [] for m in conf}
    for i in range(n):
        image, gt = ds[i]
        boxes = boxes_from_labels(gt, L)
        for m in conf:
            t = time.perf_counter()
            est = bbox_rect(gt.shape, boxes, background=None) if m == "Bbox-Rect" else \
                bbox_seg(image, boxes, L, background=None)
            secs[m].append(time.perf_counter() - t)
            est = np.where(est == 255, L, est)  # a void estimate: the extra class L
            confusion_matrix(gt, est, L + 1, out=conf[m])
    print(f"{n} MSRC '{args.split}' images, boxes from the ground truth's labelled segments")
    for m, c in conf.items():
        tp = np.diag(c)[:L].astype(float)
        iou = tp / (c[:L].sum(1) + c[:, :L].sum(0) - tp)
        acc = tp.sum() / c[:L].sum()
        print(f"  {m:9s}: mIoU {100 * np.nanmean(iou):5.1f}   accuracy on labelled pixels {100 * acc:5.1f}   "
              f"{np.median(secs[m]) * 1e3:6.1f} ms/image")


if __name__ == "__main__":
    main()
