import numpy as np
import pytest

from minideeplab import nn
from minideeplab.datasets import MEAN_BGR
from minideeplab.models import (VARIANTS, DeepLab, VGG16, build_model, load_vgg16, output_stride,
                                paper_rf_size, receptive_field)
from minideeplab.nn import AvgPool2d, MaxPool2d, rel_error


@pytest.mark.parametrize("variant,millions", [("DeepLab-7x7", 134.3), ("DeepLab", 65.1),
                                               ("DeepLab-4x4", 65.1), ("DeepLab-LargeFOV", 20.5)])
def test_paper_parameter_counts(variant, millions):
    m = DeepLab(variant, 21, width=1.0)
    assert round(m.num_params() / 1e6, 1) == millions
    assert output_stride(m) == 8


def test_vgg16_parameter_count_and_names():
    m = VGG16()
    assert m.num_params() == 138_357_544  # the published VGG-16 count
    keys = list(m.params)
    assert keys[:4] == ["conv1_1.weight", "conv1_1.bias", "conv1_2.weight", "conv1_2.bias"]
    assert keys[-2:] == ["fc8.weight", "fc8.bias"] and m.params["fc6.weight"].shape == (4096, 512, 7, 7)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_shapes_output_stride_8(variant):
    m = DeepLab(variant, 5, width=1 / 32).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 65, 97)).astype(np.float32)
    out = m.forward(x)
    assert out.shape == (2, 5, 9, 13) and out.dtype == np.float32
    dx = m.backward(np.ones_like(out))
    assert dx.shape == x.shape and set(m.grads) == set(m.params)


def test_paper_rf_column():
    rows = {v: paper_rf_size(k, d) for v, (k, d, _) in VARIANTS.items()}
    assert rows == {"DeepLab-7x7": 224, "DeepLab": 128, "DeepLab-4x4": 224,
                    "DeepLab-LargeFOV": 224, "DeepLab-MSc-LargeFOV": 224}
    assert paper_rf_size(7, 1, input_stride=32) == 224  # VGG-16's own fc6


def _avgpool_twin(model):
    """Same geometry with average pools, so every input pixel in the RF gets gradient."""
    for i, l in enumerate(model.layers):
        if isinstance(l, MaxPool2d):
            model.layers[i] = AvgPool2d(l.kernel_size, l.stride, l.padding, name=l.name)
    for l in model.all_layers():
        for k, v in l.params.items():
            l.params[k] = np.abs(v) + 0.01
    return model.eval()


@pytest.mark.parametrize("variant", ["DeepLab", "DeepLab-LargeFOV", "VGG-16"])
def test_receptive_field_matches_gradient_support(variant):
    m = _avgpool_twin(build_model(variant, num_classes=1, width=1 / 64, dtype=np.float64))
    rf = receptive_field(m)[-1]["rf"]
    size = rf + 64
    x = np.ones((1, 3, size, size))
    out = m.forward(x)
    d = np.zeros_like(out)
    cy, cx = out.shape[2] // 2, out.shape[3] // 2
    d[0, 0, cy, cx] = 1
    g = np.abs(m.backward(d)[0]).sum(axis=0)
    ys, xs = np.nonzero(g.sum(axis=1)), np.nonzero(g.sum(axis=0))
    assert ys[0][-1] - ys[0][0] + 1 == rf and xs[0][-1] - xs[0][0] + 1 == rf


