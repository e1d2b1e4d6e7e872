"""The CuPy path against the NumPy path: every op, a training run, checkpoints, inference, the CRF.

Marked ``gpu``: skipped without CuPy and a CUDA device (conftest). On a GPU the ops run their
readable versions (CuPy arrays never reach the Numba kernels), so these tests also compare the
kernels' twins with the kernels, on another machine's arithmetic.
"""
import numpy as np
import pytest

from minideeplab import backend, nn
from minideeplab.crf import dense_crf
from minideeplab.datasets import SyntheticScenes
from minideeplab.models import DeepLab
from minideeplab.predict import predict_scores
from minideeplab.train import Trainer, TrainConfig

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    return pytest.importorskip("cupy")


def _close(a, b, rtol=1e-4, atol=1e-5):
    a = backend.asnumpy(a)
    assert a.shape == np.shape(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_pool_interp_relu_on_cupy_match_numpy(cp, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 19, 17)).astype(dtype)
    w = rng.standard_normal((6, 5, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for stride, pad, dil in ((1, 1, 1), (1, 2, 2), (2, 1, 1), (1, 12, 12)):
        out, cache = nn.conv2d_im2col_forward(x, w, b, stride, pad, dil)
        gout, gcache = nn.conv2d_im2col_forward(cp.asarray(x), cp.asarray(w), cp.asarray(b), stride, pad, dil)
        assert backend.get_array_module(gout) is cp
        _close(gout, out, **tol)
        dout = rng.standard_normal(out.shape).astype(dtype)
        for got, want in zip(nn.conv2d_im2col_backward(cp.asarray(dout), gcache),
                             nn.conv2d_im2col_backward(dout, cache)):
            _close(got, want, **tol)
        if stride == 1:  # the taps pair on CuPy against im2col on NumPy
            gout, gcache = nn.conv2d_taps_forward(cp.asarray(x), cp.asarray(w), cp.asarray(b), pad, dil)
            _close(gout, out, **tol)
            for got, want in zip(nn.conv2d_taps_backward(cp.asarray(dout), gcache),
                                 nn.conv2d_im2col_backward(dout, cache)):
                _close(got, want, **tol)
    for k, s, p in ((3, 2, 1), (3, 1, 1), (2, 2, 0)):  # Caffe's ceil rounding
        out, cache = nn.maxpool2d_forward(x, k, s, p)
        gout, gcache = nn.maxpool2d_forward(cp.asarray(x), k, s, p)
        _close(gout, out, **tol)
        dout = rng.standard_normal(out.shape).astype(dtype)
        _close(nn.maxpool2d_backward(cp.asarray(dout), gcache), nn.maxpool2d_backward(dout, cache), **tol)
        out, cache = nn.avgpool2d_forward(x, k, s, p)
        gout, gcache = nn.avgpool2d_forward(cp.asarray(x), k, s, p)
        _close(gout, out, **tol)
        _close(nn.avgpool2d_backward(cp.asarray(dout), gcache), nn.avgpool2d_backward(dout, cache), **tol)
    out, cache = nn.interp_forward(x, (41, 33))
    gout, gcache = nn.interp_forward(cp.asarray(x), (41, 33))
    _close(gout, out, **tol)
    _close(nn.interp_backward(cp.asarray(out), gcache), nn.interp_backward(out, cache), **tol)
    out, mask = nn.relu_forward(x)
    gout, gmask = nn.relu_forward(cp.asarray(x))
    _close(gout, out, **tol)
    _close(nn.relu_backward(cp.asarray(x), gmask), nn.relu_backward(x, mask), **tol)


def test_loss_with_void_and_class_weights_on_cupy(cp):
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((2, 4, 7, 9)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 7, 9))
    labels[0, :2] = nn.IGNORE_INDEX
    weights = np.array([0.5, 1.0, 2.0, 4.0])
    for kw in ({}, {"class_weights": weights}, {"normalization": "full"}):
        loss, cache = nn.softmax_cross_entropy_forward(scores, labels, **kw)
        gloss, gcache = nn.softmax_cross_entropy_forward(cp.asarray(scores), cp.asarray(labels), **kw)
        assert isinstance(gloss, float) and gloss == pytest.approx(loss, rel=1e-5)
        _close(nn.softmax_cross_entropy_backward(gcache), nn.softmax_cross_entropy_backward(cache))
    with pytest.raises(ValueError, match="labels must be in"):
        nn.softmax_cross_entropy_forward(cp.asarray(scores), cp.asarray(labels + 5))


def _pair(optimizer, **kw):
    cfg = dict(crop_size=33, batch_size=2, max_iter=4, base_lr=1e-2, lr_policy="poly", snapshot_every=2,
               seed=0, optimizer=optimizer)
    cfg.update(kw)
    if optimizer == "adam":
        cfg["base_lr"] = 1e-3
    data = SyntheticScenes(12, (40, 40), 4, seed=1)
    return DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0), data, TrainConfig(**cfg)


