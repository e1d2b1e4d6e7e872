"""The tap-by-tap convolution pair (``nn.taps``): against the loop twin, float64 numerical
gradients, the im2col pair (asymmetric geometries, the threaded float32 path), its rectangles
against brute force, and the one dispatch in ``Conv2d``."""
import numpy as np
import pytest

import naive
from minideeplab import nn
from minideeplab._validate import pair
from minideeplab.nn import numerical_gradient, rel_error, taps


@pytest.mark.parametrize("C,F,H,W,k,p,d", [(1, 1, 1, 1, 3, 1, 1), (2, 3, 5, 7, 3, 2, 2), (3, 2, 9, 11, 3, 3, 3),
                                           (2, 2, 13, 13, 3, 12, 12), (2, 3, 17, 9, 3, 12, 12), (2, 2, 5, 6, 1, 0, 1),
                                           (2, 2, 8, 8, 5, 4, 2), (1, 2, 4, 4, 3, 0, 1), (2, 1, 3, 3, 3, 5, 4)])
def test_taps_conv_matches_naive_and_gradients(C, F, H, W, k, p, d, rng):
    """fc6's geometry on maps smaller than the dilation (only the centre tap finds input),
    padding other than the dilation, 1x1 and 5x5 kernels."""
    x = rng.standard_normal((2, C, H, W))
    w, b = rng.standard_normal((F, C, k, k)), rng.standard_normal(F)
    out, cache = nn.conv2d_taps_forward(x, w, b, p, d)
    assert rel_error(out, naive.conv2d(x, w, b, 1, p, d)) < 1e-12
    dout = rng.standard_normal(out.shape)
    dx, dw, db = nn.conv2d_taps_backward(dout, cache)
    f = lambda: nn.conv2d_taps_forward(x, w, b, p, d)[0]
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-8
    assert rel_error(dw, numerical_gradient(f, w, dout)) < 1e-8
    assert rel_error(db, numerical_gradient(f, b, dout)) < 1e-8


def test_taps_conv_asymmetric_geometry_matches_im2col(rng):
    x = rng.standard_normal((2, 3, 10, 7)).transpose(0, 1, 3, 2)   # (2, 3, 7, 10), not contiguous
    w = rng.standard_normal((4, 3, 3, 2))
    out, cache = nn.conv2d_taps_forward(x, w, None, (2, 5), (3, 6))
    ref, ref_cache = nn.conv2d_im2col_forward(np.ascontiguousarray(x), w, None, 1, (2, 5), (3, 6))
    assert rel_error(out, ref) < 1e-12
    dout = rng.standard_normal(out.shape)
    dx, dw, db = nn.conv2d_taps_backward(dout, cache)
    rdx, rdw, rdb = nn.conv2d_im2col_backward(dout, ref_cache)
    assert rel_error(dx, rdx) < 1e-12 and rel_error(dw, rdw) < 1e-12 and db is None and rdb is None
    none, dw2, _ = nn.conv2d_taps_backward(dout, cache, input_grad=False)
    assert none is None and rel_error(dw2, dw) < 1e-15


