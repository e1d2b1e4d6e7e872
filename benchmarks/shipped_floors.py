"""The shipped unaries' accuracy on the MSRC-21 test split and on the parts that the floor tests score.

    python benchmarks/shipped_floors.py [--data ../shared/data/msrc] [--skip-textonboost]

``tests/test_shipped_model.py`` checks the shipped DCNN on every other test image and the shipped
TextonBoost classifier on every fourth, to keep CI short; their floors keep the whole split's
margins below the figures this script prints. It scores every test image once with each model
(the DCNN at its own test-time setting, as ``evaluate`` does; about 2.5 and 5 minutes on two
cores) and prints global / class-average / mIoU for all 256 images, the even positions and every
fourth position.
"""
import argparse
import time

import numpy as np

from minideeplab.datasets import MSRC
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import load_msrc_model
from minideeplab.predict import predict_scores
from minideeplab.unaries.sources import load_shipped_textonboost

PARTS = {"all": 1, "every 2nd": 2, "every 4th": 4}


def score(ds, labelling):
    """Confusion matrices of ``labelling(image)`` for each part of ``PARTS``."""
    conf = {part: np.zeros((21, 21), np.int64) for part in PARTS}
    for i in range(len(ds)):
        image, label = ds[i]
        c = confusion_matrix(label, labelling(image), 21)
        for part, step in PARTS.items():
            if i % step == 0:
                conf[part] += c
    return conf


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/msrc")
    ap.add_argument("--skip-textonboost", action="store_true")
    args = ap.parse_args()
    ds = MSRC(args.data, "test")
    dcnn, _ = load_msrc_model()
    sources = {"dcnn": lambda image: predict_scores(dcnn, image).argmax(0)}
    if not args.skip_textonboost:
        tb, _ = load_shipped_textonboost()
        sources["textonboost"] = lambda image: tb.predict_proba(image).argmax(0)
    print("unaries      part        images  global  class-avg   mIoU")
    for name, labelling in sources.items():
        t = time.perf_counter()
        conf = score(ds, labelling)
        for part, step in PARTS.items():
            s = summarize(conf[part])
            print(f"{name:12s} {part:10s} {len(range(0, len(ds), step)):7d} {100 * s['global_acc']:7.2f} "
                  f"{100 * s['class_avg_acc']:10.2f} {100 * s['mean_iou']:6.2f}")
        print(f"({name}: {time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
