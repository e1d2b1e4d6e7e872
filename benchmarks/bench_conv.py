"""Conv forward+backward time and GFLOP/s on DeepLab's shapes, beside torch (if installed).

    python benchmarks/bench_conv.py [--repeat 5] [--threads 2]
    python benchmarks/bench_conv.py --breakdown    # im2col's steps, per shape
    python benchmarks/bench_conv.py --sweep        # Winograd vs im2col by channel count
    python benchmarks/bench_conv.py --layers --width 0.25 --batch 8 --crop 129
    python benchmarks/bench_conv.py --layers --width 1.0 --batch 1 --crop 321   # slow: ~30 s a pass

Prints one row per shape: minideeplab seconds, GFLOP/s, torch seconds, the ratio
ours/torch, and the NumPy float32 matmul peak of this machine for scale.
FLOPs counted: forward 2*N*F*C*kh*kw*H'*W', backward twice that (dx and dw).

``--layers``: every conv layer of DeepLab-LargeFOV (conv1_1 .. conv5_3, fc6, fc7; not fc8)
at ``--width``, ``--batch`` and ``--crop``, one row each: C, F, the map size H, the dilation,
forward GFLOP, forward + backward milliseconds of our im2col, Winograd, direct and taps pairs
("-" where ``winograd.fits`` is false: Winograd and direct fit the same layers; taps is timed on
the dilated layers only, it equals im2col's products elsewhere), the pair
``Conv2d.algorithm_for`` picks (a "*" where another pair measured faster) and its time, the
GFLOP/s of the fastest of our pairs,
torch's forward milliseconds and GFLOP/s (to hold against the matmul peak line: where it is
above it, torch computes more than this machine's NumPy GEMM could), torch's forward + backward
milliseconds and GFLOP/s, and ours (picked pair) / torch; a sum row closes it.
conv1_1 computes no input gradient (a network's first layer), in ours and in torch, so its
forward + backward counts 2x the forward FLOPs instead of 3x.

torch is timed in a child process: imported beside NumPy, its thread pool and
OpenBLAS's fight over the 2 cores and NumPy's matmul runs at half speed.
minideeplab is imported before NumPy, as its command line does, so that its default
OPENBLAS_THREAD_TIMEOUT=4 applies (see minideeplab/__init__.py); the header prints it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import platform
import statistics
import time

import minideeplab  # noqa: F401  (before NumPy: OpenBLAS reads its settings when NumPy loads it)
import numpy as np

from minideeplab.nn import (Conv2d, MaxPool2d, conv2d_direct_backward, conv2d_direct_forward, conv2d_im2col_backward,
                            conv2d_im2col_forward, conv2d_taps_backward, conv2d_taps_forward, conv2d_winograd_backward,
                            conv2d_winograd_forward, conv_output_size, pool_output_size, winograd)

SHAPES = [  # name, C, F, H, k, pad, dilation
    ("conv 64ch 161x161", 64, 64, 161, 3, 1, 1),
    ("conv 256ch 41x41", 256, 256, 41, 3, 1, 1),
    ("conv5 512ch 41x41 d2", 512, 512, 41, 3, 2, 2),
    ("fc6 512->1024 41x41 d12", 512, 1024, 41, 3, 12, 12),
]


def _median_time(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_peak(repeat):
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    t = _median_time(lambda: a @ a, repeat)
    return 2 * 2048**3 / t / 1e9


def _inputs(C, F, H, k, N):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    w = (rng.standard_normal((F, C, k, k)) * 0.01).astype(np.float32)
    return x, w, np.zeros(F, np.float32)


def torch_times(repeat, threads, N):
    """Run in a child process: {shape name: median seconds} for torch, or {} without torch."""
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(threads)
    out = {"version": torch.__version__}
    for name, C, F, H, k, p, d in SHAPES:
        x, w, b = _inputs(C, F, H, k, N)
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True)

        def theirs():
            o = torch.nn.functional.conv2d(tx, tw, tb, padding=p, dilation=d)
            o.backward(torch.ones_like(o))

        out[name] = _median_time(theirs, repeat)
    return out


def breakdown(repeat, N):
    """Seconds of each step of our forward + backward: im2col, the three GEMMs, col2im."""
    from minideeplab.nn import col2im, im2col

    print(f"{'shape':26s} {'im2col':>7s} {'fwd GEMM':>9s} {'dW GEMM':>8s} {'dcol GEMM':>9s} {'col2im':>7s} "
          f"{'GEMMs':>7s} (seconds)")
    for name, C, F, H, k, p, d in SHAPES:
        x, w, _ = _inputs(C, F, H, k, N)
        args = ((1, 1), (p, p), (d, d))
        col = im2col(x, k, k, *args)
        c = col.reshape(N, C * k * k, -1)
        wm = w.reshape(F, -1)
        dout = np.ones((N, F, c.shape[-1]), np.float32)
        t = [_median_time(lambda: im2col(x, k, k, *args), repeat),
             _median_time(lambda: np.matmul(wm, c), repeat),
             _median_time(lambda: [dout[n] @ c[n].T for n in range(N)], repeat),
             _median_time(lambda: np.matmul(wm.T, dout), repeat),
             _median_time(lambda: col2im(col, H, H, *args), repeat)]
        print(f"{name:26s} {t[0]:7.3f} {t[1]:9.3f} {t[2]:8.3f} {t[3]:9.3f} {t[4]:7.3f} {sum(t[1:4]):7.3f}",
              flush=True)


SWEEP = [(C, H) for C in (8, 16, 32, 64, 128) for H in (161, 81, 41)] + [(256, 41), (512, 41)]


def _forward_backward(x, w, b, p, d, algorithm, dout=None, input_grad=True):
    """One forward + backward of the pair ``algorithm`` (stride 1, padding p, dilation d);
    ``dout`` None: ones, made inside the timed call; ``input_grad=False``: no dx (a first layer)."""
    if algorithm == "winograd":
        out, cache = conv2d_winograd_forward(x, w, b, d)
        conv2d_winograd_backward(np.ones_like(out) if dout is None else dout, cache, input_grad)
    elif algorithm == "direct":
        out, cache = conv2d_direct_forward(x, w, b, d)
        conv2d_direct_backward(np.ones_like(out) if dout is None else dout, cache, input_grad)
    elif algorithm == "taps":
        out, cache = conv2d_taps_forward(x, w, b, p, d)
        conv2d_taps_backward(np.ones_like(out) if dout is None else dout, cache, input_grad)
    else:
        out, cache = conv2d_im2col_forward(x, w, b, 1, p, d)
        conv2d_im2col_backward(np.ones_like(out) if dout is None else dout, cache, input_grad)


def sweep(repeat, N):
    """Forward + backward of C -> C 3x3 convolutions (padding 1) by each pair."""
    print(f"{'channels':>8s} {'size':>8s} {'winograd s':>11s} {'im2col s':>9s} {'ratio':>6s}")
    for C, H in SWEEP:
        x, w, b = _inputs(C, C, H, 3, N)
        dout = np.ones((N, C, H, H), np.float32)
        t_w = _median_time(lambda: _forward_backward(x, w, b, 1, 1, "winograd", dout), repeat)
        t_i = _median_time(lambda: _forward_backward(x, w, b, 1, 1, "im2col", dout), repeat)
        print(f"{C:8d} {H:>4d}x{H:<3d} {t_w:11.4f} {t_i:9.4f} {t_w / t_i:6.2f}", flush=True)


def deeplab_layers(width, crop):
    """(name, C, F, H, k, pad, dilation) of every conv layer of DeepLab-LargeFOV at ``width``
    but fc8, read off the model itself; H is the map each sees from a crop x crop image
    (pools with Caffe's ceil rounding: 129 -> 65 -> 33 -> 17, 321 -> 161 -> 81 -> 41)."""
    from minideeplab.models.deeplab import DeepLab

    layers, H = [], crop
    for l in DeepLab("DeepLab-LargeFOV", width=width).layers:
        if isinstance(l, Conv2d) and l.name != "fc8":
            (k, _), (s, _), (p, _), (d, _) = l.kernel_size, l.stride, l.padding, l.dilation
            layers.append((l.name, l.in_channels, l.out_channels, H, k, p, d))
            H = conv_output_size(H, k, s, p, d)
        elif isinstance(l, MaxPool2d):
            H = pool_output_size(H, l.kernel_size[0], l.stride[0], l.padding[0])
    return layers


def _dout(N, F, H, k, p, d):
    """The upstream gradient of a layer (stride 1), the same in ours and in torch."""
    Ho = conv_output_size(H, k, 1, p, d)
    return np.random.default_rng(1).standard_normal((N, F, Ho, Ho)).astype(np.float32)


def torch_layer_times(layers, repeat, threads, N):
    """Run in a child process: {layer: [forward s, forward + backward s]} for torch, or {}
    without torch. The first layer's input needs no gradient, as in a network."""
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(threads)
    out = {"version": torch.__version__}
    for i, (name, C, F, H, k, p, d) in enumerate(layers):
        x, w, b = _inputs(C, F, H, k, N)
        tx = torch.tensor(x, requires_grad=i > 0)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True)
        g = torch.tensor(_dout(N, F, H, k, p, d))

        def forward():
            with torch.no_grad():
                torch.nn.functional.conv2d(tx, tw, tb, padding=p, dilation=d)

        def forward_backward():
            tx.grad = tw.grad = tb.grad = None  # fresh gradients, as ours returns
            torch.nn.functional.conv2d(tx, tw, tb, padding=p, dilation=d).backward(g)

        out[name] = [_median_time(forward, repeat), _median_time(forward_backward, repeat)]
    return out


