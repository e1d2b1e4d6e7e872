"""The grid vs fully connected CRF comparison: unaries from a model, both CRFs, one table.

The model is any unary source of :mod:`minideeplab.unaries.sources` (a DeepLab model or a
TextonBoost classifier). ``compare_crfs`` runs it over a dataset, refines its probabilities with the grid CRF
and the fully connected CRF, and scores all three (global and class-average accuracy, mean
IoU, the CRF step's time per image, and the trimap curve around boundaries).
"""
from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np

from .crf import dense_crf, grid_crf
from ._io import atomic_write_bytes
from .metrics import confusion_matrix, summarize, trimap_scores
from .predict import evaluate
from .unaries.sources import is_textonboost, unary_probs

PAPER_MSRC = [  # Krähenbühl & Koltun, NIPS 2011, Table 1 (standard ground truth, TextonBoost unaries)
    {"method": "unary (TextonBoost)", "global": 84.0, "class_avg": 76.6, "seconds": None},
    {"method": "grid CRF", "global": 84.6, "class_avg": 77.2, "seconds": 1.0},
    {"method": "fully connected CRF", "global": 86.0, "class_avg": 78.3, "seconds": 0.2},
]
METHODS = ("unary", "grid CRF", "fully connected CRF")
LEARNED = "learned CRF"  # the fully connected CRF with learned weights and compatibilities
TRIMAP_WIDTHS = (1, 2, 4, 8, 16, 32)
SHORT = {"unary": "unary", "grid CRF": "grid", "fully connected CRF": "dense", LEARNED: "learned"}
"""The method names of :func:`table_rows` (``results.json``'s ``table``)."""


def table_rows(result, unaries=None):
    """The comparison in a few keys, one dict per method: ``unaries`` (the source's name),
    ``method`` (unary, grid, dense, learned), ``global``, ``class_avg``, ``miou`` (fractions)
    and ``median_seconds``."""
    name = unaries or result.get("unaries", "dcnn")
    return [{"unaries": name, "method": SHORT[r["method"]], "global": r["global_acc"],
             "class_avg": r["class_avg_acc"], "miou": r["mean_iou"], "median_seconds": r["median_seconds"]}
            for r in result["rows"]]


def compare_crfs(model, dataset, dense_params=None, grid_params=None, progress=True, keep=4, learned_params=None):
    """Score the unary, grid CRF and dense CRF labellings over ``dataset`` (and the dense CRF
    with learned weights and compatibilities, ``learned_params`` from ``crf.learn``, if given).

    Returns
    -------
    dict with ``rows`` (method, global_acc, class_avg_acc, mean_iou, median_seconds,
    per_class_acc and the ground-truth per_class_pixels),
    ``trimap`` (method -> {width: global_acc}) and ``examples`` (the first ``keep`` images
    with their labellings, for figures)
    """
    from tqdm.auto import tqdm

    L = model.num_classes
    dense_params = dict(dense_params or {})
    grid_params = dict(grid_params or {})
    methods = METHODS + ((LEARNED,) if learned_params else ())
    if learned_params:
        learned_params = dict(learned_params, compat=np.asarray(learned_params["compat"], np.float64))
    conf = {m: np.zeros((L, L), np.int64) for m in methods}
    secs = {m: [] for m in methods}
    labels, preds, examples = [], {m: [] for m in methods}, []
    for i in tqdm(range(len(dataset)), desc="compare-crf", disable=not progress):
        image, label = dataset[i]
        t = time.perf_counter()
        probs = unary_probs(model, image)
        secs["unary"].append(time.perf_counter() - t)
        out = {"unary": probs.argmax(0)}
        t = time.perf_counter()
        out["grid CRF"] = grid_crf(image, probs, **grid_params).argmax(0)
        secs["grid CRF"].append(time.perf_counter() - t)
        t = time.perf_counter()
        out["fully connected CRF"] = dense_crf(image, probs, **dense_params).argmax(0)
        secs["fully connected CRF"].append(time.perf_counter() - t)
        if learned_params:
            t = time.perf_counter()
            out[LEARNED] = dense_crf(image, probs, **learned_params).argmax(0)
            secs[LEARNED].append(time.perf_counter() - t)
        labels.append(label)
        for m in methods:
            confusion_matrix(label, out[m], L, out=conf[m])
            preds[m].append(out[m].astype(np.uint8))
        if len(examples) < keep:
            examples.append((image, label, [out[m] for m in methods]))
    rows = []
    for m in methods:
        s = summarize(conf[m])
        rows.append({"method": m, "global_acc": s["global_acc"], "class_avg_acc": s["class_avg_acc"],
                     "mean_iou": s["mean_iou"], "median_seconds": statistics.median(secs[m]),
                     # per class, None where the class has no pixel in the set
                     "per_class_acc": [None if np.isnan(a) else float(a) for a in s["per_class_acc"]],
                     "per_class_pixels": conf[m].sum(axis=1).tolist()})
    trimap = {m: {w: v["global_acc"] for w, v in trimap_scores(labels, preds[m], TRIMAP_WIDTHS, L).items()}
              for m in methods}
    result = {"rows": rows, "trimap": trimap, "examples": examples, "n_images": len(dataset),
              "dense_params": dense_params, "grid_params": grid_params}
    if learned_params:
        result["learned_params"] = dict(learned_params, compat=learned_params["compat"].tolist())
    return result


