"""The Numba fast paths of the layers against their readable twins, on the shapes where they
differ: ties, NaN, borders and Caffe's ceil rounding, non-contiguous inputs, inputs large
enough to be split over the threads, float32 and float64."""
import numpy as np
import pytest

from minideeplab import nn
from minideeplab.nn import pool as P
from minideeplab.nn import functional as F

# (1, 3, 0) and (2, 3, 0): Caffe keeps a last window that lies outside the image when the padding is 0
POOL_GEOMETRIES = [(3, 2, 1), (3, 1, 1), (2, 2, 0), (3, 3, 1), (3, 4, 2), (4, 3, 2), (1, 1, 0), (1, 3, 0), (2, 3, 0)]


def _tied(rng, shape, dtype):
    """Few distinct values, so that windows hold ties (the first maximum must win); the zeros
    are +0.0 or -0.0, equal values of two bit patterns."""
    x = rng.integers(-3, 4, size=shape).astype(dtype)
    x[(x == 0) & (rng.random(shape) < 0.5)] = -0.0
    return x


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,s,p", POOL_GEOMETRIES)
@pytest.mark.parametrize("H,W", [(9, 8), (10, 13), (33, 17)])
def test_maxpool_kernel_matches_windows(k, s, p, H, W, dtype, rng):
    if p >= k:
        pytest.skip("padding must be smaller than the kernel")
    x = _tied(rng, (2, 3, H, W), dtype)
    x[0, 1, 2, 3] = np.nan  # the first NaN of a window wins, as numpy.argmax picks it
    out, cache = nn.maxpool2d_forward(x, k, s, p)
    Ho, Wo = out.shape[2:]
    kk, ss, pp = (k, k), (s, s), (p, p)
    want, want_arg = P.maxpool_windows(x, kk, ss, pp, Ho, Wo)
    assert cache[1].dtype == np.int8
    np.testing.assert_array_equal(cache[1], want_arg)
    np.testing.assert_array_equal(_bits(out), _bits(want))  # the winner's bits: NaN, -0.0
    np.testing.assert_array_equal(nn.maxpool2d_values(x, k, s, p), want)  # == (a zero's sign may differ)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = nn.maxpool2d_backward(dout, cache)
    want_dx = P.maxunpool_windows(dout, want_arg, x.shape, kk, ss, pp)
    assert dx.dtype == dtype and dx.flags.c_contiguous
    # overlapping windows add up to 4 gradients, in another order than col2im: a few ulps apart
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dx, want_dx, **tol)


