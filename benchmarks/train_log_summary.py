"""Summarise a training run: the command's settings, the loss and the validation curve.

    python benchmarks/train_log_summary.py RUN_DIR [RUN_DIR ...]

RUN_DIR is a ``minideeplab train --out`` folder (``train_log.json``, ``model.npz`` when done).
Prints, every time the validation split was scored (``--val-every``), the mean training loss
since the previous score and the validation global accuracy, class-average accuracy and mIoU.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np


def summary(run):
    log = json.load(open(os.path.join(run, "train_log.json")))
    model = os.path.join(run, "model.npz")
    print(f"## {run}: {len(log)} iterations logged" + ("" if os.path.exists(model) else " (not finished)"))
    if os.path.exists(model):
        from minideeplab.models import load_model

        _, meta = load_model(model)
        cfg = meta.get("train_config", {})
        keep = ("supervision", "model", "width", "optimizer", "lr", "lr_policy", "weight_decay", "max_iter",
                "batch_size", "crop", "scales", "input_scale", "dropout", "classifier_lr_mult", "seed")
        print("settings: " + ", ".join(f"{k}={cfg[k]}" for k in keep if k in cfg))
    print("| iteration | mean loss since last | val global | val class-avg | val mIoU |")
    print("|---|---|---|---|---|")
    start = 0
    for i, r in enumerate(log):
        if "val_global" in r:
            loss = np.mean([x["loss"] for x in log[start:i + 1]])
            print(f"| {r['iter']} | {loss:.3f} | {100 * r['val_global']:.1f} | {100 * r['val_class_avg']:.1f} | "
                  f"{100 * r['val_miou']:.1f} |")
            start = i + 1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in sys.argv[1:]:
        summary(run)