def tune_crfs(model, dataset, metric="global_acc", progress=True, input_scales=None, test_flips=None):
    """Cross-validate both CRFs on ``dataset`` (the validation split), coarse to fine.

    With ``input_scales`` (candidates for the model's test-time ``input_scale``: numbers or
    tuples of numbers, see :func:`minideeplab.predict.predict_scores`), the candidate whose
    unaries score best is chosen first and set on the model; with ``test_flips`` (e.g.
    ``[False, True]``) every scale candidate is tried with each, and the best pair sets the
    model's ``input_scale`` and ``test_flip``. The model then runs once per
    image; then :func:`minideeplab.crf.tune.tune_dense_crf`
    (w1, theta_alpha, theta_beta; w2 = 3, theta_gamma = 3) and
    :func:`~minideeplab.crf.tune.tune_grid_crf` (contrast and smoothness weights) search
    their grids, each with a progress bar.

    Returns
    -------
    dict with ``dense_crf`` and ``grid_crf`` (the chosen keyword arguments), ``input_scale``,
    ``test_flip`` and ``input_scale_history`` (each ``(scale, flip)`` candidate with its
    score), ``metric``,
    ``scores`` (the validation ``metric`` of the unaries and of each chosen CRF) and
    ``history`` (every setting tried with its score)
    """
    from tqdm.auto import tqdm

    from .crf.tune import score_setting, tune_dense_crf, tune_grid_crf
    from .models.deeplab import check_scales

    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    tried = []
    if (input_scales is not None or test_flips is not None) and is_textonboost(model):
        raise ValueError("input_scales and test_flips apply to a DeepLab model, not to TextonBoost unaries")
    if input_scales is not None or test_flips is not None:
        scales = [model.input_scale] if input_scales is None else [check_scales(c, "input_scales") for c in input_scales]
        flips = [model.test_flip] if test_flips is None else list(test_flips)
        if not scales or not flips:
            raise ValueError("input_scales and test_flips must each hold at least one candidate")
        if not all(isinstance(f, (bool, np.bool_)) for f in flips):
            raise TypeError(f"test_flips must hold True or False, got {test_flips!r}")
        candidates = [(s, bool(f)) for s in scales for f in flips]
        for s, f in tqdm(candidates, desc="test-time scale / flip", disable=not progress):
            tried.append(((s, f), evaluate(model, dataset, scale=s, flip=f)[metric]))
        model.input_scale, model.test_flip = max(tried, key=lambda r: r[1])[0]
    images, probs, labels = [], [], []
    for i in tqdm(range(len(dataset)), desc="unaries", disable=not progress):
        image, label = dataset[i]
        images.append(image)
        labels.append(label)
        probs.append(unary_probs(model, image))
    L = model.num_classes
    dense, dense_hist = tune_dense_crf(images, probs, labels, L, metric=metric, progress=progress)
    grid, grid_hist = tune_grid_crf(images, probs, labels, L, metric=metric, progress=progress)
    conf = np.zeros((L, L), np.int64)
    for p, lab in zip(probs, labels):
        confusion_matrix(lab, p.argmax(0), L, out=conf)
    return {
        "dense_crf": dense, "grid_crf": grid, "metric": metric, "n_images": len(dataset),
        "input_scale": getattr(model, "input_scale", None),           # None: TextonBoost
        "test_flip": getattr(model, "test_flip", None), "input_scale_history": tried,
        "scores": {"unary": summarize(conf)[metric],
                   "dense_crf": score_setting(dense_crf, dense, images, probs, labels, L, metric),
                   "grid_crf": score_setting(grid_crf, grid, images, probs, labels, L, metric)},
        "history": {"dense_crf": dense_hist, "grid_crf": grid_hist},
    }


def format_table(result):
    """The comparison as a Markdown table (seconds: the CRF step, or the net for the unary)."""
    lines = ["| method | global | class-average | mIoU | median s/image |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['method']} | {100 * r['global_acc']:.1f} | {100 * r['class_avg_acc']:.1f} | "
                     f"{100 * r['mean_iou']:.1f} | {r['median_seconds']:.3f} |")
    return "\n".join(lines + _paper_table())


def format_combined(results):
    """One Markdown table, a row per (unary source, method), for the results of several
    sources (each with its ``unaries`` name), and the paper's table after it."""
    lines = ["| unaries | method | global | class-average | mIoU | median s/image |", "|---|---|---|---|---|---|"]
    for result in results:
        for r in table_rows(result):
            lines.append(f"| {r['unaries']} | {r['method']} | {100 * r['global']:.1f} | {100 * r['class_avg']:.1f} | "
                         f"{100 * r['miou']:.1f} | {r['median_seconds']:.3f} |")
    return "\n".join(lines + _paper_table())