@pytest.mark.parametrize("k,s,p", POOL_GEOMETRIES)
def test_maxpool_kernel_first_nan_in_row_major_order(k, s, p, rng):
    """Many NaNs among tied values: a window's winner is its first NaN in row-major order (an
    earlier row beats an earlier column), else its first maximum; the values are NaN there."""
    if p >= k:
        pytest.skip("padding must be smaller than the kernel")
    x = _tied(rng, (2, 3, 19, 23), np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    out, cache = nn.maxpool2d_forward(x, k, s, p)
    want, want_arg = P.maxpool_windows(x, (k, k), (s, s), (p, p), *out.shape[2:])
    assert np.isnan(want).any() and (~np.isnan(want)).any()  # both kinds of window occur
    np.testing.assert_array_equal(cache[1], want_arg)
    np.testing.assert_array_equal(_bits(out), _bits(want))
    np.testing.assert_array_equal(nn.maxpool2d_values(x, k, s, p), want)


def test_maxpool_window_outside_the_image_goes_nowhere(rng):
    """Padding 0, stride 3 > kernel: Caffe's last window starts just past the image (at 6 of
    6); it gives -inf (the twin's padding) and its gradient reaches no pixel, in every plane."""
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    out, cache = nn.maxpool2d_forward(x, 1, 3, 0)
    assert out.shape[2:] == (3, 3)
    want, want_arg = P.maxpool_windows(x, (1, 1), (3, 3), (0, 0), 3, 3)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(cache[1], want_arg)
    assert np.all(out[:, :, 2] == -np.inf) and np.all(out[:, :, :, 2] == -np.inf)
    np.testing.assert_array_equal(nn.maxpool2d_values(x, 1, 3, 0), want)
    dx = nn.maxpool2d_backward(np.ones_like(out), cache)
    assert dx.sum() == 2 * 3 * 4  # the four windows inside each plane
    np.testing.assert_array_equal(dx, P.maxunpool_windows(np.ones_like(out), want_arg, x.shape, (1, 1), (3, 3),
                                                          (0, 0)))


def test_maxpool_layer_keeps_no_winners_under_no_grad(rng, monkeypatch):
    """Under ``no_grad`` the layer runs the values-only kernel: the same output, no cache."""
    calls = []
    values = P.maxpool2d_values
    monkeypatch.setattr(P, "maxpool2d_values", lambda *a: calls.append(a) or values(*a))
    x = _tied(rng, (2, 4, 21, 18), np.float32)
    layer = nn.MaxPool2d(3, 2, 1, name="pool1")
    want = layer.forward(x)
    assert layer._cache is not None and layer._cache[1].shape == want.shape and not calls
    with nn.no_grad():
        got = layer.forward(x)
    assert len(calls) == 1
    np.testing.assert_array_equal(got, want)
    with pytest.raises(RuntimeError, match="pool1"):
        layer.backward(np.ones_like(got))


def test_maxpool_kernel_never_routes_to_the_padding():
    """A window of -inf values: the twin's -inf padding can tie with it and win (its gradient is
    then lost); the kernel only looks inside the image, so every gradient reaches a pixel."""
    x = np.full((1, 1, 5, 5), -np.inf)
    out, cache = nn.maxpool2d_forward(x, 3, 2, 1)
    assert np.all(out == -np.inf) and np.all(nn.maxpool2d_values(x, 3, 2, 1) == -np.inf)
    dx = nn.maxpool2d_backward(np.ones_like(out), cache)
    assert dx.sum() == out.size and dx[0, 0, 0, 0] == 1.0  # the top-left window's first pixel


def test_maxpool_kernel_threads_and_strided_input(rng):
    """More planes and pixels than one thread takes, and a view that is not contiguous."""
    big = rng.standard_normal((4, 40, 67, 130)).astype(np.float32)
    x = big[:, ::2, :, ::2]
    out, cache = nn.maxpool2d_forward(x, 3, 2, 1)
    want, want_arg = P.maxpool_windows(x, (3, 3), (2, 2), (1, 1), *out.shape[2:])
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(cache[1], want_arg)
    np.testing.assert_array_equal(nn.maxpool2d_values(x, 3, 2, 1), want)
    dout = rng.standard_normal(out.shape).astype(np.float32)[:, :, ::-1]  # a reversed view
    np.testing.assert_allclose(nn.maxpool2d_backward(dout, cache),
                               P.maxunpool_windows(dout, want_arg, x.shape, (3, 3), (2, 2), (1, 1)), rtol=1e-5,
                               atol=1e-6)


def test_maxpool_large_window_keeps_a_wide_index(rng):
    x = rng.standard_normal((1, 2, 14, 14))
    out, cache = nn.maxpool2d_forward(x, 12, 2, 0)  # 144 taps: more than int8 holds
    assert cache[1].dtype == np.int32
    want, want_arg = P.maxpool_windows(x, (12, 12), (2, 2), (0, 0), *out.shape[2:])
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(nn.maxpool2d_values(x, 12, 2, 0), want)
    np.testing.assert_array_equal(cache[1], want_arg)


def test_maxpool_float16_takes_the_windows(rng):
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float16)
    out, cache = nn.maxpool2d_forward(x, 3, 2, 1)
    want, _ = P.maxpool_windows(x, (3, 3), (2, 2), (1, 1), *out.shape[2:])
    np.testing.assert_array_equal(out, want)
    values = nn.maxpool2d_values(x, 3, 2, 1)
    np.testing.assert_array_equal(values, want)
    assert values.dtype == np.float16
    assert nn.maxpool2d_backward(np.ones_like(out), cache).dtype == np.float16


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4, 5), (3, 7, 257, 301)])  # the last is split over the threads
def test_relu_kernel_matches_where(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[:4] = [np.nan, -0.0, 0.0, np.inf]
    out, mask = nn.relu_forward(x)
    want, want_mask = F.relu_where_forward(x)
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(out, want)
    assert not np.signbit(out).any()  # -0.0 comes out as +0.0, as from where(mask, x, 0)
    values = nn.relu_values(x)
    np.testing.assert_array_equal(values, want)
    assert values.dtype == dtype and not np.signbit(values).any()
    dout = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(nn.relu_backward(dout, mask), F.relu_where_backward(dout, want_mask))


def test_relu_layer_keeps_no_mask_under_no_grad(rng, monkeypatch):
    calls = []
    values = F.relu_values
    monkeypatch.setattr(F, "relu_values", lambda a: calls.append(a) or values(a))
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    layer = nn.ReLU("relu1_1")
    want = layer.forward(x)
    before = x.copy()
    assert not calls
    with nn.no_grad():
        got = layer.forward(x)
    assert len(calls) == 1
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, before)  # not in place
    with pytest.raises(RuntimeError, match="relu1_1"):
        layer.backward(np.ones_like(got))