@pytest.mark.parametrize("variant", ["DeepLab-LargeFOV", "DeepLab-MSc-LargeFOV"])
def test_whole_model_gradient_float64(variant):
    """Loss gradient of the whole net against central differences (train mode, fixed dropout)."""
    rng = np.random.default_rng(3)
    m = DeepLab(variant, 3, width=1 / 64, dtype=np.float64, seed=1)
    # fc8's N(0, 0.01) init shrinks every lower gradient 100-fold, and conv1_1's init
    # (divided by the pixel std, 58) the input gradient 58-fold, below the round-off of
    # central differences; unit-scale weights there keep the check well conditioned.
    # Zero biases put pre-activations behind all-dead windows exactly on ReLU's kink,
    # where central differences measure half the slope: use small random biases.
    for name, p in m.params.items():
        if name.endswith("score.weight") or name in ("fc8.weight", "conv1_1.weight", "msc0_1.weight"):
            p[...] = rng.standard_normal(p.shape)
        elif name.endswith("bias"):
            p[...] = 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((2, 3, 17, 17))
    labels = rng.integers(0, 3, size=(2, 3, 3))
    labels[0, 0, 0] = 255

    def loss():
        m.reseed(7)
        return nn.softmax_cross_entropy_forward(m.forward(x), labels)[0]

    l0 = loss()
    _, cache = nn.softmax_cross_entropy_forward(_fwd(m, x), labels)
    dx = m.backward(nn.softmax_cross_entropy_backward(cache))
    assert np.isfinite(l0)
    names = ["conv1_1.weight", "conv3_2.bias", "conv5_3.weight", "fc6.weight", "fc8.bias"]
    if "MSc" in variant:
        names += ["msc0_1.weight", "msc2_score.weight", "msc4_2.bias"]
    for name in names:
        p = m.params[name]
        flat = p.reshape(-1)
        idx = rng.choice(flat.size, size=min(flat.size, 12), replace=False)
        num = []
        for i in idx:
            old = flat[i]
            flat[i] = old + 1e-6
            lp = loss()
            flat[i] = old - 1e-6
            lm = loss()
            flat[i] = old
            num.append((lp - lm) / 2e-6)
        assert rel_error(m.grads[name].reshape(-1)[idx], np.array(num)) < 1e-6, name
    xi, h = x.reshape(-1), 1e-6
    idx = rng.choice(xi.size, size=10, replace=False)
    num = []
    for i in idx:
        old = xi[i]
        xi[i] = old + h
        lp = loss()
        xi[i] = old - h
        lm = loss()
        xi[i] = old
        num.append((lp - lm) / (2 * h))
    assert rel_error(dx.reshape(-1)[idx], np.array(num)) < 1e-6


def _fwd(m, x):
    m.reseed(7)
    return m.forward(x)


def test_train_eval_dropout():
    m = DeepLab("DeepLab-LargeFOV", 3, width=1 / 32, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 3, 33, 33)).astype(np.float32)
    m.eval()
    a, b = m.forward(x), m.forward(x)
    assert np.array_equal(a, b)
    m.train()
    c, d = m.forward(x), m.forward(x)
    assert not np.array_equal(c, d)


def test_save_load_roundtrip(tmp_path):
    m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 32, seed=0)
    path = tmp_path / "w.npz"
    m.save(path)
    m2 = DeepLab("DeepLab-LargeFOV", 4, width=1 / 32, seed=1)
    assert not np.array_equal(m.params["fc8.weight"], m2.params["fc8.weight"])
    m2.load(path)
    for k in m.params:
        assert np.array_equal(m.params[k], m2.params[k])
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == set(m.params)
    m3 = DeepLab("DeepLab-LargeFOV", 5, width=1 / 32)
    with pytest.raises(ValueError, match="fc8.weight: shape"):
        m3.load(path)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary left behind


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="variant must be one of"):
        DeepLab("DeepLab-9x9")
    with pytest.raises(ValueError, match="width"):
        DeepLab(width=0)
    with pytest.raises(ValueError, match="num_classes"):
        DeepLab(num_classes=0)
    with pytest.raises(TypeError, match="dtype"):
        DeepLab(dtype=np.int32)
    m = DeepLab("DeepLab-LargeFOV", 3, width=1 / 32)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        m.forward(np.zeros((1, 3, 17, 17), dtype=np.uint8))
    with pytest.raises(ValueError, match="input channels"):
        m.forward(np.zeros((1, 4, 17, 17), dtype=np.float32))
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        m.forward(np.zeros((3, 17, 17), dtype=np.float32))


# ----------------------------------------------------------------- VGG-16 import
def _fake_torchvision_state(width, rng):
    """A torchvision-keyed VGG-16 state dict with random weights at a reduced width."""
    ref = VGG16(num_classes=10, width=width, dtype=np.float64)
    tv_conv = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    convs = [l for l in ref.layers if l.kind == "conv"]
    state = {}
    for i, l in zip(tv_conv + ["c0", "c3", "c6"], convs):
        w = rng.standard_normal(l.params["weight"].shape) * 0.1
        b = rng.standard_normal(l.params["bias"].shape) * 0.1
        if isinstance(i, str):
            w = w.reshape(w.shape[0], -1)
            key = f"classifier.{i[1]}"
        else:
            key = f"features.{i}"
        state[f"{key}.weight"], state[f"{key}.bias"] = w, b
    return state


