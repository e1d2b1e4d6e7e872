"""Weak and semi-supervised trainings on MSRC-21 (Papandreou et al., ICCV 2015), scored on the
test split and recorded one per run.

    python benchmarks/weak_training.py --run DIR [--run DIR ...] [--crf-from MODEL]
        [--json benchmarks/weak_results.json] [--curve PATH] [--figure PATH] [--limit N]

Each ``DIR/model.npz`` is a model written by ``minideeplab train`` (its description says how it
was trained: ``supervision``, ``protocol``, ``train_config``). For each, the test split in the
model's protocol (the 21 classes, or VOC-style: stuff merged into background) is scored with
the model's unaries and after the fully connected CRF. All models use the same CRF parameters:
those cross-validated for a strongly supervised model (``--crf-from``, default the shipped
model), so that no weak setting is tuned on pixel labels it is not supposed to have.

``--json`` gets one record per run (replacing an earlier record of the same run folder):
``run``, ``supervision`` (strong, strong-only, semi, bbox-rect, bbox-seg, em-adapt),
``protocol`` (msrc21, voc-style), ``pixel_labelled_images``, ``iterations`` (this run's),
``total_iterations`` (with those of the ``--init-from`` models before it), ``init_from``,
``strong_per_batch``, ``e_step_every``, ``seed`` (the training's ``--seed``; records without it
are seed 0), ``n_images``, ``crf``, and ``unary`` / ``dense_crf``,
each with test ``global``, ``class_avg`` and ``miou`` (fractions). ``--curve`` plots test mIoU
against the number of pixel-labelled images for strong-only and semi (the records of the JSON
file in the 21-class protocol; of several at one size, the longest schedule), with full
supervision as the ceiling. ``--figure`` draws
the first test images with at least three classes and each run's labels after the CRF.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import time

import numpy as np

from minideeplab._io import atomic_write_bytes
from minideeplab.crf import dense_crf
from minideeplab.datasets import MSRC
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import MSRC_MODEL, load_model
from minideeplab.predict import predict_probs

TRAIN_IMAGES = 279  # MSRC's training split (trainval minus the 56 validation images)


def total_iterations(meta):
    """The iterations of the run and, if it started ``--init-from`` a model still on disk, of
    that model's own schedule before it (recursively)."""
    n = meta.get("iterations") or 0
    start = (meta.get("train_config") or {}).get("init_from")
    if start and os.path.exists(start):
        from minideeplab._io import read_npz_meta

        n += total_iterations(read_npz_meta(start) or {})
    return n


def describe(meta, train_images=TRAIN_IMAGES):
    """How a model was trained, from its description: supervision, protocol, pixel-labelled images."""
    cfg = meta.get("train_config") or {}
    sup = meta.get("supervision") or cfg.get("supervision") or "strong"
    n = cfg.get("strong_images")
    if sup == "strong":
        labelled = train_images if n is None else int(n)
        sup = "strong-only" if labelled < train_images else "strong"
    elif sup == "semi":
        labelled = int(round(0.25 * train_images)) if n is None else int(n)
    else:
        labelled = 0
    return {"supervision": sup, "protocol": "voc-style" if meta.get("protocol") == "voc-style" else "msrc21",
            "pixel_labelled_images": labelled, "iterations": meta.get("iterations"),
            "total_iterations": total_iterations(meta),
            "init_from": cfg.get("init_from"), "strong_per_batch": cfg.get("strong_per_batch", 0),
            "e_step_every": cfg.get("e_step_every", 0), "seed": cfg.get("seed", 0)}


def score(model, data, params, shown=()):
    """Test metrics of the unaries and after the dense CRF, and the CRF labellings of ``shown``."""
    L = model.num_classes
    cu, cc = np.zeros((L, L), np.int64), np.zeros((L, L), np.int64)
    kept = {}
    for i in range(len(data)):
        image, label = data[i]
        p = predict_probs(model, image)
        confusion_matrix(label, p.argmax(0), L, out=cu)
        crf = dense_crf(image, p, **params).argmax(0)
        confusion_matrix(label, crf, L, out=cc)
        if i in shown:
            kept[i] = np.where(label == 255, 255, crf).astype(np.uint8)
    metrics = lambda s: {"global": s["global_acc"], "class_avg": s["class_avg_acc"], "miou": s["mean_iou"]}  # noqa: E731
    return metrics(summarize(cu)), metrics(summarize(cc)), kept


def load_records(path):
    if path and os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)["runs"]
    return []


def save_records(path, records):
    records = sorted(records, key=lambda r: (r["protocol"], r["supervision"], r["pixel_labelled_images"], r["run"]))
    atomic_write_bytes(path, (json.dumps({"runs": records}, indent=1) + "\n").encode())


