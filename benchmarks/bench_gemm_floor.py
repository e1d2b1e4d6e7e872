"""The matrix products alone of one DeepLab-LargeFOV training iteration: a floor under any
im2col-based convolution.

    python benchmarks/bench_gemm_floor.py [--width 0.125 0.25] [--batch 8] [--crop 129] [--repeat 7]

For every Conv2d layer of the model (shapes taken from one forward pass), the three products
an im2col convolution needs, on random float32 operands already in memory, through NumPy's
BLAS with the library's threads: the forward ``(F, K) @ (N, K, P)``, the weight gradient
``(K, P) @ (P, F)`` per image and the input gradient ``(K, F) @ (N, F, P)`` (none for the first
layer), K = C kh kw, P = H' W'. fc6's taps pair multiplies only the taps that land inside the
map: it is counted here as its centre tap alone (K = C), less than it does. Nothing else is
counted (no im2col or col2im, pooling, ReLU, loss, optimizer, Python): the sum is a lower bound
on our iteration while the convolutions are GEMM-based, to set beside PyTorch's whole iteration
(``bench_train.py --torch``) measured in the same session. Medians of ``--repeat`` after one
warm-up; the output is plain text for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime
import time


def _median_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * sorted(times)[len(times) // 2]


def conv_shapes(width, batch, crop):
    """(name, N, C, F, kh, kw, Ho, Wo, algorithm) of every Conv2d layer, from one forward pass."""
    import numpy as np

    from minideeplab import nn
    from minideeplab.models import DeepLab

    m = DeepLab("DeepLab-LargeFOV", 21, width=width, seed=0)
    h = np.zeros((batch, 3, crop, crop), np.float32)
    rows = []
    with nn.no_grad():
        for layer in m.layers:
            out = layer.forward(h)
            if isinstance(layer, nn.Conv2d):
                F, C, kh, kw = layer.params["weight"].shape
                rows.append((layer.name, batch, C, F, kh, kw, out.shape[2], out.shape[3], layer.last_algorithm))
            h = out
    return rows


def floor(width, batch, crop, repeat):
    import numpy as np

    rng = np.random.default_rng(0)
    table = []
    for i, (name, N, C, F, kh, kw, Ho, Wo, algorithm) in enumerate(conv_shapes(width, batch, crop)):
        K, P = (C if algorithm == "taps" else C * kh * kw), Ho * Wo
        w = rng.standard_normal((F, K), dtype=np.float32)
        col = rng.standard_normal((N, K, P), dtype=np.float32)
        dout = rng.standard_normal((N, F, P), dtype=np.float32)
        fwd = _median_ms(lambda: np.matmul(w, col), repeat)

        def weight_grad():
            dw = np.zeros((K, F), np.float32)
            for n in range(N):
                dw += col[n] @ dout[n].T

        dw = _median_ms(weight_grad, repeat)
        dx = 0.0 if i == 0 else _median_ms(lambda: np.matmul(w.T, dout), repeat)
        table.append((name, algorithm, C, F, K, f"{Ho}x{Wo}", fwd, dw, dx))
    return table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=float, nargs="+", default=[0.125, 0.25])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=129)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    import minideeplab  # noqa: F401  (before NumPy, as the command line: the OpenBLAS settings)
    import numba
    import numpy as np

    print(f"$ python benchmarks/bench_gemm_floor.py --width {' '.join(map(str, args.width))} --batch {args.batch} "
          f"--crop {args.crop} --repeat {args.repeat}")
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info()
                         if p["user_api"] == "blas")
    except ImportError:
        blas = "BLAS threads unknown (no threadpoolctl)"
    print(f"date {datetime.datetime.now().isoformat(timespec='seconds')}; numpy {np.__version__}; "
          f"numba threads {numba.get_num_threads()}; {blas}")
    for width in args.width:
        table = floor(width, args.batch, args.crop, args.repeat)
        print(f"\nwidth {width}, batch {args.batch}, crop {args.crop}: GEMM ms (medians of {args.repeat})")
        print(f"{'layer':8s} {'algorithm':9s} {'C':>5s} {'F':>5s} {'K':>5s} {'map':>7s} {'fwd':>7s} {'dW':>7s} "
              f"{'dX':>7s} {'sum':>7s}")
        for name, algorithm, C, F, K, size, fwd, dw, dx in table:
            print(f"{name:8s} {algorithm:9s} {C:5d} {F:5d} {K:5d} {size:>7s} {fwd:7.2f} {dw:7.2f} {dx:7.2f} "
                  f"{fwd + dw + dx:7.2f}")
        total = sum(r[6] + r[7] + r[8] for r in table)
        print(f"GEMMs of one iteration at width {width}: {total:.1f} ms "
              f"(forward {sum(r[6] for r in table):.1f}, weight gradients {sum(r[7] for r in table):.1f}, "
              f"input gradients {sum(r[8] for r in table):.1f})")


if __name__ == "__main__":
    main()
