"""Seconds per training iteration of DeepLab-LargeFOV, ours beside PyTorch's, and where ours go.

    python benchmarks/bench_train.py [--iters 3]            # the three configurations below
    python benchmarks/bench_train.py --torch                # ... and PyTorch's s/iter, the ratio
    python benchmarks/bench_train.py --torch --forward      # ... and the inference forward pass alone
    python benchmarks/bench_train.py --torch --rounds 3     # each configuration 3 times, the sides taking turns
    python benchmarks/bench_train.py --config w0.125 --layers   # one preset, per-layer table of ours
    python benchmarks/bench_train.py --width 0.5 --batch 4 --crop 161 --torch   # a custom configuration
    python benchmarks/bench_train.py --width 1.0 0.25 0.125 --crop 321         # several widths, one shape

The presets (``--config``, all three by default) are the configurations of the speed target:

    full    width 1.0    batch 1  crop 321
    w0.25   width 0.25   batch 8  crop 129
    w0.125  width 0.125  batch 8  crop 129

Any of ``--width/--batch/--crop`` replaces the presets by one configuration per width
(missing ones: width 1.0, batch 1, crop 321).

One iteration = forward, pixel softmax cross-entropy at the score resolution
((crop - 1) // 8 + 1, labels random in [0, 21)), backward and the SGD step (momentum 0.9,
weight decay 5e-4, DeepLab's lr/decay multipliers): what ``Trainer.step`` does, minus data
loading. s/iter is the median of ``--iters`` iterations after one warm-up iteration.

Each side of each configuration runs in its own fresh process, ours first, so that the peak
resident set size (ru_maxrss) is the configuration's own and the two thread pools never meet.
Our process imports minideeplab before NumPy, as the command line does (OPENBLAS_THREAD_TIMEOUT
and the malloc setting of ``import minideeplab`` apply). PyTorch's process imports torch only
(no minideeplab, so default malloc) and runs the same layers (MaxPool2d(3, s, 1,
ceil_mode=True) = our Caffe rounding, conv5 dilation 2, fc6 3x3 dilation 12, dropout 0.5),
``cross_entropy``, ``zero_grad`` and ``torch.optim.SGD`` with the same multipliers, under
``torch.set_num_threads(T)``, T = our thread count (``numba.get_num_threads()``).

``--layers`` then times a few more iterations of ours layer by layer (``layer.forward`` and
``layer.backward`` over ``model.layers``, the loss, the SGD step) and prints a table in network
order (a ReLU's forward runs in its convolution's output pass, as in ``model.forward``: its
forward time is in the convolution's row, 0 in its own): the conv algorithm each Conv2d ran, forward and backward ms (medians), share of the sum.
``--forward`` adds the inference forward pass alone (``model.eval()`` under ``nn.no_grad()``, as
``predict`` runs it; torch: ``m.eval()``
under ``torch.no_grad()``), median of ``--iters`` after one warm-up. A ``#`` line under a
configuration flags a side whose timed iterations differ by more than 1.5x (a shared machine).
``--rounds R`` runs each configuration R times (ours, torch, ours, torch, ...: the two see the
same spells of a shared machine's load) and ends with each configuration's ratios per round and
their median. ``--keep-col-mib MIB`` sets ``nn.conv.KEEP_COL_BYTES`` in our process (an A/B of
the memory the forward pass keeps for the backward pass); ``--direct-max-channels N`` sets
``nn.direct.MAX_CHANNELS`` there (an A/B of the dispatch: the direct pair on the 3x3 layers of at
most N channels); ``--winograd-min-channels N`` sets ``nn.winograd.MIN_CHANNELS`` there (the
Winograd pair on the undilated 3x3 layers of at least N channels).

The output is plain text for benchmarks/RESULTS.md: command, date, CPU and threads on top.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time

# No minideeplab, NumPy or torch up here: the parent only starts children, and each child
# imports what it times (ours: minideeplab before NumPy; torch's: torch alone).

CONFIGS = {  # name: (width, batch, crop)
    "full": (1.0, 1, 321),
    "w0.25": (0.25, 8, 129),
    "w0.125": (0.125, 8, 129),
}
POOLS = [(3, 2, 1)] * 3 + [(3, 1, 1)] * 2  # DeepLab-LargeFOV's pool1..pool5 (kernel, stride, pad)
VGG_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
NUM_CLASSES = 21


def _ch(c, width):  # models.deeplab._ch
    return max(1, int(round(c * width)))


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- ours (child)
def ours(width, batch, crop, iters, layers=False, forward=False, keep_col_mib=None, direct_max=None,
         winograd_min=None):
    import minideeplab  # noqa: F401  (before NumPy: OPENBLAS_THREAD_TIMEOUT, malloc setting)
    import numba
    import numpy as np

    if keep_col_mib is not None:  # an A/B of the columns kept for the backward pass
        from minideeplab.nn import conv

        conv.KEEP_COL_BYTES = int(keep_col_mib) << 20
    if direct_max is not None:  # an A/B of the dispatch
        from minideeplab.nn import direct

        direct.MAX_CHANNELS = int(direct_max)
    if winograd_min is not None:
        from minideeplab.nn import winograd

        winograd.MIN_CHANNELS = int(winograd_min)

    from minideeplab import nn
    from minideeplab.models import DeepLab
    from minideeplab.nn.layers import forward_fused, fused
    from minideeplab.optim import SGD, deeplab_multipliers

    base = _peak_mib()
    m = DeepLab("DeepLab-LargeFOV", NUM_CLASSES, width=width, seed=0)
    opt = SGD(m.params, 1e-3, 0.9, 5e-4, *deeplab_multipliers(m.params))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, crop, crop)).astype(np.float32) * 50
    out_size = (crop - 1) // 8 + 1
    labels = rng.integers(0, NUM_CLASSES, size=(batch, out_size, out_size))
    times = []
    for _ in range(iters + 1):
        t = time.perf_counter()
        scores = m.forward(x)
        loss, cache = nn.softmax_cross_entropy_forward(scores, labels)
        m.backward(nn.softmax_cross_entropy_backward(cache), input_grad=False)  # as Trainer.step
        opt.step(m.grads)
        times.append(time.perf_counter() - t)
    res = dict(s_iter=_median(times[1:]), times=times, peak_mib=_peak_mib(), base_mib=base,
               params=m.num_params(), threads=numba.get_num_threads(),
               openblas_timeout=os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset"))

    if layers:  # the same iteration, layer by layer (the model has no side heads)
        rows = {l.name: ([], []) for l in m.layers}
        loss_f, loss_b, step, total = [], [], [], []
        for _ in range(iters):
            t0 = time.perf_counter()
            h = x
            for l, relu in fused(m.layers, keep=m.heads):  # as m.forward: a conv's ReLU in its output pass
                t = time.perf_counter()
                h = forward_fused(l, relu, h)
                rows[l.name][0].append(time.perf_counter() - t)
                if relu is not None:
                    rows[relu.name][0].append(0.0)  # (its forward is in the conv's row)
            t = time.perf_counter()
            loss, cache = nn.softmax_cross_entropy_forward(h, labels)
            loss_f.append(time.perf_counter() - t)
            t = time.perf_counter()
            d = nn.softmax_cross_entropy_backward(cache)
            loss_b.append(time.perf_counter() - t)
            for l in reversed(m.layers):
                t = time.perf_counter()
                d = l.backward(d, input_grad=False) if l is m.layers[0] else l.backward(d)
                rows[l.name][1].append(time.perf_counter() - t)
            t = time.perf_counter()
            opt.step(m.grads)
            step.append(time.perf_counter() - t)
            total.append(time.perf_counter() - t0)
        table = [(l.name, getattr(l, "last_algorithm", None) or "", _median(rows[l.name][0]),
                  _median(rows[l.name][1])) for l in m.layers]
        table.append(("loss", "", _median(loss_f), _median(loss_b)))
        res.update(layers=table, layers_step=_median(step), layers_s_iter=_median(total), layers_iters=iters)

    if forward:
        m.eval()
        ft = []
        for _ in range(iters + 1):
            t = time.perf_counter()
            with nn.no_grad():  # as predict does (torch: torch.no_grad())
                m.forward(x)
            ft.append(time.perf_counter() - t)
        m.train()
        res["forward_s"] = _median(ft[1:])
    return res


# --------------------------------------------------------------------------- torch (child)
def theirs(width, batch, crop, iters, threads, forward=False):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
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
             nn.Conv2d(c_fc, c_fc, 1), nn.ReLU(), nn.Dropout(0.5),
             nn.Conv2d(c_fc, NUM_CLASSES, 1)]
    m = nn.Sequential(*mods)
    fc8 = mods[-1]
    groups = [  # deeplab_multipliers: weights x1 with decay, biases x2 without; fc8 x10 / x20
        dict(params=[mod.weight for mod in mods if isinstance(mod, nn.Conv2d) and mod is not fc8], lr=1e-3),
        dict(params=[mod.bias for mod in mods if isinstance(mod, nn.Conv2d) and mod is not fc8], lr=2e-3,
             weight_decay=0.0),
        dict(params=[fc8.weight], lr=1e-2),
        dict(params=[fc8.bias], lr=2e-2, weight_decay=0.0),
    ]
    opt = torch.optim.SGD(groups, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, crop, crop) * 50
    out_size = (crop - 1) // 8 + 1
    labels = torch.randint(0, NUM_CLASSES, (batch, out_size, out_size))
    times = []
    for _ in range(iters + 1):
        t = time.perf_counter()
        scores = m(x)
        loss = nn.functional.cross_entropy(scores, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    if tuple(scores.shape) != (batch, NUM_CLASSES, out_size, out_size):
        raise RuntimeError(f"torch twin gives scores {tuple(scores.shape)}, ours {out_size}x{out_size}")
    res = dict(s_iter=_median(times[1:]), times=times, peak_mib=_peak_mib(), threads=torch.get_num_threads(),
               version=torch.__version__, params=sum(p.numel() for p in m.parameters()))
    if forward:
        m.eval()
        ft = []
        with torch.no_grad():
            for _ in range(iters + 1):
                t = time.perf_counter()
                m(x)
                ft.append(time.perf_counter() - t)
        res["forward_s"] = _median(ft[1:])
    return res


# --------------------------------------------------------------------------- parent
def _run_child(side, cfg, args, threads, layers=True):
    """Run one side of one configuration in a fresh process; its result dict, or None."""
    width, batch, crop = cfg
    cmd = [sys.executable, __file__, "--child", side, "--width", str(width), "--batch", str(batch),
           "--crop", str(crop), "--iters", str(args.iters), "--threads", str(threads)]
    cmd += ["--layers"] * (args.layers and layers and side == "ours") + ["--forward"] * args.forward
    if args.keep_col_mib is not None and side == "ours":
        cmd += ["--keep-col-mib", str(args.keep_col_mib)]
    if args.direct_max_channels is not None and side == "ours":
        cmd += ["--direct-max-channels", str(args.direct_max_channels)]
    if args.winograd_min_channels is not None and side == "ours":
        cmd += ["--winograd-min-channels", str(args.winograd_min_channels)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # stderr passes through
    if p.returncode != 0:
        print(f"# {side} failed for width {width:g} batch {batch} crop {crop} (exit status {p.returncode})",
              flush=True)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(pkg):
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _layer_table(name, cfg, r):
    width, batch, crop = cfg
    rows, step = r["layers"], r["layers_step"]
    total = sum(f + b for _, _, f, b in rows) + step

    def ms(seconds):
        return f"{seconds * 1e3:9.2f}"

    print(f"\nper layer, ours, {name}: width {width:g} batch {batch} crop {crop} "
          f"(medians of {r['layers_iters']} instrumented iterations)")
    print(f"{'layer':10s} {'algorithm':9s} {'fwd ms':>9s} {'bwd ms':>9s} {'total ms':>9s} {'share':>6s}")
    for lname, algo, f, b in rows:
        print(f"{lname:10s} {algo:9s} {ms(f)} {ms(b)} {ms(f + b)} {100 * (f + b) / total:5.1f}%")
    print(f"{'sgd step':10s} {'':9s} {'':9s} {'':9s} {ms(step)} {100 * step / total:5.1f}%")
    fs, bs = sum(f for _, _, f, _ in rows), sum(b for _, _, _, b in rows)
    print(f"{'sum':10s} {'':9s} {ms(fs)} {ms(bs)} {ms(total)} {100.0:5.1f}%")
    print(f"(an instrumented iteration took {r['layers_s_iter']:.3f} s, a plain one {r['s_iter']:.3f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", nargs="+", choices=list(CONFIGS), default=None,
                    help="presets to run (default: all three); see the module docstring")
    ap.add_argument("--width", type=float, nargs="+", help="custom configuration(s): one per width")
    ap.add_argument("--batch", type=int, help="custom configuration: batch (default 1)")
    ap.add_argument("--crop", type=int, help="custom configuration: crop (default 321)")
    ap.add_argument("--iters", type=int, default=3, help="timed iterations, after one warm-up (median)")
    ap.add_argument("--torch", action="store_true", help="also time PyTorch on the same shapes")
    ap.add_argument("--layers", action="store_true", help="per-layer table of one of our iterations")
    ap.add_argument("--forward", action="store_true", help="also time the inference forward pass alone")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run each configuration R times, ours and torch taking turns, then the median ratio")
    ap.add_argument("--keep-col-mib", type=int, metavar="MIB",
                    help="ours: keep im2col columns up to MIB for the backward pass (nn.conv.KEEP_COL_BYTES)")
    ap.add_argument("--direct-max-channels", type=int, metavar="N",
                    help="ours: the direct pair on 3x3 layers of at most N channels (nn.direct.MAX_CHANNELS)")
    ap.add_argument("--winograd-min-channels", type=int, metavar="N",
                    help="ours: the Winograd pair on undilated 3x3 layers of at least N channels "
                         "(nn.winograd.MIN_CHANNELS)")
    ap.add_argument("--child", choices=("ours", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.iters < 1:
        ap.error("--iters must be at least 1")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    if args.child:
        cfg = (args.width[0], args.batch, args.crop)
        if args.child == "ours":
            res = ours(*cfg, args.iters, args.layers, args.forward, args.keep_col_mib, args.direct_max_channels,
                       args.winograd_min_channels)
        else:
            res = theirs(*cfg, args.iters, args.threads, args.forward)
        print(json.dumps(res))
        return

    custom = args.width is not None or args.batch is not None or args.crop is not None
    if custom and args.config:
        ap.error("--config and --width/--batch/--crop are exclusive")
    if custom:
        configs = [("custom", (w, args.batch or 1, args.crop or 321)) for w in (args.width or [1.0])]
    else:
        configs = [(name, CONFIGS[name]) for name in (args.config or CONFIGS)]

    import numba  # the thread count our kernels use (NUMBA_NUM_THREADS, else all cores)

    threads = numba.get_num_threads()
    torch_version = _version("torch") if importlib.util.find_spec("torch") else None
    print(f"$ python {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"date {datetime.datetime.now().isoformat(timespec='seconds')}; "
          f"cpu {_cpu_model()}, {os.cpu_count()} cores; threads {threads} (numba.get_num_threads())")
    print(f"numpy {_version('numpy')}, numba {numba.__version__}, OPENBLAS_THREAD_TIMEOUT="
          f"{os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset (import minideeplab sets 4)')}; torch: "
          + ("not requested" if not args.torch else
             f"{torch_version}, torch.set_num_threads({threads})" if torch_version else
             "not installed, ours only"))
    do_torch = args.torch and torch_version is not None
    print(f"DeepLab-LargeFOV, {NUM_CLASSES} classes; one iteration = forward, loss, backward, SGD step; "
          f"median of {args.iters} after 1 warm-up; each side in its own process")
    head = f"{'config':10s} {'width':>6s} {'batch':>5s} {'crop':>4s} {'params':>11s} {'ours s/it':>9s}"
    if do_torch:
        head += f" {'torch s/it':>10s} {'ours/torch':>10s}"
    if args.forward:
        head += f" {'ours fwd s':>10s}" + (f" {'torch fwd s':>11s} {'fwd ratio':>9s}" if do_torch else "")
    head += f" {'ours peak RSS':>13s}" + (f" {'torch peak RSS':>14s}" if do_torch else "")
    print(head, flush=True)

    tables, ratios = [], {}  # ratios: (name, cfg) -> one (train, forward) pair per round, None where a side failed
    for (name, cfg), k in ((c, k) for c in configs for k in range(args.rounds)):
        width, batch, crop = cfg
        r = _run_child("ours", cfg, args, threads, layers=not any(c == cfg for _, c, _ in tables))
        t = _run_child("torch", cfg, args, threads) if do_torch else None
        if do_torch:
            ratios.setdefault((name, cfg), []).append(
                (r["s_iter"] / t["s_iter"], r["forward_s"] / t["forward_s"] if args.forward else None)
                if r and t else None)
        if r is None:
            continue
        if r["threads"] != threads:
            print(f"# ours ran with {r['threads']} threads, not {threads}")
        line = f"{name:10s} {width:6g} {batch:5d} {crop:4d} {r['params']:11,} {r['s_iter']:9.3f}"
        if do_torch:
            line += f" {t['s_iter']:10.3f} {r['s_iter'] / t['s_iter']:10.2f}" if t else f" {'failed':>10s} {'':10s}"
        if args.forward:
            line += f" {r['forward_s']:10.3f}"
            if do_torch:
                line += (f" {t['forward_s']:11.3f} {r['forward_s'] / t['forward_s']:9.2f}" if t
                         else f" {'failed':>11s} {'':9s}")
        line += f" {r['peak_mib']:9.0f} MiB"
        if do_torch:
            line += f" {t['peak_mib']:10.0f} MiB" if t else f" {'':>14s}"
        print(line, flush=True)
        if t and (t["params"] != r["params"] or t["threads"] != threads):
            print(f"# torch twin: {t['params']:,} params, {t['threads']} threads")
        for side, res in (("ours", r), ("torch", t)):
            if res and max(res["times"][1:]) > 1.5 * min(res["times"][1:]):
                print(f"# {side}: noisy, iterations took " + ", ".join(f"{s:.3f}" for s in res["times"][1:])
                      + f" s (warm-up {res['times'][0]:.3f} s)")
        if args.layers and "layers" in r:
            tables.append((name, cfg, r))
    for (name, (width, batch, crop)), rs in ratios.items() if args.rounds > 1 else ():
        ok = [x for x in rs if x is not None]
        line = (f"{name} (width {width:g}, batch {batch}, crop {crop}): ours/torch per round "
                + ", ".join("failed" if x is None else f"{x[0]:.2f}" for x in rs))
        line += f"; median {_median([a for a, _ in ok]):.2f}" if ok else ""
        if args.forward and ok:
            line += (", forward per round " + ", ".join("failed" if x is None else f"{x[1]:.2f}" for x in rs)
                     + f"; median {_median([b for _, b in ok]):.2f}")
        print(line + (f" ({len(ok)} of {len(rs)} rounds)" if len(ok) < len(rs) else ""))
    for name, cfg, r in tables:
        _layer_table(name, cfg, r)


if __name__ == "__main__":
    main()