def test_vgg16_import_matches_torch_vgg(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    width = 1 / 16
    state = _fake_torchvision_state(width, rng)
    np.savez(tmp_path / "vgg.npz", **state)
    ours = load_vgg16(VGG16(10, width, np.float64).eval(), str(tmp_path / "vgg.npz"), preprocessing="torchvision")
    # the same network in torch, torchvision's layout
    tn = torch.nn
    feats, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            feats.append(tn.MaxPool2d(2, 2))
        else:
            feats += [tn.Conv2d(c, round(v * width), 3, padding=1), tn.ReLU()]
            c = round(v * width)
    features = tn.Sequential(*feats).double()
    classifier = tn.Sequential(tn.Linear(c * 49, 256), tn.ReLU(), tn.Dropout(), tn.Linear(256, 256), tn.ReLU(),
                               tn.Dropout(), tn.Linear(256, 10)).double().eval()
    sd = {k: torch.tensor(v) for k, v in state.items()}
    features.load_state_dict({k[9:]: v for k, v in sd.items() if k.startswith("features.")})
    classifier.load_state_dict({k[11:]: v for k, v in sd.items() if k.startswith("classifier.")})
    x = rng.standard_normal((2, 3, 224, 224))
    with torch.no_grad():
        ref = classifier(torch.flatten(features(torch.tensor(x)), 1)).numpy()
    assert rel_error(ours.forward(x)[:, :, 0, 0], ref) < 1e-10


def test_fc6_fc7_decimation_and_caffe_fold():
    rng = np.random.default_rng(1)
    state = _fake_torchvision_state(1 / 16, rng)
    state["classifier.0.weight"] = rng.standard_normal((1024, 32 * 49))  # fc6 at width 1/4 ...
    state["classifier.0.bias"] = rng.standard_normal(1024)
    state["classifier.3.weight"] = rng.standard_normal((1024, 1024))
    state["classifier.3.bias"] = rng.standard_normal(1024)
    m = DeepLab("DeepLab-LargeFOV", 21, width=1 / 16, dtype=np.float64)  # fc6: 3x3, 64 channels
    load_vgg16(m, state)
    w6 = state["classifier.0.weight"].reshape(1024, 32, 7, 7)
    for o, c, i, j in [(0, 0, 0, 0), (5, 3, 1, 2), (63, 31, 2, 2), (17, 8, 2, 0)]:
        assert m.params["fc6.weight"][o, c, i, j] == w6[16 * o, c, 3 * i, 3 * j]
    assert m.params["fc7.weight"][7, 9, 0, 0] == state["classifier.3.weight"][7 * 16, 9 * 16]
    # conv1_1 on a Caffe-preprocessed BGR image == torchvision conv1_1 on the normalised RGB image
    img = rng.uniform(0, 255, size=(1, 3, 12, 12))  # RGB, 0-255
    caffe_in = img[:, ::-1] - np.array(MEAN_BGR)[None, :, None, None]
    tv_in = (img / 255 - np.array([0.485, 0.456, 0.406])[None, :, None, None]) / np.array([0.229, 0.224, 0.225])[None, :, None, None]
    ours, _ = nn.conv2d_im2col_forward(caffe_in, m.params["conv1_1.weight"], m.params["conv1_1.bias"], 1, 1)
    ref, _ = nn.conv2d_im2col_forward(tv_in, state["features.0.weight"], state["features.0.bias"], 1, 1)
    assert rel_error(ours[:, :, 1:-1, 1:-1], ref[:, :, 1:-1, 1:-1]) < 1e-10
    with pytest.raises(ValueError, match="does not fit"):
        load_vgg16(DeepLab("DeepLab-LargeFOV", 21, width=1 / 8), state)
    with pytest.raises(ValueError, match="torchvision VGG-16"):
        load_vgg16(m, {"foo": np.zeros(1)})


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        m = DeepLab("DeepLab-LargeFOV", 2, width=1 / 32)
        m.save(tmp_path / "w.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o644


def test_model_file_keeps_the_test_time_scale(tmp_path):
    from minideeplab.models import load_model, save_model

    for scale in (0.5, (0.5, 0.625)):
        m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 32, seed=0, input_scale=scale)
        save_model(tmp_path / "m.npz", m)
        m2, meta = load_model(tmp_path / "m.npz")
        assert m2.input_scale == scale
    with pytest.raises(ValueError, match="input_scale"):
        DeepLab("DeepLab-LargeFOV", 4, width=1 / 32, input_scale=[])