def test_relu_kernel_strided_views(rng):
    x = rng.standard_normal((4, 6, 50, 60)).astype(np.float32)[:, ::2, :, ::3]
    out, mask = nn.relu_forward(x)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0))
    np.testing.assert_array_equal(nn.relu_values(x), np.where(x > 0, x, 0))
    dout = rng.standard_normal((4, 6, 50, 60)).astype(np.float32)[:, 1::2, :, 1::3]
    np.testing.assert_array_equal(nn.relu_backward(dout, mask), np.where(x > 0, dout, 0))


IM2COL_GEOMETRIES = [  # (H, W, k, stride, padding, dilation)
    (9, 8, 3, 1, 1, 1), (10, 13, 3, 2, 1, 1), (17, 17, 3, 1, 12, 12), (9, 9, 4, 3, 2, 2),
    (5, 5, 3, 4, 2, 1), (6, 7, 1, 1, 0, 1), (13, 13, 2, 3, 0, 3), (7, 11, 3, 1, 2, 2), (4, 4, 3, 1, 5, 1),
    (5, 3, 3, 1, 12, 12), (3, 9, 3, 1, 4, 4),  # taps that read only the padding (fc6 on a small map)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H,W,k,s,p,d", IM2COL_GEOMETRIES)
def test_im2col_kernels_match_slices(H, W, k, s, p, d, dtype, rng):
    from minideeplab.nn import conv

    x = rng.standard_normal((2, 3, H, W)).astype(dtype)
    geometry = ((s, s), (p, p), (d, d))
    for pad_value in (0.0, -np.inf):
        col = conv.im2col(x, k, k, *geometry, pad_value)
        np.testing.assert_array_equal(col, conv.im2col_slices(x, k, k, *geometry, pad_value))
    dcol = rng.standard_normal(col.shape).astype(dtype)
    dx = conv.col2im(dcol, H, W, *geometry)
    assert dx.flags.c_contiguous and dx.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dx, conv.col2im_slices(dcol, H, W, *geometry), **tol)