def _paper_table():
    lines = ["", "Krähenbühl & Koltun (NIPS 2011), MSRC-21, standard ground truth, TextonBoost unaries:", "",
             "| method | global | class-average | s/image |", "|---|---|---|---|"]
    for r in PAPER_MSRC:
        lines.append(f"| {r['method']} | {r['global']:.1f} | {r['class_avg']:.1f} | "
                     f"{'' if r['seconds'] is None else r['seconds']} |")
    return lines


def write_combined(results, out_dir, palette=None, class_names=None):
    """For several unary sources' results (same images): results.json (``table``: the rows of
    :func:`table_rows` of every source), results.md (:func:`format_combined`) and examples.png
    (image, truth, then each source's unary, grid and dense labellings)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .viz import figure_bytes, show_rows

    os.makedirs(out_dir, exist_ok=True)
    data = {"table": [r for result in results for r in table_rows(result)], "n_images": results[0]["n_images"]}
    atomic_write_bytes(os.path.join(out_dir, "results.json"), json.dumps(data, indent=1).encode())
    atomic_write_bytes(os.path.join(out_dir, "results.md"), (format_combined(results) + "\n").encode())
    titles, rows = combined_rows(results)
    if rows:
        fig = show_rows(rows, titles, palette, class_names=class_names)
        atomic_write_bytes(os.path.join(out_dir, "examples.png"), figure_bytes(fig))
        plt.close(fig)


def combined_rows(results):
    """``(titles, rows)`` of the combined figure: per kept image, the image, its truth, then
    each source's unary, grid and dense labellings (for :func:`minideeplab.viz.show_rows`)."""
    titles = ["image", "ground truth"] + [f"{res['unaries']}: {SHORT[r['method']]}" for res in results
                                          for r in res["rows"] if r["method"] in METHODS]
    rows = []
    for k in range(min(len(res["examples"]) for res in results)):
        image, label, _ = results[0]["examples"][k]
        outs = [out for res in results
                for r, out in zip(res["rows"], res["examples"][k][2]) if r["method"] in METHODS]
        rows.append([image, label] + outs)
    return titles, rows


def format_per_class(result, class_names=None):
    """Per-class accuracy of each method, and the CRFs' change, as a Markdown table."""
    rows = result["rows"]
    L = len(rows[0]["per_class_acc"])
    names = list(class_names) if class_names is not None else [str(c) for c in range(L)]
    if len(names) != L:
        raise ValueError(f"class_names must have {L} names, got {len(names)}")
    pct = lambda a: "" if a is None else f"{100 * a:.1f}"  # noqa: E731
    diff = lambda a, b: "" if a is None or b is None else f"{100 * (a - b):+.1f}"  # noqa: E731
    extra = len(rows) > 3  # the learned CRF
    lines = ["| class | pixels | " + " | ".join(r["method"] for r in rows) + " | grid - unary | dense - unary |"
             + (" learned - unary |" if extra else ""),
             "|---|---|" + "---|" * (len(rows) + 2 + extra)]
    for c in range(L):
        accs = [r["per_class_acc"][c] for r in rows]
        lines.append(f"| {names[c]} | {rows[0]['per_class_pixels'][c]} | " + " | ".join(pct(a) for a in accs)
                     + f" | {diff(accs[1], accs[0])} | {diff(accs[2], accs[0])} |"
                     + (f" {diff(accs[3], accs[0])} |" if extra else ""))
    return "\n".join(lines)


def write_outputs(result, out_dir, palette=None, class_names=None):
    """results.json, results.md (with the per-class table), examples.png (image, truth, unary,
    grid, dense; a colour legend of the classes when ``class_names`` is given) and trimap.png."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .viz import figure_bytes, show_rows

    os.makedirs(out_dir, exist_ok=True)
    data = {k: v for k, v in result.items() if k != "examples"}
    data["table"] = table_rows(result)
    data["trimap"] = {m: {str(w): a for w, a in t.items()} for m, t in result["trimap"].items()}
    atomic_write_bytes(os.path.join(out_dir, "results.json"), json.dumps(data, indent=1).encode())
    md = format_table(result) + "\n\nPer-class accuracy (%):\n\n" + format_per_class(result, class_names) + "\n"
    atomic_write_bytes(os.path.join(out_dir, "results.md"), md.encode())
    rows = [[img, lab] + outs for img, lab, outs in result["examples"]]
    if rows:
        fig = show_rows(rows, ["image", "ground truth"] + [r["method"] for r in result["rows"]], palette,
                        class_names=class_names)
        atomic_write_bytes(os.path.join(out_dir, "examples.png"), figure_bytes(fig))
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for m, t in result["trimap"].items():
        ax.plot(list(t), [100 * a for a in t.values()], "o-", label=m)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("trimap band width (pixels)")
    ax.set_ylabel("pixel accuracy in the band (%)")
    ax.legend()
    atomic_write_bytes(os.path.join(out_dir, "trimap.png"), figure_bytes(fig))
    plt.close(fig)
