"""dense_crf and grid_crf speed beside pydensecrf2 on MSRC test images; scaling; compile cost.

    python benchmarks/bench_crf.py [--images 40] [--threads 2]
    python benchmarks/bench_crf.py --compile        # Numba compile / cache load time

Unaries: the MSRC test images have no trained model here, so each image's unary is made
from its ground truth: P = softmax(2 * onehot(gt) + 6 * (N(0, 1) noise blurred by a Gaussian of
std 4 pixels)), uniform on void (``minideeplab.datasets.noisy_probs``; a fixed, documented
stand-in with errors to correct). Both CRFs get the
same P and the parameters of Krähenbühl & Koltun's MSRC setting (pydensecrf:
addPairwiseGaussian(sxy=3, compat=3), addPairwiseBilateral(sxy=80, srgb=13, compat=10)),
10 iterations. ours and pydensecrf2 alternate image by image in one process.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

KW = dict(w_bilateral=10.0, theta_alpha=80.0, theta_beta=13.0, w_gaussian=3.0, theta_gamma=3.0)


def load_msrc(n):
    """The first ``n`` MSRC test images: [(name, image, label)]."""
    from minideeplab.datasets import MSRC

    ds = MSRC(split="test")
    return [(ds.names[i], *ds[i]) for i in range(n)]


def fake_probs(gt, L=21, seed=0):
    from minideeplab.datasets import noisy_probs

    return noisy_probs(gt, L, strength=2.0, noise=6.0, smooth=4.0, rng=seed, dtype=np.float32)


def ref_crf(img, p, n_iter=10):
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    L, H, W = p.shape
    d = dcrf.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(unary_from_softmax(p))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.array(img), compat=10)  # a writable copy: pydensecrf needs one
    return np.array(d.inference(n_iter)).reshape(L, H, W)


def bench_small(n_images, threads):
    from minideeplab._numba import set_num_threads
    from minideeplab.crf import dense_crf, grid_crf

    set_num_threads(threads)
    try:
        import pydensecrf  # noqa: F401
        have_ref = True
    except ImportError:
        have_ref = False
    data = load_msrc(n_images)
    dense_crf(data[0][1], fake_probs(data[0][2]), **KW)  # compile / load the kernels
    grid_crf(data[0][1], fake_probs(data[0][2]))
    t_ours, t_ref, t_grid, agree, gains = [], [], [], [], []
    for k, (name, img, gt) in enumerate(data):
        p = fake_probs(gt, seed=k)
        t = time.perf_counter()
        Q = dense_crf(img, p, **KW)
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        grid_crf(img, p)
        t_grid.append(time.perf_counter() - t)
        valid = gt < 21
        gains.append(((Q.argmax(0) == gt)[valid].mean() - (p.argmax(0) == gt)[valid].mean()))
        if have_ref:
            t = time.perf_counter()
            R = ref_crf(img, p)
            t_ref.append(time.perf_counter() - t)
            agree.append((Q.argmax(0) == R.argmax(0)).mean())
    med = statistics.median
    print(f"{len(data)} MSRC test images (first {data[0][1].shape[1]}x{data[0][1].shape[0]}), 21 labels, 10 iterations, "
          f"{threads} thread(s)")
    print(f"  dense_crf   median {med(t_ours) * 1e3:7.1f} ms   (min {min(t_ours) * 1e3:.1f}, max {max(t_ours) * 1e3:.1f})")
    if have_ref:
        print(f"  pydensecrf2 median {med(t_ref) * 1e3:7.1f} ms   (min {min(t_ref) * 1e3:.1f}, max {max(t_ref) * 1e3:.1f})")
        print(f"  ratio of medians ours/pydensecrf2: {med(t_ours) / med(t_ref):.2f}; "
              f"argmax agreement: median {med(agree):.5f}, min {min(agree):.5f}")
    print(f"  grid_crf    median {med(t_grid) * 1e3:7.1f} ms (4-connected)")
    print(f"  dense CRF accuracy gain over the unary (fake unaries): median {med(gains) * 100:.1f} points")


def bench_megapixel():
    """Time per pixel at ~1 MP against the small image, and peak RSS (run in a child)."""
    from PIL import Image

    from minideeplab.crf import dense_crf

    name, img, gt = load_msrc(1)[0]
    p = fake_probs(gt)
    dense_crf(img, p, **KW)
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        dense_crf(img, p, **KW)
        ts.append(time.perf_counter() - t)
    small = statistics.median(ts) / (img.shape[0] * img.shape[1])
    H, W = 817, 1224
    big = np.array(Image.fromarray(img).resize((W, H), Image.BILINEAR))
    pb = np.stack([np.array(Image.fromarray(c).resize((W, H), Image.BILINEAR)) for c in p])
    pb = (pb / pb.sum(0)).astype(np.float32)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ts = []
    for _ in range(3):
        t = time.perf_counter()
        dense_crf(big, pb, **KW)
        ts.append(time.perf_counter() - t)
    per = statistics.median(ts) / (H * W)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  {img.shape[1]}x{img.shape[0]}: {small * 1e9:.0f} ns/pixel; {W}x{H} ({H * W / 1e6:.2f} MP): "
          f"{statistics.median(ts):.2f} s, {per * 1e9:.0f} ns/pixel, ratio {per / small:.2f}; "
          f"peak RSS {rss / 1024:.0f} MiB (inputs alone {rss0 / 1024:.0f} MiB)")


COMPILE_SNIPPET = """
import time, numpy as np
t = time.perf_counter()
from minideeplab.crf import dense_crf, grid_crf
img = np.zeros((20, 30, 3), np.uint8); p = np.full((3, 20, 30), 1 / 3, np.float32)
dense_crf(img, p); grid_crf(img, p)
print(f"{time.perf_counter() - t:.2f}")
"""


def bench_compile():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("empty cache", "warm cache", "warm cache"):
            out = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip()
            print(f"  first dense_crf + grid_crf call in a fresh process ({label}), import included: {out} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--megapixel", action="store_true")
    args = ap.parse_args()
    if args.compile:
        bench_compile()
        return
    if args.megapixel:
        bench_megapixel()
        return
    from minideeplab.datasets.msrc import find_msrc

    if find_msrc() is None:
        sys.exit("MSRC not found at $MINIDEEPLAB_MSRC or ../shared/data/msrc")
    for t in args.threads:
        bench_small(args.images, t)
    subprocess.run([sys.executable, __file__, "--megapixel"], check=True)
    bench_compile()


if __name__ == "__main__":
    main()
