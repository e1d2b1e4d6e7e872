import numpy as np
import pytest

from minideeplab.datasets import (MEAN_BGR, SyntheticScenes, noisy_probs, pad_to_multiple, preprocess,
                                  random_crop_mirror, thin_line_scene)


def test_preprocess_is_bgr_minus_mean():
    img = np.zeros((2, 3, 3), dtype=np.uint8)
    img[0, 0] = (10, 20, 30)  # RGB
    x = preprocess(img)
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    assert np.allclose(x[:, 0, 0], [30 - MEAN_BGR[0], 20 - MEAN_BGR[1], 10 - MEAN_BGR[2]])
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\)"):
        preprocess(np.zeros((4, 4), dtype=np.uint8))


def test_crop_pads_with_mean_and_void_and_mirrors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 7)).astype(np.float32)
    lab = rng.integers(0, 3, size=(5, 7)).astype(np.uint8)
    seen_flip = seen_plain = False
    for _ in range(20):
        cx, cl = random_crop_mirror(x, lab, 9, rng)
        assert cx.shape == (3, 9, 9) and cl.shape == (9, 9)
        assert np.all(cl[5:] == 255) and np.all(cx[:, 5:] == 0)
        if np.array_equal(cl[:5, :7], lab):
            seen_plain = True
            assert np.array_equal(cx[:, :5, :7], x)
        if np.array_equal(cl[:5, 2:], lab[:, ::-1]):
            seen_flip = True
            assert np.array_equal(cx[:, :5, 2:], x[:, :, ::-1])
    assert seen_flip and seen_plain


def test_crop_is_a_window_of_the_input():
    rng = np.random.default_rng(1)
    x = np.arange(3 * 20 * 30, dtype=np.float32).reshape(3, 20, 30)
    lab = (np.arange(600).reshape(20, 30) % 7).astype(np.uint8)
    cx, cl = random_crop_mirror(x, lab, (8, 10), rng, mirror=False)
    y0, x0 = np.argwhere(x[0] == cx[0, 0, 0])[0]
    assert np.array_equal(cx, x[:, y0:y0 + 8, x0:x0 + 10]) and np.array_equal(cl, lab[y0:y0 + 8, x0:x0 + 10])


def test_pad_to_multiple_gives_8k_plus_1():
    x = np.ones((3, 213, 320), dtype=np.float32)
    p = pad_to_multiple(x)
    assert p.shape == (3, 217, 321) and np.all(p[:, 213:] == 0) and np.all(p[:, :213, :320] == 1)
    assert pad_to_multiple(np.ones((3, 321, 17))).shape == (3, 321, 17)
    with pytest.raises(ValueError, match=r"x must be a \(C, H, W\)"):
        pad_to_multiple(np.ones((4, 4)))
    with pytest.raises(ValueError, match="multiple must be a positive int"):
        pad_to_multiple(x, 0)


def test_synthetic_scenes_are_deterministic_and_labelled():
    a, b = SyntheticScenes(5, (40, 50), 4, seed=3), SyntheticScenes(5, (40, 50), 4, seed=3)
    for i in range(5):
        ia, la = a[i]
        ib, lb = b[i]
        assert ia.shape == (40, 50, 3) and ia.dtype == np.uint8 and la.shape == (40, 50)
        assert np.array_equal(ia, ib) and np.array_equal(la, lb)
        assert set(np.unique(la)) <= {0, 1, 2, 3}
    assert not np.array_equal(a[0][0], SyntheticScenes(5, (40, 50), 4, seed=4)[0][0])
    # shape classes are visibly different in colour from the background
    img, lab = a[0]
    for c in np.unique(lab)[1:]:
        assert np.abs(img[lab == c].mean(0) - img[lab == 0].mean(0)).max() > 20
    with pytest.raises(IndexError):
        a[5]
    with pytest.raises(ValueError, match="num_classes"):
        SyntheticScenes(num_classes=1)


def test_noisy_probs_favour_the_truth_and_are_uniform_on_void():
    labels = np.repeat(np.arange(4), 30).reshape(8, 15).astype(np.uint8)
    labels[0, :3] = 255
    p = noisy_probs(labels, 4, strength=2.0, noise=1.0, rng=0)
    assert p.shape == (4, 8, 15) and p.dtype == np.float64 and np.allclose(p.sum(0), 1)
    assert np.array_equal(p, noisy_probs(labels, 4, strength=2.0, noise=1.0, rng=np.random.default_rng(0)))
    assert np.allclose(p[:, 0, :3], 0.25)  # void
    valid = labels < 4
    assert 0.6 < (p.argmax(0) == labels)[valid].mean() < 0.95  # right mostly, not always
    assert (noisy_probs(labels, 4, strength=0.0, noise=1.0, rng=0).argmax(0) == labels)[valid].mean() < 0.5
    # ``smooth`` blurs the noise over space: neighbouring errors agree
    rough, smooth = (noisy_probs(np.zeros((40, 40), np.uint8), 2, strength=0.0, noise=1.0, rng=1, smooth=s)
                     for s in (0.0, 3.0))
    step = lambda q: np.abs(np.diff(q[1], axis=1)).mean()
    assert step(smooth) < step(rough) / 5
    assert noisy_probs(labels, 4, strength=2.0, noise=1.0, rng=0, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="labels must be"):
        noisy_probs(labels.astype(float), 4, strength=2.0, noise=1.0, rng=0)
    with pytest.raises(ValueError, match="n_labels"):
        noisy_probs(labels, 0, strength=2.0, noise=1.0, rng=0)
    with pytest.raises(ValueError, match="noise must be a finite"):
        noisy_probs(labels, 4, strength=2.0, noise=np.nan, rng=0)
    with pytest.raises(ValueError, match="smooth must be >= 0"):
        noisy_probs(labels, 4, strength=2.0, noise=1.0, rng=0, smooth=-1)


def test_thin_line_scene():
    img, line, p = thin_line_scene()
    assert img.shape == (40, 60, 3) and img.dtype == np.uint8 and line.sum() == 50 and line[20, 5:55].all()
    assert (img[line] == 230).all() and (img[~line] == 60).all()
    assert np.allclose(p.sum(0), 1) and (p[1][line] == 0.6).all() and (p[1][~line] == 0.2).all()
    assert (p.argmax(0) == line).all()  # the unary alone finds the line
    with pytest.raises(ValueError, match="inside size"):
        thin_line_scene(size=(10, 60))