def test_im2col_kernels_threads_and_strided_input(rng):
    from minideeplab.nn import conv

    x = rng.standard_normal((4, 30, 41, 82)).astype(np.float32)[:, ::2, :, ::2]  # 60 planes of 41x41, a view
    geometry = ((1, 1), (2, 2), (2, 2))
    col = conv.im2col(x, 3, 3, *geometry)
    np.testing.assert_array_equal(col, conv.im2col_slices(x, 3, 3, *geometry))
    np.testing.assert_allclose(conv.col2im(col, 41, 41, *geometry), conv.col2im_slices(col, 41, 41, *geometry),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algorithm", ["im2col", "winograd"])
def test_conv_backward_without_input_grad(algorithm, rng):
    """``input_grad=False`` (a first layer) gives the same weight gradients and no dx."""
    x = rng.standard_normal((2, 16, 7, 6))
    layer = nn.Conv2d(16, 16, 3, padding=1, dtype=np.float64, algorithm=algorithm)
    layer.params["weight"][...] = rng.standard_normal(layer.params["weight"].shape)
    dout = rng.standard_normal((2, 16, 7, 6))
    layer.forward(x)
    assert layer.backward(dout) is not None
    want = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(x)
    assert layer.backward(dout, input_grad=False) is None
    for k in want:
        np.testing.assert_array_equal(layer.grads[k], want[k])


def test_model_backward_without_input_grad(rng):
    from minideeplab.models import DeepLab

    m = DeepLab("DeepLab-LargeFOV", 3, width=1 / 16, dtype=np.float64, dropout=0.0)
    x = rng.standard_normal((1, 3, 33, 33))
    dscores = rng.standard_normal(m.forward(x).shape)
    assert m.backward(dscores).shape == x.shape
    want = {k: v.copy() for k, v in m.grads.items()}
    m.forward(x)
    assert m.backward(dscores, input_grad=False) is None
    assert want.keys() == m.grads.keys()
    for k in want:
        np.testing.assert_array_equal(m.grads[k], want[k])


def test_im2col_backward_rebuilds_large_columns(rng, monkeypatch):
    """Columns above KEEP_COL_BYTES are not kept but rebuilt from x: same gradients."""
    from minideeplab.nn import conv

    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    out, kept = nn.conv2d_im2col_forward(x, w, b, 1, 2, 2)
    monkeypatch.setattr(conv, "KEEP_COL_BYTES", 0)
    out2, rebuilt = nn.conv2d_im2col_forward(x, w, b, 1, 2, 2)
    assert kept[2] is not None and rebuilt[2] is None and rebuilt[3] is x
    np.testing.assert_array_equal(out, out2)
    dout = rng.standard_normal(out.shape)
    for a, b_ in zip(nn.conv2d_im2col_backward(dout, kept), nn.conv2d_im2col_backward(dout, rebuilt)):
        np.testing.assert_array_equal(a, b_)


def test_no_grad_keeps_no_cache(rng):
    """Inference under no_grad: the same scores, no cache kept, the flag restored on the way out."""
    from minideeplab.models import DeepLab

    m = DeepLab("DeepLab-LargeFOV", 3, width=1 / 16, dtype=np.float64).eval()
    x = rng.standard_normal((1, 3, 33, 33))
    want = m.forward(x)
    m.backward(np.ones_like(want))  # consumes the caches
    with nn.no_grad():
        assert not nn.grad_enabled()
        got = m.forward(x)
    assert nn.grad_enabled()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(RuntimeError, match="no_grad"):
        m.backward(np.ones_like(want))
    with pytest.raises(ZeroDivisionError), nn.no_grad():
        1 / 0
    assert nn.grad_enabled()


def test_relu_kernel_numerical_gradient(rng):
    """The kernel pair against a float64 numerical gradient (values kept off the kink at 0)."""
    from minideeplab.nn import numerical_gradient, rel_error

    x = rng.standard_normal((2, 3, 5, 7))
    x[np.abs(x) < 0.05] += 0.1
    dout = rng.standard_normal(x.shape)
    out, mask = nn.relu_forward(x)
    num = numerical_gradient(lambda: nn.relu_forward(x)[0], x, dout)
    assert rel_error(nn.relu_backward(dout, mask), num) < 1e-9


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), pytest.param((8, 16, 65, 130), id="threads")])  # split over them
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_relu_kernel_matches_add_then_where(shape, dtype, with_bias, rng):
    """The fused output pass: the same bits as ``out + b`` then the readable ReLU (NaN, inf,
    -0.0 included), with and without the mask."""
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[:5] = [np.nan, -0.0, 0.0, np.inf, -np.inf]
    b = rng.standard_normal(shape[1]).astype(dtype) if with_bias else None
    summed = x + b.reshape(1, -1, 1, 1) if with_bias else x.copy()
    want, want_mask = F.relu_where_forward(summed)
    out = x.copy()
    mask = F.bias_relu_(out, b)
    np.testing.assert_array_equal(_bits(out), _bits(want))
    np.testing.assert_array_equal(mask, want_mask)
    values = x.copy()
    assert F.bias_relu_(values, b, mask=False) is None
    np.testing.assert_array_equal(_bits(values), _bits(want))


