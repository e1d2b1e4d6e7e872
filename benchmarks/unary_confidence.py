"""How right and how sure a model's unaries are on its own training images and on new ones.

    python benchmarks/unary_confidence.py [--model FILE] [--data DIR] [--every 5]
    python benchmarks/unary_confidence.py --folds-cache runs/learn18/probs_folds.npz

Prints, for every ``--every``-th image of the training split and for all validation images,
global / class-average accuracy, mIoU and the mean top probability over non-void pixels. A
CRF learned from training-image unaries learns how much to trust *those*; this shows how far
they are from the unaries it will meet. ``--folds-cache`` adds a row for the cached probabilities
of the k-fold nets on the training images each left out (``learn_crf_heldout.py``'s
``probs_folds.npz``, keys ``"i"``): the held-out unaries a CRF can learn from.
"""
from __future__ import annotations

import argparse

import numpy as np

from minideeplab.datasets import MSRC
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import load_model, load_msrc_model
from minideeplab.predict import predict_probs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a model file (default: the shipped one)")
    ap.add_argument("--data", default="../shared/data/msrc")
    ap.add_argument("--every", type=int, default=5, help="every N-th training image")
    ap.add_argument("--folds-cache", default=None, help="probs_folds.npz of benchmarks/learn_crf_heldout.py")
    args = ap.parse_args()
    model, _ = load_model(args.model) if args.model else load_msrc_model()
    L = model.num_classes
    print("| split | images | global | class-average | mIoU | mean top probability |")
    print("|---|---|---|---|---|---|")
    cached = np.load(args.folds_cache) if args.folds_cache else None
    rows = [("train", "train", args.every, None), ("val", "val", 1, None)]
    if cached is not None:
        rows.append(("train, fold nets (held out)", "train", args.every, cached))
    for name, split, step, source in rows:
        ds = MSRC(args.data, split)
        conf = np.zeros((L, L), np.int64)
        top = []
        for i in range(0, len(ds), step):
            image, label = ds[i]
            p = predict_probs(model, image) if source is None else source[str(i)].astype(np.float32)
            confusion_matrix(label, p.argmax(0), L, out=conf)
            top.append(p.max(0)[label != 255].mean())
        s = summarize(conf)
        print(f"| {name} | {len(top)} | {100 * s['global_acc']:.1f} | {100 * s['class_avg_acc']:.1f} | "
              f"{100 * s['mean_iou']:.1f} | {np.mean(top):.3f} |")


if __name__ == "__main__":
    main()