def _header(threads, ttimes, repeat):
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info())
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; {blas}; "
          f"OPENBLAS_THREAD_TIMEOUT={os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}")
    print(f"torch: {ttimes['version'] + f' ({threads} threads, own process)' if ttimes else 'not installed'}")
    print(f"numpy float32 matmul peak (2048^3): {matmul_peak(repeat):.1f} GFLOP/s", flush=True)


def layers_table(layers, ttimes, repeat, N):
    """One row per layer: our four pairs, the dispatch's pick, torch; then the sums."""
    print(f"{'layer':8s} {'C':>5s} {'F':>5s} {'H':>4s} {'d':>3s} {'GFLOP':>8s} | {'im2col':>9s} {'winograd':>9s} "
          f"{'direct':>9s} {'taps':>9s} {'pick':>9s} {'ours':>9s} {'GFLOP/s':>7s} | {'torch fw':>9s} {'GFLOP/s':>7s} "
          f"{'torch f+b':>9s} {'GFLOP/s':>7s} | {'ours/torch':>10s}")
    print(f"{'':8s} {'':>5s} {'':>5s} {'':>4s} {'':>3s} {'forward':>8s} | {'f+b ms':>9s} {'f+b ms':>9s} "
          f"{'f+b ms':>9s} {'f+b ms':>9s} {'':>9s} {'f+b ms':>9s} {'best':>7s} | {'ms':>9s} {'':>7s} {'ms':>9s} {'':>7s} | "
          f"{'f+b':>10s}")
    total = {"gflop": 0.0, "fb_gflop": 0.0, "im2col": 0.0, "ours": 0.0, "best": 0.0, "torch_fw": 0.0, "torch_fb": 0.0}
    for i, (name, C, F, H, k, p, d) in enumerate(layers):
        x, w, b = _inputs(C, F, H, k, N)
        dout = _dout(N, F, H, k, p, d)
        input_grad = i > 0  # the first layer: no gradient for the image
        gflop = 2 * N * F * C * k * k * dout.shape[2] * dout.shape[3] / 1e9
        fb_gflop = (3 if input_grad else 2) * gflop
        pick = Conv2d(C, F, k, 1, p, d, dtype=np.float32).algorithm_for(x)
        t = {"im2col": _median_time(lambda: _forward_backward(x, w, b, p, d, "im2col", dout, input_grad), repeat)}
        if winograd.fits((k, k), (1, 1), (p, p), (d, d)):  # the direct pair fits the same layers
            for alg in ("winograd", "direct"):
                t[alg] = _median_time(lambda: _forward_backward(x, w, b, p, d, alg, dout, input_grad), repeat)
        if d > 1:
            t["taps"] = _median_time(lambda: _forward_backward(x, w, b, p, d, "taps", dout, input_grad), repeat)
        best = min(t.values())
        mark = "*" if t[pick] > best else ""
        other = " ".join(f"{t[a] * 1e3:9.2f}" if a in t else f"{'-':>9s}" for a in ("winograd", "direct", "taps"))
        row = (f"{name:8s} {C:5d} {F:5d} {H:4d} {d:3d} {gflop:8.4f} | {t['im2col'] * 1e3:9.2f} {other} "
               f"{pick + mark:>9s} {t[pick] * 1e3:9.2f} {fb_gflop / best:7.1f} | ")
        for key, v in (("gflop", gflop), ("fb_gflop", fb_gflop), ("im2col", t["im2col"]), ("ours", t[pick]),
                       ("best", best)):
            total[key] += v
        if name in ttimes:
            t_fw, t_fb = ttimes[name]
            total["torch_fw"] += t_fw
            total["torch_fb"] += t_fb
            row += (f"{t_fw * 1e3:9.2f} {gflop / t_fw:7.1f} {t_fb * 1e3:9.2f} {fb_gflop / t_fb:7.1f} | "
                    f"{t[pick] / t_fb:10.2f}")
        else:
            row += f"{'-':>9s} {'-':>7s} {'-':>9s} {'-':>7s} | {'-':>10s}"
        print(row, flush=True)
    row = (f"{'sum':8s} {'':>5s} {'':>5s} {'':>4s} {'':>3s} {total['gflop']:8.4f} | {total['im2col'] * 1e3:9.2f} "
           f"{'-':>9s} {'-':>9s} {'-':>9s} {'':>9s} {total['ours'] * 1e3:9.2f} {total['fb_gflop'] / total['best']:7.1f} | ")
    if ttimes:
        row += (f"{total['torch_fw'] * 1e3:9.2f} {total['gflop'] / total['torch_fw']:7.1f} "
                f"{total['torch_fb'] * 1e3:9.2f} {total['fb_gflop'] / total['torch_fb']:7.1f} | "
                f"{total['ours'] / total['torch_fb']:10.2f}")
    print(row)
    print(f"ours with the fastest pair on every layer: {total['best'] * 1e3:.2f} ms "
          f"(the dispatch's picks: {total['ours'] * 1e3:.2f} ms; * marks a layer where another pair was faster)")
    print("GFLOP/s: forward + backward = 3x the forward FLOPs (2x for the first layer: no input gradient); "
          "ours: the fastest of the pairs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--breakdown", action="store_true", help="time im2col, the GEMMs and col2im separately")
    ap.add_argument("--sweep", action="store_true", help="Winograd vs im2col from 8 to 512 channels")
    ap.add_argument("--layers", action="store_true",
                    help="every conv layer of DeepLab-LargeFOV at --width/--batch/--crop, both pairs, torch")
    ap.add_argument("--width", type=float, default=1.0, help="--layers: channel multiplier")
    ap.add_argument("--crop", type=int, default=321, help="--layers: input size")
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sweep:
        sweep(args.repeat, args.batch)
        return
    if args.breakdown:
        breakdown(args.repeat, args.batch)
        return
    layers = deeplab_layers(args.width, args.crop) if args.layers else None
    if args.torch_child:
        result = (torch_layer_times(layers, args.repeat, args.threads, args.batch) if args.layers
                  else torch_times(args.repeat, args.threads, args.batch))
        print(json.dumps(result))
        return
    cmd = [sys.executable, __file__, "--torch-child", "--repeat", str(args.repeat), "--threads", str(args.threads),
           "--batch", str(args.batch)]
    if args.layers:
        cmd += ["--layers", "--width", repr(args.width), "--crop", str(args.crop)]
    child = subprocess.run(cmd, capture_output=True, text=True, check=True)
    ttimes = json.loads(child.stdout.strip().splitlines()[-1])
    _header(args.threads, ttimes, args.repeat)
    if args.layers:
        print(f"DeepLab-LargeFOV width {args.width:g}, batch {args.batch}, crop {args.crop}; "
              f"median of {args.repeat}")
        layers_table(layers, ttimes, args.repeat, args.batch)
        return
    print(f"{'shape':26s} {'path':>8s} {'ours s':>8s} {'GFLOP/s':>8s} {'torch s':>8s} {'GFLOP/s':>8s} {'ours/torch':>10s}")
    N = args.batch
    for name, C, F, H, k, p, d in SHAPES:
        x, w, b = _inputs(C, F, H, k, N)
        flops = 3 * 2 * N * F * C * k * k * H * H

        # the pair a Conv2d layer runs for this shape (nn.Conv2d.algorithm_for)
        path = Conv2d(C, F, k, 1, p, d, dtype=np.float32).algorithm_for(x)
        t_ours = _median_time(lambda: _forward_backward(x, w, b, p, d, path), args.repeat)
        row = f"{name:26s} {path:>8s} {t_ours:8.3f} {flops / t_ours / 1e9:8.1f}"
        if name in ttimes:
            t_torch = ttimes[name]
            row += f" {t_torch:8.3f} {flops / t_torch / 1e9:8.1f} {t_ours / t_torch:10.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
