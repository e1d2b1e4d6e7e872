"""Learn the dense CRF on held-out unaries (val's halves) and score it on the test split.

    python benchmarks/learn_crf_heldout.py NAME ['{"learn_on": "even", "class_weights": "mf",
        "potts_prior": 0.1, "steps": 1000, "crop": 128, "val_every": 250, "metric": "mean_iou"}']

The experiment behind RESULTS.md's "A learned CRF on held-out unaries": the shipped DCNN's
probabilities on the val and test splits (and train, for ``learn_on: "train"``) are cached once
(float16, ``--cache``, written atomically); NAME
``potts`` scores the model's cross-validated CRF, any other NAME runs
:func:`minideeplab.crf.learn.learn_crf` with the JSON keyword arguments (``learn_on``: "even"
learns on val's even positions and picks on the odd ones, "odd" the reverse, "train" learns on
the training split and picks on val; ``class_weights``: "mf" for median frequency of the
learning images, "mf0.5" their square roots) and scores the picked CRF on the test split. One JSON line per run is
appended to ``--results`` (with the picked parameters, ``params``); the last learned matrix (its
moving average with ``average``) goes beside it as ``mu_NAME.npy``.

``--fold-unaries`` learns nothing: it prints the global / class-average / mIoU of the ``--folds``
nets' held-out unaries on the training split (each image scored by the net that left it out).

``--average-of RUN ...`` learns nothing: it scores the mean of those runs' picked parameters (a
CRF averaged over seeds; ``--n-iter`` sets its mean-field iterations) on test, and on the images
``learn_on`` would pick on (val, or its other half) with the JSON's ``metric``.

``loss``: "cross_entropy" (default) or "expected_error" (learn_crf's ``loss``). With ``learn_bias``
the line also holds the learned bias and ``test_bias_alone``: the test scores of the unaries with
that bias and no pairwise term (``n_iter`` 0).

``learn_on: "folds"`` learns on held-out unaries of all 279 training images: those of the nets in
``--folds DIR`` (``fold0/model.npz``, ``fold1/model.npz``, ..., trained with ``minideeplab train
--hold-out I/K``), each scoring the images it left out, with the shipped model's test-time
setting (its input scales and mirror); it picks on val with the shipped model's unaries, as
the other settings do.
"""
import argparse
import json
import os
import time

import numpy as np

from minideeplab._io import read_npz_meta, save_npz
from minideeplab.crf.learn import learn_crf, score_params
from minideeplab.datasets import MSRC
from minideeplab.datasets.balance import median_frequency_weights
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import MSRC_MODEL, load_model
from minideeplab.predict import predict_probs
from minideeplab.unaries.folds import FoldNets


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("kwargs", nargs="?", default="{}", help="JSON keyword arguments of learn_crf (see above)")
    ap.add_argument("--model", default=MSRC_MODEL)
    ap.add_argument("--data", default="../shared/data/msrc")
    ap.add_argument("--cache", default="runs/learn18/probs.npz")
    ap.add_argument("--results", default="runs/learn18/results.jsonl")
    ap.add_argument("--folds", default="runs/folds", help='the fold nets of learn_on "folds"')
    ap.add_argument("--average-of", nargs="+", metavar="RUN",
                    help="learn nothing: score the mean of these runs' picked parameters (names in --results)")
    ap.add_argument("--n-iter", type=int, help="with --average-of: mean-field iterations (default: the runs' own)")
    ap.add_argument("--fold-unaries", action="store_true",
                    help="learn nothing: print the scores of the --folds nets' held-out unaries on the training split")
    args = ap.parse_args(argv)
    if args.n_iter is not None and not args.average_of:
        ap.error("--n-iter goes with --average-of")
    model, meta = load_model(args.model)
    if args.fold_unaries:
        rows = fold_rows(args, model)
        cm = sum(confusion_matrix(label, np.argmax(probs, axis=0), model.num_classes) for _, probs, label in rows)
        s = summarize(cm)
        print(f"{args.folds}: held-out unaries of {len(rows)} training images, global / class-average / mIoU "
              f"{100 * s['global_acc']:.1f} / {100 * s['class_avg_acc']:.1f} / {100 * s['mean_iou']:.1f}")
        return
    kw = json.loads(args.kwargs)
    learn_on, weights = kw.pop("learn_on", "even"), kw.pop("class_weights", None)
    if learn_on not in ("even", "odd", "train", "folds"):
        ap.error(f'learn_on must be "even", "odd", "train" or "folds", got {learn_on!r}')
    cached = np.load(args.cache) if os.path.exists(args.cache) else {}
    learning = args.name != "potts" and not args.average_of
    splits = ("val", "test", "train") if learn_on == "train" and learning else ("val", "test")
    missing = [split for split in splits if f"{split}/0" not in cached]
    if missing:  # the shipped model's probabilities, computed once per split
        arrays = dict(cached)
        for split in missing:
            ds = MSRC(args.data, split)
            for i in range(len(ds)):
                arrays[f"{split}/{i}"] = predict_probs(model, ds[i][0]).astype(np.float16)
        os.makedirs(os.path.dirname(args.cache) or ".", exist_ok=True)
        save_npz(args.cache, arrays)
        cached = arrays

    def rows(split):
        ds = MSRC(args.data, split)
        return [(ds[i][0], cached[f"{split}/{i}"], ds[i][1]) for i in range(len(ds))]

    val, test, L = rows("val"), rows("test"), model.num_classes
    potts = dict(meta["dense_crf"])
    if not learning:  # nothing to learn: picked on val as the learning of learn_on would
        learn, pick = [], (val if learn_on in ("train", "folds") else val[1::2] if learn_on == "even" else val[0::2])
    elif learn_on == "folds":
        learn, pick = fold_rows(args, model), val
    elif learn_on == "train":
        learn, pick = rows("train"), val
    else:
        learn, pick = (val[0::2], val[1::2]) if learn_on == "even" else (val[1::2], val[0::2])
    if learning and weights is not None and weights.startswith("mf"):  # "mf", "mf0.5": median frequency to a power
        power = float(weights[2:] or 1)
        kw["class_weights"] = median_frequency_weights([r[2] for r in learn], L, absent=1.0) ** power
    if args.name == "potts":
        res = {"params": potts}
    elif args.average_of:
        res = {"params": averaged(args.results, args.average_of, args.n_iter)}
        res["score"] = score_params(pick, res["params"], L)[kw.get("metric", "class_avg_acc")]
    else:
        t = time.time()
        res = learn_crf(learn, L, val=pick, init={k: v for k, v in potts.items() if k != "n_iter"}, progress=False,
                        **kw)
        print(f"learned in {time.time() - t:.0f} s; picked step {res['step']}, score {res['score']}")
        np.save(os.path.join(os.path.dirname(args.results), f"mu_{args.name}.npy"), res["mu"])
    s = score_params(test, res["params"], L)
    keys = ("global_acc", "class_avg_acc", "mean_iou")
    out = {"name": args.name, "kw": args.kwargs, "test": {k: s[k] for k in keys}}
    if "bias" in res["params"]:  # what the learned bias alone does to the unaries (no pairwise term)
        alone = score_params(test, dict(res["params"], n_iter=0), L)
        out.update(bias=res["params"]["bias"], test_bias_alone={k: alone[k] for k in keys})
    out.update({"params": res["params"], "w1": res["params"]["w_bilateral"], "w2": res["params"]["w_gaussian"],
                "n_iter": res["params"].get("n_iter"), "step": res.get("step"), "pick": res.get("score"),
                "history": res.get("history")})
    print(json.dumps(out))
    with open(args.results, "a") as f:
        f.write(json.dumps(out) + "\n")


