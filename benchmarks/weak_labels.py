"""Quality of the training labels estimated from boxes, against the MSRC ground truth.

    python benchmarks/weak_labels.py [--protocol all-classes|voc-style] [--split train] [--limit N] [--figure PATH]
        [--per-class] [--crf '{"w_bilateral": 45, "theta_alpha": 37, "theta_beta": 3, "w_gaussian": 15, "theta_gamma": 3}']

Boxes: one per labelled segment (connected component of a class) of the ground truth.
In the 21-class protocol MSRC has no background class, so the estimators run with
``background=None`` (pixels outside every box are void in the estimate; a void estimate on a
labelled pixel counts as a miss). In the VOC-style protocol (``minideeplab.datasets.voc_style``:
stuff merged into background 0) boxes surround the object segments only and the estimators
run as published, with background 0 outside the boxes; the mIoU is over the 16 classes.
Prints the mean IoU over the 21 classes and the accuracy on labelled pixels, for Bbox-Rect and
Bbox-Seg (the paper's CRF parameters, or ``--crf``'s: a JSON object of ``dense_crf`` keyword
arguments), and the seconds per image. ``--figure`` draws the first
images with at least three classes: image, ground truth, Bbox-Rect, Bbox-Seg.
"""
from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--protocol", default="all-classes", choices=["all-classes", "voc-style"])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--figure", default=None, help="write a PNG of the estimates for the first --figure-rows images with 3+ classes")
    ap.add_argument("--figure-rows", type=int, default=4)
    ap.add_argument("--per-class", action="store_true", help="also print each class's IoU, Bbox-Rect beside Bbox-Seg")
    ap.add_argument("--crf", default=None, help="Bbox-Seg's dense CRF parameters as a JSON object (default: the paper's)")
    args = ap.parse_args()
    crf = None
    if args.crf is not None:
        crf = json.loads(args.crf)
        if not isinstance(crf, dict):
            ap.error(f"--crf must be a JSON object of dense_crf keyword arguments, got {args.crf!r}")
    ds = MSRC(args.data, args.split)
    L, background = 21, None
    if args.protocol == "voc-style":
        from minideeplab.datasets.voc_style import VOCStyle

        ds, L, background = VOCStyle(ds), 16, 0
    n = min(len(ds), args.limit) if args.limit else len(ds)
    conf = {m: np.zeros((L + 1, L + 1), np.int64) for m in ("Bbox-Rect", "Bbox-Seg")}
    secs = {m: [] for m in conf}
    rows = []
    for i in range(n):
        image, gt = ds[i]
        boxes = [b for b in boxes_from_labels(gt, L) if b[0] != background]
        ests = []
        for m in conf:
            t = time.perf_counter()
            est = bbox_rect(gt.shape, boxes, background=background) if m == "Bbox-Rect" else \
                bbox_seg(image, boxes, L, background=background, crf_params=crf)
            secs[m].append(time.perf_counter() - t)
            ests.append(est)
            est = np.where(est == 255, L, est)  # a void estimate: the extra class L
            confusion_matrix(gt, est, L + 1, out=conf[m])
        if len(rows) < args.figure_rows and len({b[0] for b in boxes}) >= 3:
            rows.append([image, gt] + ests)
    print(f"{n} MSRC '{args.split}' images ({args.protocol}), boxes from the ground truth's labelled segments"
          + (f"; Bbox-Seg CRF {crf}" if crf else ""))
    ious = {}
    for m, c in conf.items():
        tp = np.diag(c)[:L].astype(float)
        with np.errstate(invalid="ignore"):  # classes absent from the images: NaN, left out of the mean
            ious[m] = iou = tp / (c[:L].sum(1) + c[:, :L].sum(0) - tp)
        acc = tp.sum() / c[:L].sum()
        print(f"  {m:9s}: mIoU {100 * np.nanmean(iou):5.1f}   accuracy on labelled pixels {100 * acc:5.1f}   "
              f"{np.median(secs[m]) * 1e3:6.1f} ms/image")
    if args.per_class:
        from minideeplab.datasets.msrc import CLASSES
        from minideeplab.datasets.voc_style import VOC_STYLE_CLASSES

        names = VOC_STYLE_CLASSES if args.protocol == "voc-style" else CLASSES
        print(f"  {'class':12s} {'Bbox-Rect':>9s} {'Bbox-Seg':>9s} {'Seg-Rect':>9s}")
        for c, name in enumerate(names):
            r, g = 100 * ious["Bbox-Rect"][c], 100 * ious["Bbox-Seg"][c]
            print(f"  {name:12s} {r:9.1f} {g:9.1f} {g - r:+9.1f}")
    if args.figure and rows:
        from minideeplab.datasets.msrc import CLASSES, palette21
        from minideeplab.datasets.voc_style import VOC_STYLE_CLASSES, voc_style_palette
        from minideeplab.viz import save_rows

        voc = args.protocol == "voc-style"
        save_rows(args.figure, rows, ["image", "ground truth", "Bbox-Rect", "Bbox-Seg"],
                  voc_style_palette() if voc else palette21(), class_names=VOC_STYLE_CLASSES if voc else CLASSES)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
