"""Draw a model file's learned label compatibility and list what it learned.

    python benchmarks/learned_compat.py runs/e2e/model.npz --out benchmarks/figures/learned_compat_e2e.png

Reads ``learned_crf`` from a DeepLab model or TextonBoost file (written by ``learn-crf`` or
``train --crf-head``), draws mu with :func:`minideeplab.viz.show_compat` and prints the pairs
with the smallest and largest gaps mu(l, l') - mu(l', l'): how much more label l pays than
l' itself beside a neighbour who believes l' (Potts: 1 everywhere). A constant per column
changes no belief, so the gaps, not the entries, are what the CRF learned.
"""
import argparse

import numpy as np


def gaps(mu):
    """(L, L) gaps[l, l'] = mu(l, l') - mu(l', l')."""
    mu = np.asarray(mu, np.float64)
    return mu - np.diag(mu)[None, :]


def main(argv=None):
    import matplotlib

    matplotlib.use("Agg")
    from minideeplab.datasets.msrc import CLASSES
    from minideeplab.unaries.sources import load_unaries
    from minideeplab.viz import show_compat

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model file with a learned CRF")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--top", type=int, default=8, help="how many pairs to list at each end")
    args = ap.parse_args(argv)
    _, meta = load_unaries(args.model)
    if "learned_crf" not in meta:
        raise SystemExit(f"{args.model} has no learned CRF (run learn-crf or train --crf-head)")
    p = meta["learned_crf"]["params"]
    mu = np.asarray(p["compat"], np.float64)
    names = meta.get("class_names", CLASSES)
    g = gaps(mu)
    off = ~np.eye(len(mu), dtype=bool)
    order = np.argsort(np.where(off, g, np.nan), axis=None)
    pairs = [divmod(int(i), len(mu)) for i in order[: off.sum()]]
    fmt = lambda ij: f"{names[ij[0]]} beside {names[ij[1]]} {g[ij]:+.2f}"  # noqa: E731
    print(f"{args.model}: w_bilateral {p['w_bilateral']:.3f}, w_gaussian {p['w_gaussian']:.3f}, "
          f"source {meta['learned_crf'].get('source', 'learn-crf')}")
    print(f"gaps mu(l, l') - mu(l', l'): mean {g[off].mean():+.2f}, {int((g[off] < 0).sum())} of {int(off.sum())} "
          "below 0 (l cheaper than l' itself beside l')")
    print("smallest: " + "; ".join(fmt(ij) for ij in pairs[: args.top]))
    print("largest: " + "; ".join(fmt(ij) for ij in pairs[::-1][: args.top]))
    fig = show_compat(mu, names, title=f"learned mu, w = ({p['w_bilateral']:.2f}, {p['w_gaussian']:.2f})")
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