def averaged(results, names, n_iter=None):
    """The mean of the picked parameters of the runs ``names`` in the results file (kernel
    weights, compatibility, bias if any; the keys, shapes and thetas must agree, and n_iter
    unless given)."""
    runs = {}
    with open(results) as f:
        for line in f:
            r = json.loads(line)
            if r["name"] in names and "params" in r:
                runs[r["name"]] = r["params"]
    missing = [n for n in names if n not in runs]
    if missing:
        raise SystemExit(f"no picked parameters of {missing} in {results}")
    if n_iter is not None:
        runs = {n: dict(p, n_iter=n_iter) for n, p in runs.items()}
    first = runs[names[0]]
    for n in names:
        p = runs[n]
        if set(p) != set(first) or np.shape(p.get("compat")) != np.shape(first.get("compat")):
            raise SystemExit(f"{n} and {names[0]} are not the same kind of CRF (keys {sorted(p)}, "
                             f"{sorted(first)}; compat shapes {np.shape(p.get('compat'))}, "
                             f"{np.shape(first.get('compat'))})")
    out = dict(first)
    for k, v in first.items():
        values = [runs[n][k] for n in names]
        if k in ("w_bilateral", "w_gaussian", "compat", "bias"):
            out[k] = np.mean(np.asarray(values, np.float64), axis=0).tolist()
        elif any(v2 != v for v2 in values):
            raise SystemExit(f"the runs differ in {k}: {values}")
    return out


def fold_rows(args, shipped):
    """``(image, probs, label)`` of every training image, its probs from the fold net that left it
    out (:class:`minideeplab.unaries.folds.FoldNets`, at the shipped model's test-time setting);
    cached beside ``--cache`` as ``probs_folds.npz``."""
    ds = MSRC(args.data, "train")
    path = os.path.join(os.path.dirname(args.cache), "probs_folds.npz")
    if os.path.exists(path) and read_npz_meta(path).get("folds") != os.path.abspath(args.folds):
        raise ValueError(f"{path} holds the unaries of {read_npz_meta(path).get('folds')}, not of --folds "
                         f"{args.folds}: remove it")
    if not os.path.exists(path):
        folds = FoldNets(args.folds, like=shipped, name="--folds")
        save_npz(path, {str(i): folds.probs(i, ds[i][0]).astype(np.float16) for i in range(len(ds))},
                 {"folds": os.path.abspath(args.folds)})
    cached = np.load(path)
    return [(ds[i][0], cached[str(i)], ds[i][1]) for i in range(len(ds))]


if __name__ == "__main__":
    main()