def test_bias_relu_rejects_what_it_cannot_write_in_place(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    with pytest.raises(TypeError, match="out must be a C-contiguous"):
        F.bias_relu_(x[:, :, :, ::2], None)
    with pytest.raises(TypeError, match="out must be"):
        F.bias_relu_(x.astype(np.float16), None)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        F.bias_relu_(x, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="b must have out's dtype float32, got float64"):
        F.bias_relu_(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"out must be \(N, C, H, W\)"):
        F.bias_relu_(x[0].copy(), None)


def _conv_relu_pair(algorithm, dtype, rng, C=5, F_=6, dilation=1, bias=True):
    conv = nn.Conv2d(C, F_, 3, padding=dilation, dilation=dilation, bias=bias, name="c", dtype=dtype,
                     algorithm=algorithm)
    conv.params["weight"][...] = rng.standard_normal(conv.params["weight"].shape)
    if bias:
        conv.params["bias"][...] = rng.standard_normal(F_)
    return conv, nn.ReLU("r")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm,dilation", [("im2col", 1), ("winograd", 1), ("direct", 2), ("taps", 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_with_fused_relu_matches_the_two_layers(algorithm, dilation, dtype, bias, rng):
    """``conv.forward(x, relu=relu)``: the same bits as the two layers one after the other, and
    the same gradients through ``relu.backward`` then ``conv.backward``: dx and dw the same bits,
    the bias gradient (summed by the layer, not the op) to float rounding."""
    x = rng.standard_normal((2, 5, 11, 12)).astype(dtype)
    conv, relu = _conv_relu_pair(algorithm, dtype, rng, dilation=dilation, bias=bias)
    want = relu.forward(conv.forward(x))
    dout = rng.standard_normal(want.shape).astype(dtype)
    want_dx = conv.backward(relu.backward(dout))
    want_grads = {k: v.copy() for k, v in conv.grads.items()}
    conv.grads.clear()
    got = conv.forward(x, relu=relu)
    assert conv.last_algorithm == algorithm
    np.testing.assert_array_equal(_bits(got), _bits(want))
    dx = conv.backward(relu.backward(dout))
    np.testing.assert_array_equal(_bits(dx), _bits(want_dx))
    assert list(conv.grads) == list(want_grads)  # filled anew (cleared above), in the same order
    np.testing.assert_array_equal(_bits(conv.grads["weight"]), _bits(want_grads["weight"]))
    if bias:
        rtol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(conv.grads["bias"], want_grads["bias"], rtol=rtol, atol=rtol)
    with nn.no_grad():
        np.testing.assert_array_equal(_bits(conv.forward(x, relu=relu)), _bits(want))
    with pytest.raises(RuntimeError, match="r: backward"):
        relu.backward(dout)
    with pytest.raises(TypeError, match="relu must be a ReLU layer or None, got MaxPool2d"):
        conv.forward(x, relu=nn.MaxPool2d(2))


def test_fused_model_matches_unfused_and_keeps_tapped_outputs(rng, monkeypatch):
    """A whole net with and without the fusion (FUSE_RELU): the same scores bit for bit (train
    and no_grad), gradients to float64 rounding; a side head that taps a convolution's own output
    keeps that convolution unfused (else it would read the ReLU's output)."""
    from minideeplab.models import DeepLab
    from minideeplab.nn import layers as L

    for model in (DeepLab("DeepLab-LargeFOV", 3, width=1 / 16, dtype=np.float64, dropout=0.0),
                  DeepLab("DeepLab-MSc-LargeFOV", 3, width=1 / 16, dtype=np.float64, dropout=0.0)):
        x = rng.standard_normal((1, 3, 33, 33))
        results = []
        for fuse in (False, True):
            monkeypatch.setattr(L, "FUSE_RELU", fuse)
            model.zero_grad()
            scores = model.forward(x)
            dx = model.backward(np.cos(scores))
            with nn.no_grad():
                values = model.forward(x)
            results.append((scores, dx, dict(model.grads), values))
        (s0, dx0, g0, v0), (s1, dx1, g1, v1) = results
        np.testing.assert_array_equal(_bits(s1), _bits(s0))
        np.testing.assert_array_equal(_bits(v1), _bits(s0))
        np.testing.assert_array_equal(_bits(dx1), _bits(dx0))  # dx and weights' gradients: the same bits
        assert list(g1) == list(g0)  # every gradient filled anew (zero_grad above), in the same order
        for k in g0:
            if k.endswith(".bias"):  # summed by the layer, not the op
                np.testing.assert_allclose(g1[k], g0[k], rtol=1e-14, atol=1e-15)
            else:
                np.testing.assert_array_equal(_bits(g1[k]), _bits(g0[k]))
    pairs = [(layer.name, relu.name) for layer, relu in L.fused(model.layers, keep=model.heads) if relu]
    assert len(pairs) == 15 and ("fc7", "relu7") in pairs  # every convolution of the trunk but fc8
    assert [r.name for _, r in L.fused(model.heads["pool1"].layers) if r] == ["msc1_relu1", "msc1_relu2"]

    # a head on a convolution's own output: that convolution stays unfused
    from minideeplab.models.base import Model

    conv, relu = _conv_relu_pair("im2col", np.float64, rng, C=3, F_=3)
    conv2, relu2 = _conv_relu_pair("im2col", np.float64, rng, C=3, F_=3)
    conv2.name, relu2.name = "c2", "r2"
    head = nn.Sequential([nn.Conv2d(3, 3, 1, name="h", dtype=np.float64)])
    head.layers[0].params["weight"][...] = rng.standard_normal((3, 3, 1, 1))
    tapped = Model([conv, relu, conv2, relu2], heads={"c": head})
    assert [(a.name, b and b.name) for a, b in L.fused(tapped.layers, keep=tapped.heads)] == [
        ("c", None), ("r", None), ("c2", "r2")]
    x = rng.standard_normal((2, 3, 7, 8))
    monkeypatch.setattr(L, "FUSE_RELU", False)
    want = tapped.forward(x)
    monkeypatch.setattr(L, "FUSE_RELU", True)
    np.testing.assert_array_equal(tapped.forward(x), want)
    assert (head.forward(conv.forward(x)) < 0).any()  # the tap reads negative values: a ReLU would show


@pytest.mark.parametrize("algorithm,dilation", [("im2col", 1), ("direct", 2)])
def test_conv_with_fused_relu_numerical_gradient(algorithm, dilation, rng):
    """The fused pair's gradients (the ReLU's mask handed over, the bias gradient summed by the
    layer) against float64 central differences, outputs kept off the kink at 0."""
    from minideeplab.nn import numerical_gradient, rel_error

    x = rng.standard_normal((2, 5, 7, 8))
    conv, relu = _conv_relu_pair(algorithm, np.float64, rng, dilation=dilation)
    assert np.abs(conv.forward(x)).min() > 1e-4  # off the kink, by more than the differences' step
    conv.grads.clear()
    out = conv.forward(x, relu=relu)
    assert 0.2 < (out > 0).mean() < 0.8
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(relu.backward(dout))
    grads = {k: v.copy() for k, v in conv.grads.items()}
    assert grads.keys() == {"weight", "bias"}
    for name, a, got in (("x", x, dx), ("weight", conv.params["weight"], grads["weight"]),
                         ("bias", conv.params["bias"], grads["bias"])):
        num = numerical_gradient(lambda: conv.forward(x, relu=relu), a, dout)
        assert rel_error(got, num) < 1e-7, name


def test_conv_with_fused_relu_on_arrays_without_kernels(rng):
    """float16 (as CuPy) takes no Numba kernel: the two layers run one after the other, with the
    op's own bias gradient, the same values as unfused."""
    x = rng.standard_normal((2, 5, 9, 10)).astype(np.float16)
    conv, relu = _conv_relu_pair("im2col", np.float16, rng)
    want = relu.forward(conv.forward(x))
    dout = rng.standard_normal(want.shape).astype(np.float16)
    want_dx = conv.backward(relu.backward(dout))
    want_grads = {k: v.copy() for k, v in conv.grads.items()}
    conv.grads.clear()
    got = conv.forward(x, relu=relu)
    assert not conv._bias_grad and got.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(conv.backward(relu.backward(dout)), want_dx)
    for k in want_grads:
        np.testing.assert_array_equal(conv.grads[k], want_grads[k])
