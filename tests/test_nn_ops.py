"""Each op against its naive loop twin, a float64 numerical gradient, and torch."""
import numpy as np
import pytest

import naive
from minideeplab import nn
from minideeplab.nn import rel_error, numerical_gradient

CONV_CASES = [  # (C, F, H, W, k, stride, pad, dilation)
    (3, 4, 7, 8, 3, 1, 1, 1),
    (2, 3, 9, 7, 3, 2, 1, 1),
    (2, 2, 11, 10, 3, 1, 2, 2),
    (3, 2, 12, 12, 3, 1, 4, 4),
    (2, 3, 10, 9, 4, 1, 3, 2),  # even kernel, dilation
    (1, 2, 13, 13, 2, 3, 0, 3),
    (2, 2, 6, 6, 1, 1, 0, 1),
]


@pytest.mark.parametrize("C,F,H,W,k,s,p,d", CONV_CASES)
def test_conv_forward_matches_naive(C, F, H, W, k, s, p, d, rng):
    x = rng.standard_normal((2, C, H, W))
    w = rng.standard_normal((F, C, k, k))
    b = rng.standard_normal(F)
    out, _ = nn.conv2d_im2col_forward(x, w, b, s, p, d)
    assert rel_error(out, naive.conv2d(x, w, b, s, p, d)) < 1e-12


@pytest.mark.parametrize("C,F,H,W,k,s,p,d", CONV_CASES)
def test_conv_backward_numerical(C, F, H, W, k, s, p, d, rng):
    x = rng.standard_normal((2, C, H, W))
    w = rng.standard_normal((F, C, k, k))
    b = rng.standard_normal(F)
    out, cache = nn.conv2d_im2col_forward(x, w, b, s, p, d)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = nn.conv2d_im2col_backward(dout, cache)
    f = lambda: nn.conv2d_im2col_forward(x, w, b, s, p, d)[0]
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-8
    assert rel_error(dw, numerical_gradient(f, w, dout)) < 1e-8
    assert rel_error(db, numerical_gradient(f, b, dout)) < 1e-8


def _winograd_pass(N, H, W, d, rng):
    """x, w, b, dout and the Winograd pair's forward (checked against the loop twin) and gradients."""
    x = rng.standard_normal((N, 3, H, W))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    out, cache = nn.conv2d_winograd_forward(x, w, b, d)
    assert rel_error(out, naive.conv2d(x, w, b, 1, d, d)) < 1e-12
    dout = rng.standard_normal(out.shape)
    return x, w, b, dout, nn.conv2d_winograd_backward(dout, cache)


@pytest.mark.parametrize("H,W,d", [(1, 1, 1), (1, 5, 1), (2, 3, 1), (5, 1, 1), (6, 7, 1), (7, 6, 2), (9, 11, 3),
                                   (5, 13, 4), (13, 13, 12)])
def test_winograd_conv_matches_naive_and_gradients(H, W, d, rng):
    """The F(2x2, 3x3) path (3x3, stride 1, padding = dilation d): odd sizes leave partial
    tiles, and with d > 1 phases of unequal sizes (some smaller than a tile, or empty)."""
    x, w, b, dout, (dx, dw, db) = _winograd_pass(2, H, W, d, rng)
    f = lambda: nn.conv2d_winograd_forward(x, w, b, d)[0]
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-8
    assert rel_error(dw, numerical_gradient(f, w, dout)) < 1e-8
    assert rel_error(db, numerical_gradient(f, b, dout)) < 1e-8


@pytest.mark.parametrize("H,W,d", [(23, 21, 2), (37, 35, 4)])
def test_winograd_dilated_interior_tiles_match_im2col(H, W, d, rng):
    """Sizes with tiles wholly inside the image (the kernels' unchecked fast path) for d > 1:
    forward against the loop twin, gradients against the im2col path, in float64."""
    x, w, b, dout, (dx, dw, db) = _winograd_pass(1, H, W, d, rng)
    ref_dx, ref_dw, ref_db = nn.conv2d_im2col_backward(dout, nn.conv2d_im2col_forward(x, w, b, 1, d, d)[1])
    assert rel_error(dx, ref_dx) < 1e-12 and rel_error(dw, ref_dw) < 1e-12 and rel_error(db, ref_db) < 1e-12


