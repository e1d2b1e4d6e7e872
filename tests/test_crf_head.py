"""DCNN + CRF trained end to end (crf_head, Trainer(crf_head=True), train --crf-head): float64
numerical gradients through the resize, the unrolled mean field and the network; the head
without pairwise terms is the plain softmax cross-entropy; training lowers the loss and
resumes bit for bit; bad settings are refused."""
import os

import numpy as np
import pytest

from minideeplab import FileFormatError
from minideeplab.crf_head import CRFHead, crf_size
from minideeplab.datasets import MEAN_BGR, SyntheticScenes
from minideeplab.models import DeepLab, load_model
from minideeplab.nn import functional as F
from minideeplab.nn import numerical_gradient, rel_error
from minideeplab.train import Trainer, TrainConfig

L = 3
INIT = dict(theta_alpha=5.0, theta_beta=40.0, theta_gamma=2.0)


def _batch(rng, N=2, h=3, w=4, H=9, W=13):
    scores = rng.normal(0.0, 1.0, (N, L, h, w))
    images = rng.integers(0, 256, (N, H, W, 3)).astype(np.uint8)
    labels = rng.integers(0, L, (N, H, W))
    labels[0, :2] = 255
    return scores, images, labels


@pytest.mark.parametrize("class_weights", [None, [1.0, 2.0, 0.5]])
def test_head_gradients_match_finite_differences(class_weights, rng):
    scores, images, labels = _batch(rng)
    head = CRFHead(L, scale=0.6, n_iter=3, init=dict(INIT, compat=rng.uniform(0, 2, (L, L))),
                   class_weights=class_weights, method="exact")
    f = lambda: head.forward(scores, images, labels)  # noqa: E731
    f()
    dscores = head.backward()
    grads = {k: np.array(v) for k, v in head.grads.items()}
    assert rel_error(dscores, numerical_gradient(f, scores, 1.0)) < 1e-6
    for k in ("w_bilateral", "w_gaussian", "compat"):
        assert rel_error(grads[k], numerical_gradient(f, head.params[k], 1.0)) < 1e-6, k


def test_head_starts_from_a_learned_crf_with_a_label_bias(rng):
    """init with a ``bias`` (a learned CRF's label prior): the head trains it (float64 central
    differences) and hands it back in dense_crf_params; without one it has no bias."""
    scores, images, labels = _batch(rng)
    b = np.array([0.5, -0.3, 0.1])
    head = CRFHead(L, scale=0.6, n_iter=3, init=dict(INIT, bias=b), method="exact")
    f = lambda: head.forward(scores, images, labels)  # noqa: E731
    f()
    head.backward()
    grad = np.array(head.grads["bias"])
    assert rel_error(grad, numerical_gradient(f, head.params["bias"], 1.0)) < 1e-6
    np.testing.assert_array_equal(head.dense_crf_params()["bias"], b)
    assert "bias" not in CRFHead(L, init=INIT).params and "bias" not in CRFHead(L, init=INIT).dense_crf_params()


def test_head_without_pairwise_terms_is_softmax_cross_entropy(rng):
    """Zero kernel weights: Q = softmax(scores) on the CRF grid, so the loss and its gradient are
    those of F.softmax_cross_entropy on the bilinearly resized scores and nearest labels."""
    scores, images, labels = _batch(rng)
    head = CRFHead(L, scale=0.5, n_iter=2, init=dict(INIT, w_bilateral=0.0, w_gaussian=0.0), method="exact")
    loss = head.forward(scores, images, labels)
    dscores = head.backward()
    size = (crf_size(9, 0.5), crf_size(13, 0.5))
    assert size == (5, 7)
    up, cache = F.interp_forward(scores, size)
    ref, ce_cache = F.softmax_cross_entropy_forward(up, F.shrink_labels(labels, size).astype(np.int64))
    assert loss == pytest.approx(ref, rel=1e-10)
    assert rel_error(dscores, F.interp_backward(F.softmax_cross_entropy_backward(ce_cache), cache)) < 1e-10


def _trainer(tmp_path=None, seed=0, dtype=np.float32, **kw):
    cfg = dict(crop_size=33, batch_size=2, max_iter=4, base_lr=1e-3, optimizer="adam", lr_policy="fixed",
               snapshot_every=2, seed=seed, crf_head=True, crf_head_scale=0.5, crf_head_iters=3)
    cfg.update(kw)
    model = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=seed, dropout=0.0, dtype=dtype)
    ds = SyntheticScenes(12, (40, 40), 4, seed=1)
    return Trainer(model, ds, TrainConfig(**cfg), out_dir=str(tmp_path) if tmp_path else None,
                   crf_init=dict(w_bilateral=3.0, w_gaussian=2.0, theta_alpha=20.0, theta_beta=20.0, theta_gamma=3.0))