def test_taps_conv_float32_fc6_matches_im2col():
    """fc6 at width 1/8 on a 129-pixel crop's 17 x 17 map, float32, against im2col in float64."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 64, 17, 17)).astype(np.float32)
    w = (rng.standard_normal((128, 64, 3, 3)) / 24).astype(np.float32)
    b = rng.standard_normal(128).astype(np.float32)
    out, cache = nn.conv2d_taps_forward(x, w, b, 12, 12)
    ref, ref_cache = nn.conv2d_im2col_forward(*(a.astype(np.float64) for a in (x, w, b)), 1, 12, 12)
    assert out.dtype == np.float32 and rel_error(out, ref) < 1e-5
    dout = rng.standard_normal(out.shape).astype(np.float32)
    for got, want in zip(nn.conv2d_taps_backward(dout, cache), nn.conv2d_im2col_backward(dout.astype(np.float64),
                                                                                         ref_cache)):
        assert got.dtype == np.float32 and rel_error(got, want) < 1e-5


@pytest.mark.parametrize("H,W,k,p,d", [(17, 17, 3, 12, 12), (9, 9, 3, 12, 12), (41, 27, 3, 12, 12), (7, 10, 3, (2, 5), (3, 6)),
                                       (6, 6, 5, 3, 2), (4, 4, 3, 0, 1)])
def test_tap_rectangles_are_the_reads_inside_the_map(H, W, k, p, d):
    p, d = pair(p, "p", 0), pair(d, "d", 1)
    Ho, Wo = H + 2 * p[0] - d[0] * (k - 1), W + 2 * p[1] - d[1] * (k - 1)
    found = {(i, j): (rows, cols, start) for i, j, rows, cols, start in taps.tap_rectangles(H, W, (k, k), p, d)}
    inside = 0
    for i in range(k):
        for j in range(k):
            hits = [(u, v) for u in range(Ho) for v in range(Wo)
                    if 0 <= u + i * d[0] - p[0] < H and 0 <= v + j * d[1] - p[1] < W]
            inside += len(hits)
            if not hits:
                assert (i, j) not in found
                continue
            (u0, u1), (v0, v1), (y0, x0) = found[i, j]
            assert sorted(hits) == [(u, v) for u in range(u0, u1) for v in range(v0, v1)]
            assert (y0, x0) == (u0 + i * d[0] - p[0], v0 + j * d[1] - p[1])
    assert taps.inside_share(H, W, (k, k), p, d) == pytest.approx(inside / (k * k * Ho * Wo))


def test_taps_applies_and_its_bad_input_errors(rng):
    assert taps.inside_share(17, 17, (3, 3), (12, 12), (12, 12)) == pytest.approx(729 / 2601)   # fc6, crop 129
    assert taps.inside_share(9, 9, (3, 3), (12, 12), (12, 12)) == pytest.approx(1 / 9)          # only the centre
    x, w = np.zeros((1, 16, 17, 17), np.float32), np.zeros((32, 16, 3, 3), np.float32)
    assert taps.applies(x, w, (1, 1), (12, 12), (12, 12))                 # fc6: 28% of the reads inside
    assert not taps.applies(x, w, (1, 1), (2, 2), (2, 2))                 # conv5, dilation 2: 85%
    assert not taps.applies(x, w, (1, 1), (1, 1), (1, 1))                 # undilated
    assert not taps.applies(x, w, (2, 2), (12, 12), (12, 12))
    assert not taps.applies(x, w.astype(np.float64), (1, 1), (12, 12), (12, 12))
    assert not taps.applies(x[:, :5], w, (1, 1), (12, 12), (12, 12))
    xs, ws = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 3, 3))
    with pytest.raises(ValueError, match="input channels"):
        nn.conv2d_taps_forward(xs, ws[:, :1])
    with pytest.raises(TypeError, match="dtype"):
        nn.conv2d_taps_forward(xs, ws.astype(np.float32))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        nn.conv2d_taps_forward(xs, ws, None, 0, 3)
    with pytest.raises(ValueError, match="b must have shape"):
        nn.conv2d_taps_forward(xs, ws, np.zeros(2))
    with pytest.raises(ValueError, match="dilation"):
        nn.conv2d_taps_forward(xs, ws, None, 1, 0)
    with pytest.raises(ValueError, match="dout must have the forward output's shape"):
        nn.conv2d_taps_backward(np.zeros((1, 3, 4, 4)), nn.conv2d_taps_forward(xs, ws, None, 1)[1])
    with pytest.raises(ValueError, match="taps pair needs stride 1"):
        nn.Conv2d(2, 3, 3, padding=1, stride=2, algorithm="taps")


@pytest.mark.parametrize("H", [9, 17])
def test_conv2d_layer_takes_the_taps_pair_for_fc6(H, rng, monkeypatch):
    """On "auto" fc6's geometry (dilation 12 on a small map) runs the taps pair, conv5's (dilation
    2, 85% of the reads inside) im2col; the twins give the same values and gradients."""
    monkeypatch.setattr(nn.direct, "MAX_CHANNELS", 0)  # its own rule comes first (test_direct_conv.py)
    x = rng.standard_normal((2, 3, H, H))
    for d, expected in ((12, "taps"), (2, "im2col")):
        layer = nn.Conv2d(3, 4, 3, padding=d, dilation=d, dtype=np.float64)
        layer.params["weight"][...], layer.params["bias"][...] = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
        assert layer.algorithm_for(x) == expected
        out = layer.forward(x)
        assert layer.last_algorithm == expected
        dout = rng.standard_normal(out.shape)
        dx = layer.backward(dout)
        other = "im2col" if expected == "taps" else "taps"
        twin = nn.Conv2d(3, 4, 3, padding=d, dilation=d, dtype=np.float64, algorithm=other)
        twin.params["weight"][...], twin.params["bias"][...] = layer.params["weight"], layer.params["bias"]
        assert rel_error(twin.forward(x), out) < 1e-12 and twin.last_algorithm == other
        assert rel_error(twin.backward(dout), dx) < 1e-12
        for k in ("weight", "bias"):
            assert rel_error(twin.grads[k], layer.grads[k]) < 1e-12