def test_winograd_kernel_transform_and_its_gradient(rng):
    """U = G w G^T and dw = G^T dU G for each (f, c), against einsum with G."""
    from minideeplab.nn import winograd

    w = rng.standard_normal((5, 3, 3, 3))
    U = winograd._kernel_transform(w)
    ref = np.einsum("ai,fcij,bj->abfc", winograd.G, w, winograd.G).reshape(16, 5, 3)
    assert rel_error(U, ref) < 1e-14
    dU = rng.standard_normal(U.shape)
    assert rel_error(winograd._kernel_grad(dU), np.einsum("ai,abfc,bj->fcij", winograd.G, dU.reshape(4, 4, 5, 3),
                                                          winograd.G)) < 1e-14


def _conv_layer(C, F, padding, dilation, rng, algorithm="auto"):
    layer = nn.Conv2d(C, F, 3, padding=padding, dilation=dilation, dtype=np.float64, algorithm=algorithm)
    layer.params["weight"][...] = rng.standard_normal((F, C, 3, 3))
    layer.params["bias"][...] = rng.standard_normal(F)
    return layer


@pytest.mark.parametrize("padding,dilation", [(1, 1), (2, 2)])
def test_conv2d_layer_takes_the_winograd_pair_from_min_channels(padding, dilation, rng, monkeypatch):
    """The one dispatch: a Conv2d layer on "auto" runs Winograd from MIN_CHANNELS input and output
    channels and MIN_SIZE pixels without dilation, im2col below and for dilated layers; both
    pairs give the same values and gradients. (Thresholds lowered so that the float64 loops stay
    small; the real ones are checked in test_winograd_applies_and_its_bad_input_errors.)"""
    from minideeplab.nn import direct, taps, winograd

    monkeypatch.setattr(taps, "MAX_INSIDE", -1.0)  # off: its rule is checked in test_taps_conv.py
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 6)
    monkeypatch.setattr(winograd, "MIN_SIZE", 4)
    monkeypatch.setattr(direct, "MAX_CHANNELS", 0)  # its own rule comes first (test_direct_conv.py)
    C = winograd.MIN_CHANNELS
    x = rng.standard_normal((1, C, 5, 4))
    assert _conv_layer(C, C, padding, dilation, rng).algorithm_for(x[:, :, :3]) == "im2col"  # 3 rows < MIN_SIZE
    for F, expected in ((C, "winograd" if dilation == 1 else "im2col"), (C - 1, "im2col")):
        layer = _conv_layer(C, F, padding, dilation, rng)
        assert layer.algorithm_for(x) == expected
        out = layer.forward(x)
        assert layer.last_algorithm == expected
        w, b = layer.params["weight"], layer.params["bias"]
        assert rel_error(out, naive.conv2d(x, w, b, 1, padding, dilation)) < 1e-12
        dout = rng.standard_normal(out.shape)
        dx = layer.backward(dout)
        assert np.allclose(layer.grads["bias"], dout.sum(axis=(0, 2, 3)))
        other = "im2col" if expected == "winograd" else "winograd"
        twin = _conv_layer(C, F, padding, dilation, rng, algorithm=other)
        twin.params["weight"][...], twin.params["bias"][...] = w, b
        assert twin.algorithm_for(x) == other and rel_error(twin.forward(x), out) < 1e-12
        assert rel_error(twin.backward(dout), dx) < 1e-12
        for k in ("weight", "bias"):
            assert rel_error(twin.grads[k], layer.grads[k]) < 1e-12
    assert _conv_layer(C, C, padding, dilation, rng).algorithm_for(x.astype(np.float32)) == "im2col"  # dtypes differ
    assert nn.Conv2d(C, C, 3, padding=1, stride=2).algorithm_for(x.astype(np.float32)) == "im2col"
    with pytest.raises(ValueError, match="Winograd pair needs"):
        nn.Conv2d(C, C, 3, padding=1, stride=2, algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        nn.Conv2d(C, C, 3, algorithm="fft")


def test_winograd_applies_and_its_bad_input_errors(rng, monkeypatch):
    from minideeplab.nn import winograd

    # the measured rule on DeepLab's layers: width 1's conv2_2..conv4_3, not width 1/4's conv4 (17x17)
    big = np.zeros((1, 128, 41, 41), np.float32)
    w128 = np.zeros((128, 128, 3, 3), np.float32)
    assert winograd.applies(big, w128, (1, 1), (1, 1), (1, 1))
    assert not winograd.applies(big[:, :, :17, :17], w128, (1, 1), (1, 1), (1, 1))
    assert not winograd.applies(big[:, :64], w128[:64, :64], (1, 1), (1, 1), (1, 1))
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 6)
    monkeypatch.setattr(winograd, "MIN_SIZE", 4)
    C = winograd.MIN_CHANNELS
    x = rng.standard_normal((1, C, 5, 4))
    w = rng.standard_normal((C, C, 3, 3))
    with pytest.raises(ValueError, match="dout must be a NumPy array of shape"):
        nn.conv2d_winograd_backward(np.zeros((1, C, 5, 5)), nn.conv2d_winograd_forward(x, w, None, 1)[1])
    with pytest.raises(ValueError, match="dout must be a NumPy array of shape"):
        nn.conv2d_winograd_backward([0.0], nn.conv2d_winograd_forward(x, w)[1])
    assert winograd.applies(x, w, (1, 1), (1, 1), (1, 1))
    assert winograd.fits((3, 3), (1, 1), (12, 12), (12, 12))
    assert not winograd.applies(x, w, (1, 1), (12, 12), (12, 12))  # dilated: im2col is faster
    for stride, pad, dil in (((2, 2), (1, 1), (1, 1)), ((1, 1), (2, 2), (1, 1)), ((1, 1), (1, 1), (2, 2)),
                             ((1, 1), (2, 1), (2, 1))):
        assert not winograd.applies(x, w, stride, pad, dil)
    assert not winograd.applies(x.astype(np.float16), w, (1, 1), (1, 1), (1, 1))
    assert not winograd.applies(x.astype(np.float32), w, (1, 1), (1, 1), (1, 1))  # w is float64
    assert not winograd.applies(x[:, :-1], w, (1, 1), (1, 1), (1, 1))  # channels differ: im2col says so
    with pytest.raises(ValueError, match="same C"):
        nn.conv2d_winograd_forward(x, rng.standard_normal((C, C + 1, 3, 3)))
    with pytest.raises(ValueError, match="dilation must be a positive int"):
        nn.conv2d_winograd_forward(x, w, None, 0)
    with pytest.raises(TypeError, match="x must be a float32 or float64"):
        nn.conv2d_winograd_forward(x.astype(np.int32), w)
    with pytest.raises(ValueError, match="b must have shape"):
        nn.conv2d_winograd_forward(x, w, np.zeros(C + 1))


