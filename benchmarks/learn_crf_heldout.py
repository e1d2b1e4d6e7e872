"""Learn the dense CRF on held-out unaries (val's halves) and score it on the test split.

    python benchmarks/learn_crf_heldout.py NAME ['{"learn_on": "even", "class_weights": "mf",
        "potts_prior": 0.1, "steps": 1000, "crop": 128, "val_every": 250, "metric": "mean_iou"}']

The experiment behind RESULTS.md's "A learned CRF on held-out unaries": the shipped DCNN's
probabilities on the val, test and train splits are cached once (float16, ``--cache``); NAME
``potts`` scores the model's cross-validated CRF, any other NAME runs
:func:`minideeplab.crf.learn.learn_crf` with the JSON keyword arguments (``learn_on``: "even"
learns on val's even positions and picks on the odd ones, "odd" the reverse, "train" learns on
the training split and picks on val; ``class_weights``: "mf" for median frequency of the
learning images, "mf0.5" their square roots) and scores the picked CRF on the test split. One JSON line per run is
appended to ``--results``; the learned matrix goes beside it as ``mu_NAME.npy``.
"""
import argparse
import json
import os
import time

import numpy as np

from minideeplab.crf.learn import learn_crf, score_params
from minideeplab.datasets import MSRC
from minideeplab.datasets.balance import median_frequency_weights
from minideeplab.models import MSRC_MODEL, load_model
from minideeplab.predict import predict_probs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("kwargs", nargs="?", default="{}", help="JSON keyword arguments of learn_crf (see above)")
    ap.add_argument("--model", default=MSRC_MODEL)
    ap.add_argument("--data", default="../shared/data/msrc")
    ap.add_argument("--cache", default="runs/learn18/probs.npz")
    ap.add_argument("--results", default="runs/learn18/results.jsonl")
    args = ap.parse_args(argv)
    model, meta = load_model(args.model)
    if not os.path.exists(args.cache):
        arrays = {}
        for split in ("val", "test", "train"):
            ds = MSRC(args.data, split)
            for i in range(len(ds)):
                arrays[f"{split}/{i}"] = predict_probs(model, ds[i][0]).astype(np.float16)
        np.savez(args.cache, **arrays)
    cached = np.load(args.cache)

    def rows(split):
        ds = MSRC(args.data, split)
        return [(ds[i][0], cached[f"{split}/{i}"], ds[i][1]) for i in range(len(ds))]

    val, test, L = rows("val"), rows("test"), model.num_classes
    potts = dict(meta["dense_crf"])
    kw = json.loads(args.kwargs)
    learn_on, weights = kw.pop("learn_on", "even"), kw.pop("class_weights", None)
    if learn_on == "train":
        learn, pick = rows("train"), val
    else:
        learn, pick = (val[0::2], val[1::2]) if learn_on == "even" else (val[1::2], val[0::2])
    if weights is not None and weights.startswith("mf"):  # "mf", or "mf0.5": median frequency to a power
        power = float(weights[2:] or 1)
        kw["class_weights"] = median_frequency_weights([r[2] for r in learn], L, absent=1.0) ** power
    if args.name == "potts":
        res = {"params": potts}
    else:
        t = time.time()
        res = learn_crf(learn, L, val=pick, init={k: v for k, v in potts.items() if k != "n_iter"}, progress=False,
                        **kw)
        print(f"learned in {time.time() - t:.0f} s; picked step {res['step']}, score {res['score']}")
        np.save(os.path.join(os.path.dirname(args.results), f"mu_{args.name}.npy"), res["mu"])
    s = score_params(test, res["params"], L)
    out = {"name": args.name, "kw": args.kwargs, "test": {k: s[k] for k in ("global_acc", "class_avg_acc", "mean_iou")},
           "w1": res["params"]["w_bilateral"], "w2": res["params"]["w_gaussian"], "n_iter": res["params"].get("n_iter"),
           "step": res.get("step"), "pick": res.get("score")}
    print(json.dumps(out))
    with open(args.results, "a") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
