"""Where the shipped TextonBoost unaries spend their time on one image, and what blocking the
tree walk buys.

    python benchmarks/bench_textonboost.py [--repeats 5]

On the six embedded MSRC images (320x213), with one and with two kernel threads: the median
seconds per image of ``predict_proba`` and of its parts (the 406 features of every pixel; the
4,200 trees on every 4th pixel's features), and of the same trees walked one sample at a time
through all trees (the order before blocking; defined here, compiled with the same Numba
options), with the ratio of the two measured in the same run.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from minideeplab._numba import get_num_threads, in_threads, njit, set_num_threads
from minideeplab.datasets import MSRCSamples
from minideeplab.unaries.boost import ARRAYS
from minideeplab.unaries.sources import load_shipped_textonboost


@njit
def sample_major_scores(X, feature, threshold, left, right, value, tree_offset, tree_class, baseline, out, a, b):
    """The decision function with the sample loop outside: each sample walks every tree."""
    L = baseline.shape[0]
    acc = np.empty(L, np.float64)
    for i in range(a, b):
        for c in range(L):
            acc[c] = baseline[c]
        for t in range(tree_class.shape[0]):
            n = tree_offset[t]
            while left[n] >= 0:
                n = left[n] if X[i, feature[n]] <= threshold[n] else right[n]
            acc[tree_class[t]] += value[n]
        for c in range(L):
            out[i, c] = acc[c]


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per image (the median is kept)")
    args = ap.parse_args()
    model, _ = load_shipped_textonboost()
    trees = model.trees
    arrays = [getattr(trees, k) for k in ARRAYS]
    ds = MSRCSamples()
    images = [ds[i][0] for i in range(len(ds))]
    grids = []
    for image in images:
        f = model.features(image)
        grids.append(np.ascontiguousarray(f[:: model.stride, :: model.stride]).reshape(-1, f.shape[-1]))

    def old_order(X):
        out = np.empty((X.shape[0], trees.num_classes), np.float32)
        in_threads(lambda a, b: sample_major_scores(X, *arrays, out, a, b), X.shape[0], min_rows=2048)
        return out

    for X in grids:  # compile, and check that both orders give the same bits
        assert np.array_equal(old_order(X), trees.predict_scores(X))
    threads = get_num_threads()
    print(f"{trees.num_trees} trees, {trees.feature.shape[0]:,} nodes, {model.num_features} features; "
          f"{len(images)} images, {grids[0].shape[0]} scored pixels each; median seconds per image")
    print("| threads | predict_proba | features | trees (blocked) | trees (sample by sample) | ratio |")
    print("|---|---|---|---|---|---|")
    for T in sorted({1, threads}):
        set_num_threads(T)
        t_all = np.median([median_time(lambda im=im: model.predict_proba(im), args.repeats) for im in images])
        t_feat = np.median([median_time(lambda im=im: model.features(im), args.repeats) for im in images])
        t_new = np.median([median_time(lambda X=X: trees.predict_scores(X), args.repeats) for X in grids])
        t_old = np.median([median_time(lambda X=X: old_order(X), args.repeats) for X in grids])
        print(f"| {T} | {t_all:.3f} | {t_feat:.3f} | {t_new:.3f} | {t_old:.3f} | {t_old / t_new:.2f} |")
    set_num_threads(threads)


if __name__ == "__main__":
    main()