@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_float32_threads_against_float64_im2col(threads, rng):
    """Large enough to split the transforms over the threads; float32 against float64."""
    from minideeplab._numba import get_num_threads, set_num_threads

    x = rng.standard_normal((2, 16, 33, 30)).astype(np.float32)
    w = (rng.standard_normal((24, 16, 3, 3)) * 0.1).astype(np.float32)
    dout = rng.standard_normal((2, 24, 33, 30)).astype(np.float32)
    args = ((1, 1), (1, 1), (1, 1))  # reference: im2col + matrix products in float64
    col = nn.im2col(x.astype(np.float64), 3, 3, *args).reshape(2, 16 * 9, 33 * 30)
    wm, d = w.reshape(24, -1).astype(np.float64), dout.reshape(2, 24, 33 * 30).astype(np.float64)
    ref = np.matmul(wm, col).reshape(dout.shape)
    rdx = nn.col2im(np.matmul(wm.T, d).reshape(2, 16, 3, 3, 33, 30), 33, 30, *args)
    rdw = sum(d[n] @ col[n].T for n in range(2)).reshape(w.shape)
    old = get_num_threads()
    set_num_threads(threads)
    try:
        out, wc = nn.conv2d_winograd_forward(x, w)
        dx, dw, db = nn.conv2d_winograd_backward(dout, wc)
    finally:
        set_num_threads(old)
    assert out.dtype == dx.dtype == dw.dtype == np.float32 and wc[0].size >= 1 << 16 and db is None
    for a, r in ((out, ref), (dx, rdx), (dw, rdw)):
        assert np.abs(a - r).max() <= 1e-5 * np.abs(r).max()