def test_gradient_reaches_the_network_through_the_crf():
    """Trainer's head pass: d loss / d fc8's weights and bias against float64 finite differences
    of the whole chain (network -> resize -> mean field -> cross-entropy). (Deeper weights are
    checked against the network's own loss in test_models; here their finite differences would
    cross ReLU and max-pool kinks.)"""
    tr = _trainer(dtype=np.float64, crf_head_iters=2)
    tr.head.crf.method = "exact"
    x, labels, _ = tr._sample()
    model = tr.model
    model.train()
    tr._head_pass(x, model.forward(x), labels)
    for name in ("fc8.weight", "fc8.bias"):
        analytic = model.grads[name].copy()
        p = model.params[name]
        sub = p.reshape(-1)[:6]  # a view: perturbing it perturbs the weights

        def f():
            scores = model.forward(x)
            bgr = x.transpose(0, 2, 3, 1) + np.asarray(MEAN_BGR)
            return tr.head.forward(scores, bgr[..., ::-1], labels)

        num = numerical_gradient(f, sub, 1.0)
        assert rel_error(analytic.reshape(-1)[:6], num) < 1e-7, name




def test_training_through_the_crf_lowers_the_loss_and_learns_the_crf():
    tr = _trainer(max_iter=30, base_lr=3e-3, crf_head_lr=0.05, snapshot_every=0)
    start = {k: np.array(v) for k, v in tr.head.params.items()}
    losses = tr.fit(progress=False)
    assert np.mean(losses[-8:]) < 0.8 * np.mean(losses[:8])
    assert not np.array_equal(start["compat"], tr.head.params["compat"])
    assert float(tr.head.params["w_bilateral"]) >= 0 and float(tr.head.params["w_gaussian"]) >= 0


def test_crf_head_run_resumes_bit_for_bit(tmp_path):
    full = _trainer()
    full_losses = full.fit(progress=False)
    first = _trainer(tmp_path)
    first.fit(max_iter=2, progress=False)
    again = _trainer(tmp_path)
    assert again.resume() and again.iteration == 2
    losses = again.fit(progress=False)
    assert losses == full_losses[2:]
    for k in full.model.params:
        assert np.array_equal(full.model.params[k], again.model.params[k]), k
    for k in full.head.params:
        assert np.array_equal(full.head.params[k], again.head.params[k]), k


def test_checkpoints_with_and_without_a_head_do_not_mix(tmp_path):
    _trainer(tmp_path).fit(max_iter=2, progress=False)
    plain = _trainer(tmp_path, crf_head=False)
    with pytest.raises(FileFormatError, match="CRF head"):
        plain.resume()


@pytest.mark.parametrize("bad, exc", [
    (dict(crf_head_scale=0.0), ValueError), (dict(crf_head_scale=1.5), ValueError),
    (dict(crf_head_iters=0), ValueError), (dict(crf_head_lr=-1.0), ValueError), (dict(crf_head="yes"), TypeError),
])
def test_bad_head_settings(bad, exc):
    with pytest.raises(exc, match=next(iter(bad))):
        TrainConfig(**bad).validate()


def test_head_refuses_weak_supervision_and_bad_input(rng):
    model = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, dropout=0.0)
    with pytest.raises(ValueError, match="pixel labels"):
        Trainer(model, SyntheticScenes(4, (40, 40), 4, seed=1), TrainConfig(crf_head=True),
                target_fn=lambda i, image, label, scores: label)
    head = CRFHead(L)
    scores, images, labels = _batch(rng)
    with pytest.raises(ValueError, match="labels"):
        head.forward(scores, images, labels[:, :-1])
    with pytest.raises(ValueError, match="labels must be in"):
        head.forward(scores, images, np.full_like(labels, 7))
    with pytest.raises(ValueError, match="scores"):
        head.forward(scores[:, :2], images, labels)
    with pytest.raises(ValueError, match="unknown CRF parameters"):
        CRFHead(L, init=dict(w_bilatreal=1.0))
    with pytest.raises(ValueError, match="scores must be finite"):
        head.forward(np.where(scores > 1, np.nan, scores), images, labels)
    with pytest.raises(ValueError, match="images contains NaN"):
        head.forward(scores, np.where(images > 128, np.nan, images.astype(float)), labels)
    with pytest.raises(ValueError, match="class_weights"):
        CRFHead(L, class_weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="class_weights"):
        CRFHead(L, class_weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="num_classes"):
        CRFHead(0)
    with pytest.raises(ValueError, match="scale"):
        CRFHead(L, scale=0.0)
    with pytest.raises(RuntimeError, match="before forward"):
        CRFHead(L).backward()


def test_train_command_stores_the_learned_crf_for_segment(tmp_path, capsys):
    from minideeplab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--images", "8", "--size", "33", "--crop", "33",
                 "--batch-size", "2", "--max-iter", "3", "--width", "0.0625", "--crf-head", "--out", str(out),
                 "--quiet"]) == 0
    _, meta = load_model(str(out / "model.npz"))
    crf = meta["learned_crf"]
    assert crf["source"] == "train --crf-head" and np.array(crf["params"]["compat"]).shape == (4, 4)
    from PIL import Image

    Image.fromarray(SyntheticScenes(1, (40, 40), 4, seed=2)[0][0]).save(tmp_path / "x.png")
    assert main(["segment", str(tmp_path / "x.png"), "--model", str(out / "model.npz"), "--crf", "learned",
                 "-o", str(tmp_path / "x_seg.png")]) == 0
    assert os.path.exists(tmp_path / "x_seg.png")
    assert main(["train", "--dataset", "synthetic", "--images", "8", "--size", "33", "--crop", "33", "--max-iter", "1",
              "--width", "0.0625", "--crf-head", "--supervision", "em-adapt", "--out", str(tmp_path / "weak"),
                 "--quiet"]) != 0
    assert "--crf-head needs pixel labels" in capsys.readouterr().err