@pytest.mark.parametrize("optimizer,weighting", [("sgd", "none"), ("adam", "median-frequency")])
def test_training_on_cupy_follows_the_numpy_run(cp, tmp_path, optimizer, weighting):
    m, data, cfg = _pair(optimizer, class_weighting=weighting)
    want = Trainer(m, data, cfg).fit(progress=False)
    g, data, cfg = _pair(optimizer, class_weighting=weighting)
    g.to(cp)
    t = Trainer(g, data, cfg, out_dir=str(tmp_path))
    got = t.fit(progress=False)
    assert all(backend.get_array_module(v) is cp for v in g.params.values())
    np.testing.assert_allclose(got, want, rtol=1e-4)  # the same crops, dropout masks and updates
    for k, v in g.params.items():
        _close(v, m.params[k], rtol=1e-3, atol=1e-5)
    # its checkpoint is host arrays: a NumPy model resumes it, and a CuPy one bit-exactly
    cpu, data, cfg = _pair(optimizer, class_weighting=weighting)
    t_cpu = Trainer(cpu, data, cfg, out_dir=str(tmp_path))
    assert t_cpu.resume() and t_cpu.iteration == 4
    for k, v in g.params.items():
        np.testing.assert_array_equal(cpu.params[k], cp.asnumpy(v))


def test_predict_on_cupy_matches_numpy_and_feeds_the_crf(cp):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0)
    want = predict_scores(m, image, scale=(0.75, 1.0), flip=True)
    got = predict_scores(m.to(cp), image, scale=(0.75, 1.0), flip=True)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    _close(got, want, rtol=1e-4, atol=1e-4)
    probs = nn.softmax(want, axis=0)
    Q = dense_crf(image, probs, n_iter=3)  # the CRF runs on the host: CuPy input is copied there
    np.testing.assert_array_equal(dense_crf(cp.asarray(image), cp.asarray(probs), n_iter=3), Q)


def test_cupy_path_matches_numpy(cp):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 17, 17)).astype(np.float32)
    m = DeepLab("DeepLab-MSc-LargeFOV", 4, width=1 / 16, seed=0).eval()
    ref = m.forward(x)
    dref = m.backward(np.ones_like(ref))
    gref = {k: v.copy() for k, v in m.grads.items()}
    m.to(cp)
    out = m.forward(cp.asarray(x))
    assert backend.get_array_module(out) is cp
    _close(out, ref)
    _close(m.backward(cp.ones_like(out)), dref)
    for k, v in m.grads.items():
        _close(v, gref[k], rtol=1e-3)
    m.to(np)
    assert all(type(v) is np.ndarray for v in m.params.values())


def test_the_command_line_trains_on_cupy_when_asked(cp, tmp_path):
    import json
    import os
    import subprocess
    import sys

    # At the synthetic run's default rate (1e-2) its fifth step overshoots and magnifies rounding:
    # on the CPU alone, one thread against two already moves that loss by 2e-3 (relative). At 1e-3
    # the path is smooth, and CuPy's losses must follow NumPy's to float32 rounding.
    losses = {}
    for name in ("cupy", "numpy"):
        out = tmp_path / name
        env = {**os.environ, "MINIDEEPLAB_BACKEND": name}
        run = subprocess.run([sys.executable, "-m", "minideeplab", "train", "--dataset", "synthetic", "--max-iter",
                              "5", "--lr", "1e-3", "--out", str(out), "--quiet"],
                             env=env, check=True, capture_output=True, text=True)
        assert f"(arrays on {name})" in run.stdout
        losses[name] = [r["loss"] for r in json.loads((out / "train_log.json").read_text())]
        assert (out / "model.npz").exists()
    np.testing.assert_allclose(losses["cupy"], losses["numpy"], rtol=1e-4)
