"""The Potts CRF's effect on pixel accuracy and on the losses that learn-crf minimises.

    python benchmarks/crf_loss_vs_accuracy.py [--cache runs/learn18/probs.npz] [--every 3]

Reads the cached probabilities of ``benchmarks/learn_crf_heldout.py`` (the shipped model's on
val, ``probs.npz``; the fold nets' on the training images, ``probs_folds.npz`` beside it) and
prints, for every ``--every``-th training image and for val, the mean cross-entropy
-log Q(y), the expected error 1 - Q(y) and the pixel accuracy of the unaries and of the shipped
model's cross-validated Potts CRF (5 mean-field iterations), over the non-void pixels.
"""
import argparse
import os

import numpy as np

from minideeplab.crf import dense_crf
from minideeplab.crf.learn import crf_cross_entropy, crf_expected_error
from minideeplab.datasets import MSRC
from minideeplab.models import MSRC_MODEL, load_model


def measure(ds, probs, positions, potts):
    """Cross-entropy, expected error and accuracy of the unaries and of the Potts CRF over ``positions``."""
    ce_u = ce_q = ee_u = ee_q = 0.0
    right_u = right_q = n = 0
    for i in positions:
        image, label = ds[i]
        P, valid = probs(i).astype(np.float32), label != 255
        Q = dense_crf(image, P, n_iter=5, **potts)
        ce_u += crf_cross_entropy(P.astype(np.float64), label)[0] * valid.sum()
        ce_q += crf_cross_entropy(Q.astype(np.float64), label)[0] * valid.sum()
        ee_u += crf_expected_error(P.astype(np.float64), label)[0] * valid.sum()
        ee_q += crf_expected_error(Q.astype(np.float64), label)[0] * valid.sum()
        right_u += (P.argmax(0) == label)[valid].sum()
        right_q += (Q.argmax(0) == label)[valid].sum()
        n += valid.sum()
    return ce_u / n, ce_q / n, ee_u / n, ee_q / n, 100 * right_u / n, 100 * right_q / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default="runs/learn18/probs.npz")
    ap.add_argument("--data", default="../shared/data/msrc")
    ap.add_argument("--every", type=int, default=3)
    args = ap.parse_args()
    potts = dict(load_model(MSRC_MODEL)[1]["dense_crf"])
    shipped = np.load(args.cache)
    folds = np.load(os.path.join(os.path.dirname(args.cache), "probs_folds.npz"))
    train, val = MSRC(args.data, "train"), MSRC(args.data, "val")
    for name, ds, probs, positions in (
            ("training images, fold nets", train, lambda i: folds[str(i)], range(0, len(train), args.every)),
            ("val, shipped net", val, lambda i: shipped[f"val/{i}"], range(len(val)))):
        ce_u, ce_q, ee_u, ee_q, acc_u, acc_q = measure(ds, probs, positions, potts)
        print(f"{name} ({len(positions)} images): cross-entropy unary {ce_u:.3f}, Potts CRF {ce_q:.3f}; "
              f"expected error unary {ee_u:.3f}, Potts CRF {ee_q:.3f}; "
              f"pixel accuracy unary {acc_u:.1f}, Potts CRF {acc_q:.1f}")


if __name__ == "__main__":
    main()