def test_dilated_conv_equals_zero_inserted_kernel(rng):
    """The atrous algorithm: dilation d == a dense kernel with d-1 zeros between taps."""
    x = rng.standard_normal((1, 2, 15, 15))
    w = rng.standard_normal((3, 2, 3, 3))
    d = 3
    wz = np.zeros((3, 2, 7, 7))
    wz[:, :, ::d, ::d] = w
    a, _ = nn.conv2d_im2col_forward(x, w, None, 1, 3, d)
    b, _ = nn.conv2d_im2col_forward(x, wz, None, 1, 3, 1)
    assert rel_error(a, b) < 1e-12


def test_im2col_col2im_are_adjoint(rng):
    x = rng.standard_normal((2, 3, 9, 8))
    args = ((2, 1), (1, 2), (2, 3))
    col = nn.im2col(x, 3, 2, *args)
    c = rng.standard_normal(col.shape)
    lhs = np.sum(col * c)
    rhs = np.sum(x * nn.col2im(c, 9, 8, *args))
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_im2col_col2im_match_loops(rng):
    """im2col and col2im against plain loops: stride, padding, dilation, a -inf pad value,
    windows that end beyond the padding."""
    x = rng.standard_normal((2, 8, 40, 37)).astype(np.float32)
    (sh, sw), (ph, pw), (dh, dw), kh, kw = (2, 1), (3, 2), (2, 3), 3, 4
    Ho = nn.conv_output_size(40, kh, sh, ph, dh)
    Wo = nn.conv_output_size(37, kw, sw, pw, dw)
    xpad = np.full((2, 8, 40 + 2 * ph, 37 + 2 * pw), -np.inf, np.float32)
    xpad[:, :, ph:ph + 40, pw:pw + 37] = x
    ref = np.empty((2, 8, kh, kw, Ho, Wo), np.float32)
    for i in range(kh):
        for j in range(kw):
            for oy in range(Ho):
                for ox in range(Wo):
                    ref[:, :, i, j, oy, ox] = xpad[:, :, oy * sh + i * dh, ox * sw + j * dw]
    c = rng.standard_normal(ref.shape).astype(np.float32)
    back = np.zeros_like(xpad, dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            for oy in range(Ho):
                for ox in range(Wo):
                    back[:, :, oy * sh + i * dh, ox * sw + j * dw] += c[:, :, i, j, oy, ox]
    col = nn.im2col(x, kh, kw, (sh, sw), (ph, pw), (dh, dw), pad_value=-np.inf)
    dx = nn.col2im(c, 40, 37, (sh, sw), (ph, pw), (dh, dw))
    assert np.array_equal(col, ref)
    np.testing.assert_allclose(dx, back[:, :, ph:ph + 40, pw:pw + 37], rtol=1e-5, atol=1e-5)


POOL_CASES = [(321, 3, 2, 1), (161, 3, 2, 1), (81, 3, 2, 1), (41, 3, 1, 1), (9, 2, 2, 0),
              (10, 3, 2, 0), (8, 3, 2, 1), (7, 3, 3, 1), (12, 2, 2, 0), (5, 3, 4, 2)]


def test_caffe_pool_sizes():
    sizes = [321]
    for _ in range(3):
        sizes.append(nn.pool_output_size(sizes[-1], 3, 2, 1))
    assert sizes == [321, 161, 81, 41]
    assert nn.pool_output_size(41, 3, 1, 1) == 41
    assert nn.pool_output_size(8, 3, 2, 1) == 5  # ceil(7 / 2) + 1; the last window starts at pixel 7
    # ceil(6 / 4) + 1 = 3, but the third window would start at pixel 6, in the padding: dropped
    assert nn.pool_output_size(5, 3, 4, 2) == 2


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("H,k,s,p", [c for c in POOL_CASES if c[0] < 100])
def test_pool_forward_matches_caffe_loops(mode, H, k, s, p, rng):
    x = rng.standard_normal((2, 3, H, H + 1))
    fwd = nn.maxpool2d_forward if mode == "max" else nn.avgpool2d_forward
    out, _ = fwd(x, k, s, p)
    assert out.shape[2] == naive.caffe_pool_size(H, k, s, p)
    assert rel_error(out, naive.pool2d(x, k, s, p, mode)) < 1e-12


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("H,k,s,p", [(9, 3, 2, 1), (8, 3, 2, 1), (7, 3, 1, 1), (10, 2, 2, 0), (7, 3, 3, 1)])
def test_pool_backward_numerical(mode, H, k, s, p, rng):
    x = rng.standard_normal((2, 2, H, H + 2))
    fwd = nn.maxpool2d_forward if mode == "max" else nn.avgpool2d_forward
    bwd = nn.maxpool2d_backward if mode == "max" else nn.avgpool2d_backward
    out, cache = fwd(x, k, s, p)
    dout = rng.standard_normal(out.shape)
    dx = bwd(dout, cache)
    num = numerical_gradient(lambda: fwd(x, k, s, p)[0], x, dout)
    assert rel_error(dx, num) < 1e-8


def test_relu_and_dropout(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    out, mask = nn.relu_forward(x)
    assert np.array_equal(out, np.maximum(x, 0))
    dout = rng.standard_normal(x.shape)
    assert np.array_equal(nn.relu_backward(dout, mask), dout * (x > 0))
    out, cache = nn.dropout_forward(x, 0.5, np.random.default_rng(1))
    kept = out != 0
    assert 0.3 < kept.mean() < 0.7
    assert np.allclose(out[kept], 2 * x[kept])
    assert np.array_equal(nn.dropout_backward(dout, cache), dout * kept * 2)
    same, _ = nn.dropout_forward(x, 0.5, None, train=False)
    assert same is x


@pytest.mark.parametrize("p", [0.5, 0.25, 0.75, 0.5 + 2.0**-16, 0.1, 1 / 3, 0.9])  # 1, 8, 16, 32 bits a unit
def test_dropout_keeps_each_unit_with_probability_one_minus_p(p):
    """Against the binomial law: the kept fraction of 2**20 units within 5 standard deviations
    of 1 - p, neighbours kept together as often as independent units are, and a second draw
    another mask."""
    rng = np.random.default_rng(7)
    x = np.ones((4, 16, 128, 128), np.float32)
    out, (keep, scale) = nn.dropout_forward(x, p, rng)
    n, q = keep.size, 1 - p
    sigma = np.sqrt(q * (1 - q) / n)
    assert abs(keep.mean() - q) < 5 * sigma
    flat = keep.reshape(-1)
    for lag in (1, 7, 8, 64):  # within a byte, across bytes and draws
        assert abs((flat[:-lag] & flat[lag:]).mean() - q * q) < 5 * np.sqrt(q * q * (1 - q * q) / (n - lag))
    assert np.array_equal(out, keep / np.float32(q)) and out.dtype == np.float32
    again, (keep2, _) = nn.dropout_forward(x, p, rng)
    r = q * q + p * p
    assert abs((keep == keep2).mean() - r) < 5 * np.sqrt(r * (1 - r) / n)
    odd = np.ones((3, 5, 7, 11), np.float32)  # 1,155 units: a last 64-bit draw used in part
    kept = np.mean([nn.dropout_forward(odd, p, rng)[1][0].mean() for _ in range(200)])
    assert abs(kept - q) < 5 * np.sqrt(q * (1 - q) / (200 * odd.size))


def test_dropout_layer_wants_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator or None, got RandomState"):
        nn.Dropout(0.5, np.random.RandomState(0))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator in train mode"):
        nn.dropout_forward(np.ones(3), 0.5, None)


@pytest.mark.parametrize("Hi,Wi,Ho,Wo", [(5, 6, 33, 41), (41, 41, 321, 321), (17, 9, 3, 2), (4, 4, 4, 4), (1, 5, 3, 9)])
def test_interp_matches_naive_and_gradient(Hi, Wi, Ho, Wo, rng):
    x = rng.standard_normal((2, 3, Hi, Wi))
    out, cache = nn.interp_forward(x, (Ho, Wo))
    assert rel_error(out, naive.bilinear_align_corners(x, Ho, Wo)) < 1e-12
    if Hi * Wi * Ho * Wo < 5000:
        dout = rng.standard_normal(out.shape)
        num = numerical_gradient(lambda: nn.interp_forward(x, (Ho, Wo))[0], x, dout)
        assert rel_error(nn.interp_backward(dout, cache), num) < 1e-8


def test_caffe_interp_sizes_and_label_shrink(rng):
    assert nn.zoom_size(41, 8) == 321 and nn.shrink_size(321, 8) == 41
    labels = rng.integers(0, 21, size=(2, 321, 321))
    small = nn.shrink_labels(labels, (41, 41))
    assert np.array_equal(small, labels[:, ::8, ::8])
    # bilinear shrink of an integer map at these sizes samples exact pixels, so it agrees
    lab = labels.astype(np.float64)[:, None]
    assert np.array_equal(nn.interp_forward(lab, (41, 41))[0][:, 0], small)


@pytest.mark.parametrize("normalization", ["valid", "batch_size", "full", "none"])
def test_softmax_cross_entropy(normalization, rng):
    scores = rng.standard_normal((2, 4, 3, 5)) * 3
    labels = rng.integers(0, 4, size=(2, 3, 5))
    labels[0, 1, :3] = 255
    total, count = naive.softmax_cross_entropy(scores, labels)
    norm = {"valid": count, "batch_size": 2, "full": 30, "none": 1}[normalization]
    loss, cache = nn.softmax_cross_entropy_forward(scores, labels, normalization=normalization)
    assert abs(loss - total / norm) < 1e-12 * max(1, abs(loss))
    d = nn.softmax_cross_entropy_backward(cache)
    num = numerical_gradient(lambda: nn.softmax_cross_entropy_forward(scores, labels, normalization=normalization)[0],
                             scores, 1.0)
    assert rel_error(d, num) < 1e-8
    assert np.all(d[0, :, 1, :3] == 0)


@pytest.mark.parametrize("normalization", ["valid", "batch_size", "full", "none"])
def test_weighted_softmax_cross_entropy(normalization, rng):
    """Class weights: the loop twin, a numerical gradient, a class of weight 0 that drops out."""
    scores = rng.standard_normal((2, 4, 3, 5)) * 3
    labels = rng.integers(0, 4, size=(2, 3, 5))
    labels[0, 1, :3] = 255
    weights = np.array([0.5, 2.0, 0.0, 1.3])
    total, wsum = naive.softmax_cross_entropy(scores, labels, weights=weights)
    norm = {"valid": wsum, "batch_size": 2, "full": 30, "none": 1}[normalization]
    f = lambda: nn.softmax_cross_entropy_forward(scores, labels, normalization=normalization,
                                                 class_weights=weights)
    loss, cache = f()
    assert abs(loss - total / norm) < 1e-12 * max(1, abs(loss))
    d = nn.softmax_cross_entropy_backward(cache)
    assert rel_error(d, numerical_gradient(lambda: f()[0], scores, 1.0)) < 1e-8
    assert np.all(d.transpose(1, 0, 2, 3)[:, labels == 2] == 0)  # weight 0: no gradient
    ones = nn.softmax_cross_entropy_forward(scores, labels, normalization=normalization, class_weights=np.ones(4))
    assert abs(ones[0] - nn.softmax_cross_entropy_forward(scores, labels, normalization=normalization)[0]) < 1e-12


@pytest.mark.parametrize("bad", [np.ones(3), np.array([1.0, -1, 1, 1]), np.array([1.0, np.nan, 1, 1]),
                                 np.ones((2, 2)), np.array(["a", "b", "c", "d"])])
def test_class_weights_bad_input(bad):
    with pytest.raises(ValueError, match="class_weights"):
        nn.softmax_cross_entropy_forward(np.zeros((1, 4, 2, 2)), np.zeros((1, 2, 2), int), class_weights=bad)


def test_sum_and_concat(rng):
    a, b = rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((2, 3, 3, 3))
    out, cache = nn.concat_forward([a, b])
    assert out.shape == (2, 5, 3, 3)
    da, db = nn.concat_backward(out, cache)
    assert np.array_equal(da, a) and np.array_equal(db, b)
    s, n = nn.sum_forward(a, a, a)
    assert np.allclose(s, 3 * a) and len(nn.sum_backward(s, n)) == 3


def test_float32_is_default_precision(rng):
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    out, _ = nn.conv2d_im2col_forward(x, w, None, 1, 1, 1)
    assert out.dtype == np.float32
    assert rel_error(out, naive.conv2d(x.astype(np.float64), w.astype(np.float64), None, 1, 1, 1)) < 1e-5


# ------------------------------------------------------------------ bad input
def test_bad_input_errors(rng):
    x = rng.standard_normal((1, 3, 8, 8))
    w = rng.standard_normal((2, 4, 3, 3))
    with pytest.raises(ValueError, match="input channels"):
        nn.conv2d_im2col_forward(x, w)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        nn.conv2d_im2col_forward(x[0], w[:, :3])
    with pytest.raises(TypeError, match="x must be a floating-point"):
        nn.conv2d_im2col_forward(x.astype(np.int32), w[:, :3])
    with pytest.raises(TypeError, match="w dtype"):
        nn.conv2d_im2col_forward(x, w[:, :3].astype(np.float32))
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        nn.conv2d_im2col_forward(x, w[:, :3], dilation=0)
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        nn.conv2d_im2col_forward(x, w[:, :3], dilation=5)
    with pytest.raises(ValueError, match="padding"):
        nn.maxpool2d_forward(x, 2, 2, 2)
    scores = rng.standard_normal((1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\) or 255; found \[3, 7\]"):
        nn.softmax_cross_entropy_forward(scores, np.array([[[0, 3], [7, 255]]]))
    with pytest.raises(TypeError, match="labels must be an integer"):
        nn.softmax_cross_entropy_forward(scores, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="labels must have shape"):
        nn.softmax_cross_entropy_forward(scores, np.zeros((1, 3, 2), dtype=int))
    with pytest.raises(ValueError, match="p must be in"):
        nn.dropout_forward(x, 1.0, rng)
    with pytest.raises(TypeError, match="labels must be an integer array"):
        nn.shrink_labels(np.zeros((5, 5)), (2, 2))
    with pytest.raises(ValueError, match="size must be positive"):
        nn.shrink_labels(np.zeros((5, 5), int), (0, 2))
