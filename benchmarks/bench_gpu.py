"""Seconds per training iteration of DeepLab-LargeFOV on a CUDA GPU: ours on CuPy beside PyTorch's.

    python benchmarks/bench_gpu.py                       # the presets below, ours and torch (if importable)
    python benchmarks/bench_gpu.py --config w0.125 --iters 10
    python benchmarks/bench_gpu.py --config paper --layers   # per-layer table of ours

Presets (width, batch, crop): the three of ``bench_train.py`` and the paper's training batch,

    full    1.0    1  321
    w0.25   0.25   8  129
    w0.125  0.125  8  129
    paper   1.0   20  321     (DeepLab-LargeFOV on VOC: batch 20, crop 321)

One iteration is ``bench_train.py``'s (forward, pixel softmax cross-entropy, backward, SGD step
with DeepLab's multipliers), on device arrays, ended by a device synchronisation; s/iter is the
median of ``--iters`` after two warm-up iterations (CuPy compiles its kernels on first use).
PyTorch runs the same layers (``bench_train.theirs``'s network) on ``cuda`` in float32 with
its defaults (cuDNN, TF32 off for convolutions as PyTorch ships it). Also printed: the
inference forward pass of one 321 x 321 image and the peak device memory of each side (CuPy's
memory pool high-water mark; ``torch.cuda.max_memory_allocated``).

The library has no GPU kernels of its own: on CuPy every op runs its readable ``xp`` version
(im2col + cuBLAS GEMM for convolutions, window gathers for pooling), so this measures how far
that shared code path is from a framework built for the GPU.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import NUM_CLASSES, POOLS, VGG_BLOCKS, _ch, _median  # noqa: E402

CONFIGS = {"full": (1.0, 1, 321), "w0.25": (0.25, 8, 129), "w0.125": (0.125, 8, 129), "paper": (1.0, 20, 321)}
WARMUP = 2


def ours(width, batch, crop, iters, layers=False):
    import cupy as cp
    import numpy as np

    from minideeplab import nn
    from minideeplab.models import DeepLab
    from minideeplab.optim import SGD, deeplab_multipliers

    pool = cp.get_default_memory_pool()
    m = DeepLab("DeepLab-LargeFOV", NUM_CLASSES, width=width, seed=0).to(cp)
    opt = SGD(m.params, 1e-3, 0.9, 5e-4, *deeplab_multipliers(m.params))
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal((batch, 3, crop, crop)).astype(np.float32) * 50)
    out = (crop - 1) // 8 + 1
    labels = cp.asarray(rng.integers(0, NUM_CLASSES, size=(batch, out, out)))
    sync = cp.cuda.Device().synchronize
    times = []
    for _ in range(iters + WARMUP):
        sync()
        t = time.perf_counter()
        scores = m.forward(x)
        loss, cache = nn.softmax_cross_entropy_forward(scores, labels)
        m.backward(nn.softmax_cross_entropy_backward(cache), input_grad=False)
        opt.step(m.grads)
        sync()
        times.append(time.perf_counter() - t)
    res = dict(s_iter=_median(times[WARMUP:]), peak_gib=pool.total_bytes() / 2 ** 30, loss=loss)
    m.eval()
    img = cp.asarray(rng.standard_normal((1, 3, 321, 321)).astype(np.float32) * 50)
    ft = []
    for _ in range(iters + WARMUP):
        sync()
        t = time.perf_counter()
        with nn.no_grad():
            m.forward(img)
        sync()
        ft.append(time.perf_counter() - t)
    res["forward_s"] = _median(ft[WARMUP:])
    m.train()
    if layers:
        rows = {l.name: ([], []) for l in m.layers}
        for _ in range(iters):
            h = x
            for l in m.layers:
                sync()
                t = time.perf_counter()
                h = l.forward(h)
                sync()
                rows[l.name][0].append(time.perf_counter() - t)
            loss, cache = nn.softmax_cross_entropy_forward(h, labels)
            d = nn.softmax_cross_entropy_backward(cache)
            for l in reversed(m.layers):
                sync()
                t = time.perf_counter()
                d = l.backward(d, input_grad=False) if l is m.layers[0] else l.backward(d)
                sync()
                rows[l.name][1].append(time.perf_counter() - t)
        res["layers"] = [(n, _median(f), _median(b)) for n, (f, b) in rows.items()]
    res["peak_gib"] = max(res["peak_gib"], pool.total_bytes() / 2 ** 30)
    del m, opt, x, scores, cache
    pool.free_all_blocks()
    return res


def theirs(width, batch, crop, iters):
    import torch
    from torch import nn

    dev = torch.device("cuda")
    torch.manual_seed(0)
    mods, c_in = [], 3
    for b, (c, n) in enumerate(VGG_BLOCKS, start=1):
        dil = 2 if b == 5 else 1
        for _ in range(n):
            mods += [nn.Conv2d(c_in, _ch(c, width), 3, 1, dil, dil), nn.ReLU()]
            c_in = _ch(c, width)
        k, s, p = POOLS[b - 1]
        mods.append(nn.MaxPool2d(k, s, p, ceil_mode=True))
    c_fc = _ch(1024, width)
    mods += [nn.Conv2d(c_in, c_fc, 3, 1, 12, 12), nn.ReLU(), nn.Dropout(0.5),
             nn.Conv2d(c_fc, c_fc, 1), nn.ReLU(), nn.Dropout(0.5), nn.Conv2d(c_fc, NUM_CLASSES, 1)]
    m = nn.Sequential(*mods).to(dev)
    fc8 = mods[-1]
    convs = [mod for mod in mods if isinstance(mod, nn.Conv2d) and mod is not fc8]
    opt = torch.optim.SGD([dict(params=[c.weight for c in convs], lr=1e-3),
                           dict(params=[c.bias for c in convs], lr=2e-3, weight_decay=0.0),
                           dict(params=[fc8.weight], lr=1e-2), dict(params=[fc8.bias], lr=2e-2, weight_decay=0.0)],
                          lr=1e-3, momentum=0.9, weight_decay=5e-4)
    torch.cuda.reset_peak_memory_stats()
    x = torch.randn(batch, 3, crop, crop, device=dev) * 50
    out = (crop - 1) // 8 + 1
    labels = torch.randint(0, NUM_CLASSES, (batch, out, out), device=dev)
    times = []
    for _ in range(iters + WARMUP):
        torch.cuda.synchronize()
        t = time.perf_counter()
        scores = m(x)
        loss = nn.functional.cross_entropy(scores, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    res = dict(s_iter=_median(times[WARMUP:]), version=torch.__version__)
    m.eval()
    img = torch.randn(1, 3, 321, 321, device=dev) * 50
    ft = []
    with torch.no_grad():
        for _ in range(iters + WARMUP):
            torch.cuda.synchronize()
            t = time.perf_counter()
            m(img)
            torch.cuda.synchronize()
            ft.append(time.perf_counter() - t)
    res["forward_s"] = _median(ft[WARMUP:])
    res["peak_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    del m, opt, x
    torch.cuda.empty_cache()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    ap.add_argument("--iters", type=int, default=5, help="timed iterations after two warm-ups (median)")
    ap.add_argument("--layers", action="store_true", help="per-layer table of ours (synchronised per layer)")
    ap.add_argument("--no-torch", action="store_true", help="ours only")
    args = ap.parse_args()

    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(0)
    print(f"# python benchmarks/bench_gpu.py {' '.join(sys.argv[1:])}")
    print(f"# {datetime.date.today()}, {props['name'].decode()}, CuPy {cp.__version__}, CUDA runtime "
          f"{cp.cuda.runtime.runtimeGetVersion()}")
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch and torch.cuda.is_available()
    except ImportError:
        have_torch = False
    print(f"{'config':8s} {'width':>6s} {'batch':>5s} {'crop':>4s} | {'ours s/it':>9s} {'torch s/it':>10s} "
          f"{'ratio':>6s} | {'ours fwd ms':>11s} {'torch fwd ms':>12s} | {'ours GiB':>8s} {'torch GiB':>9s}")
    for name in args.config:
        cfg = CONFIGS[name]
        o = ours(*cfg, args.iters, layers=args.layers)
        t = theirs(*cfg, args.iters) if have_torch else None
        ratio = f"{o['s_iter'] / t['s_iter']:6.2f}" if t else "     -"
        print(f"{name:8s} {cfg[0]:6g} {cfg[1]:5d} {cfg[2]:4d} | {o['s_iter']:9.4f} "
              f"{(t['s_iter'] if t else float('nan')):10.4f} {ratio} | {o['forward_s'] * 1e3:11.2f} "
              f"{(t['forward_s'] * 1e3 if t else float('nan')):12.2f} | {o['peak_gib']:8.2f} "
              f"{(t['peak_gib'] if t else float('nan')):9.2f}", flush=True)
        if args.layers:
            total = sum(f + b for _, f, b in o["layers"])
            print(f"  per layer, ours ({name}): layer, fwd ms, bwd ms, share")
            for lname, f, b in o["layers"]:
                print(f"  {lname:10s} {f * 1e3:8.2f} {b * 1e3:8.2f} {100 * (f + b) / total:5.1f}%")
    if have_torch:
        print(f"# torch {t['version'] if t else ''}")


if __name__ == "__main__":
    main()