def plot_curve(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minideeplab.viz import save_figure

    fig, ax = plt.subplots(figsize=(6.5, 4))
    msrc = [r for r in records if r["protocol"] == "msrc21"]
    for sup, colour in (("strong-only", "C0"), ("semi", "C1")):
        longest = {}
        for r in (r for r in msrc if r["supervision"] == sup):
            n = r["pixel_labelled_images"]
            if n not in longest or r.get("total_iterations", 0) > longest[n].get("total_iterations", 0):
                longest[n] = r
        rs = [longest[n] for n in sorted(longest)]
        if rs:
            x = [r["pixel_labelled_images"] for r in rs]
            ax.plot(x, [100 * r["dense_crf"]["miou"] for r in rs], "o-", color=colour, label=f"{sup} + CRF")
            ax.plot(x, [100 * r["unary"]["miou"] for r in rs], "o--", color=colour, alpha=0.5, label=f"{sup}, unary")
            for r in rs:  # each point's whole schedule: the curve mixes lengths until every run is done
                ax.annotate(f"{r.get('total_iterations', 0) / 1000:g}k it.", (r["pixel_labelled_images"],
                            100 * r["dense_crf"]["miou"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    full = [r for r in msrc if r["supervision"] == "strong"]
    if full:  # the ceiling: full supervision, its longest schedule
        r = max(full, key=lambda r: r.get("total_iterations", 0))
        ax.axhline(100 * r["dense_crf"]["miou"], color="k", lw=0.8, ls=":")
        ax.text(ax.get_xlim()[0], 100 * r["dense_crf"]["miou"], f" all {r['pixel_labelled_images']} images + CRF, "
                f"{r.get('total_iterations', 0) / 1000:g}k it.", va="bottom", fontsize=8)
    ax.set_xlabel("pixel-labelled training images (semi: the rest with image labels)")
    ax.set_ylabel("test mIoU (%)")
    ax.set_title("MSRC-21: strong-only vs semi-supervised")
    ax.legend(fontsize=8)
    save_figure(fig, path)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", default=[], metavar="DIR", help="a run folder with model.npz")
    ap.add_argument("--runs", default=None, metavar="ROOT",
                    help="also every ROOT/msrc_<supervision> folder of the first comparison (2026-11-24)")
    ap.add_argument("--data", default=None, metavar="DIR",
                    help="MSRC folder (default: $MINIDEEPLAB_MSRC or ../shared/data/msrc)")
    ap.add_argument("--crf-from", default=MSRC_MODEL, help="the model whose cross-validated dense CRF all runs use")
    ap.add_argument("--json", default=None, help="update this JSON file's records (e.g. benchmarks/weak_results.json)")
    ap.add_argument("--curve", default=None, help="write the mIoU vs pixel-labelled images plot (PNG)")
    ap.add_argument("--figure", default=None, help="write a PNG of each run's labels after the CRF")
    ap.add_argument("--figure-rows", type=int, default=4)
    ap.add_argument("--limit", type=int, default=0, help="only the first N test images")
    args = ap.parse_args()
    if args.runs:
        args.run += [d for d in (os.path.join(args.runs, f"msrc_{s}") for s in
                                 ("strong", "semi", "bbox-seg", "bbox-rect", "em-adapt"))
                     if os.path.exists(os.path.join(d, "model.npz"))]
    params = load_model(args.crf_from)[1]["dense_crf"]
    test = MSRC(args.data, "test")
    if args.limit:
        test.names = test.names[: args.limit]
    records = load_records(args.json)
    print(f"{len(test)} test images; dense CRF {params}")
    print("| run | supervision | protocol | pixel-labelled | unary global | unary mIoU | CRF global | CRF mIoU |")
    print("|---|---|---|---|---|---|---|---|")
    rows, titles, shown, drawn = None, ["image", "ground truth"], None, None  # the figure: one protocol
    for run in args.run:
        model, meta = load_model(os.path.join(run, "model.npz"))
        rec = dict(run=os.path.normpath(run), **describe(meta))
        data = test
        if rec["protocol"] == "voc-style":
            from minideeplab.datasets.voc_style import VOCStyle

            data = VOCStyle(test)
        if shown is None:
            drawn = rec["protocol"]
            shown = [i for i in range(len(data)) if len(set(np.unique(data[i][1]).tolist()) - {255}) >= 3]
            shown = shown[: args.figure_rows] if args.figure else []
            rows = [[data[i][0], data[i][1]] for i in shown]
        t = time.perf_counter()
        unary, crf, kept = score(model, data, params, shown if rec["protocol"] == drawn else ())
        rec.update(unary=unary, dense_crf=crf, crf=params, n_images=len(data),
                   date=datetime.date.today().isoformat())
        records = [r for r in records if r["run"] != rec["run"]] + [rec]
        if kept:
            titles.append(f"{rec['supervision']} ({rec['pixel_labelled_images']})")
            for k, i in enumerate(shown):
                rows[k].append(kept[i])
        print(f"| {rec['run']} | {rec['supervision']} | {rec['protocol']} | {rec['pixel_labelled_images']} | "
              f"{100 * unary['global']:.1f} | {100 * unary['miou']:.1f} | {100 * crf['global']:.1f} | "
              f"{100 * crf['miou']:.1f} |  ({time.perf_counter() - t:.0f} s)", flush=True)
    if args.json:
        save_records(args.json, records)
        print(f"wrote {args.json} ({len(records)} runs)")
    if args.curve:
        plot_curve(records, args.curve)
        print(f"wrote {args.curve}")
    if args.figure and rows:
        from minideeplab.datasets.msrc import CLASSES, palette21
        from minideeplab.datasets.voc_style import VOC_STYLE_CLASSES, voc_style_palette
        from minideeplab.viz import save_rows

        voc = drawn == "voc-style"
        save_rows(args.figure, rows, titles, voc_style_palette() if voc else palette21(),
                  class_names=VOC_STYLE_CLASSES if voc else CLASSES)
        print(f"wrote {args.figure} (void pixels of the ground truth drawn black in every column)")


if __name__ == "__main__":
    main()
