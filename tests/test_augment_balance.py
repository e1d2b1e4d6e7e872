"""The stronger training recipe's pieces: colour jitter and median frequency class weights,
each against an independent statement of what it must do, and wired through the trainer and
the command line."""
import numpy as np
import pytest

from minideeplab import datasets
from minideeplab.cli import build_parser
from minideeplab.datasets import SyntheticScenes, color_jitter, median_frequency_weights
from minideeplab.models import DeepLab
from minideeplab.train import Trainer, TrainConfig


def _loop_weights(labels, L):
    """Eigen & Fergus's definition, image by image and class by class."""
    freq = []
    for c in range(L):
        n_c = n_img = 0
        for lab in labels:
            valid = lab[lab != 255]
            k = int((valid == c).sum())
            if k:
                n_c += k
                n_img += valid.size
        freq.append(n_c / n_img if n_img else None)
    med = np.median([f for f in freq if f is not None])
    return np.array([0.0 if f is None else med / f for f in freq])


def test_median_frequency_weights_match_the_definition(rng):
    labels = [rng.integers(0, 4, size=(5, 7)) for _ in range(3)]
    labels[0][labels[0] == 3] = 1   # class 3 missing from one image
    labels[1][:2] = 255
    labels.append(np.full((4, 4), 1))
    w = median_frequency_weights(labels, 5)  # class 4 never occurs
    np.testing.assert_allclose(w, _loop_weights(labels, 5), rtol=1e-12)
    assert w[4] == 0.0
    w1 = median_frequency_weights(labels, 5, absent=1.0)  # targets EM estimates may hold class 4
    np.testing.assert_array_equal(w1[:4], w[:4])
    assert w1[4] == 1.0
    for bad in (-1.0, np.nan):
        with pytest.raises(ValueError, match="absent"):
            median_frequency_weights(labels, 5, absent=bad)
    # a class half as frequent (where present) weighs twice as much
    two = [np.array([[0, 0, 1, 1]]), np.array([[0, 0, 0, 2]])]
    w2 = median_frequency_weights(two, 3)
    assert w2[2] == pytest.approx(2 * w2[1])


@pytest.mark.parametrize("bad, match", [([], "empty"), ([np.full((2, 2), 255)], "void"),
                                        ([np.full((2, 2), 7)], r"in \[0, 3\)"), ([np.zeros(3, int)], "integer maps")])
def test_median_frequency_weights_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        median_frequency_weights(bad, 3)


def test_color_jitter_changes_brightness_contrast_saturation_as_drawn(rng):
    image = rng.integers(90, 160, size=(20, 30, 3)).astype(np.uint8)  # mid-range: nothing clips
    out = color_jitter(image, np.random.default_rng(5), 0.3)
    b, c, s = np.random.default_rng(5).uniform(0.7, 1.3, size=3)  # the factors it must have drawn
    luma = lambda x: x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert out.dtype == np.uint8 and out.shape == image.shape
    # contrast keeps the mean luma and saturation each pixel's luma: only brightness moves the mean
    assert luma(out).mean() == pytest.approx(b * luma(image).mean(), abs=0.6)
    # the spread of luma around its mean scales with b * c; colour around the luma with b * c * s
    assert luma(out).std() == pytest.approx(b * c * luma(image).std(), rel=0.02)
    chroma = lambda x: x.astype(np.float64) - luma(x)[:, :, None]
    assert np.abs(chroma(out)).mean() == pytest.approx(b * c * s * np.abs(chroma(image)).mean(), rel=0.03)


def test_color_jitter_keeps_gray_gray_and_zero_is_identity(rng):
    gray = np.repeat(rng.integers(0, 256, size=(8, 9, 1)), 3, axis=2).astype(np.uint8)
    out = color_jitter(gray, rng, 0.5)
    assert np.abs(out.astype(int) - out[:, :, :1]).max() <= 1  # no colour from nowhere (rounding)
    r = np.random.default_rng(0)
    assert color_jitter(gray, r, 0.0) is gray and r.random() == np.random.default_rng(0).random()  # no draw
    with pytest.raises(ValueError, match="strength"):
        color_jitter(gray, rng, 1.0)


def test_trainer_uses_the_class_weights_and_jitter():
    ds = SyntheticScenes(3, (33, 33), 4, objects=(1, 2), seed=1)
    m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0)
    cfg = TrainConfig(crop_size=33, batch_size=2, max_iter=2, seed=0, class_weighting="median-frequency",
                      color_jitter=0.2)
    t = Trainer(m, ds, cfg)
    np.testing.assert_allclose(t.class_weights, _loop_weights([ds[i][1] for i in range(3)], 4), rtol=1e-12)
    losses = t.fit(progress=False)
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    plain = Trainer(DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0), ds,
                    TrainConfig(crop_size=33, batch_size=2, max_iter=2, seed=0))
    assert plain.class_weights is None
    for bad in (dict(class_weighting="inverse"), dict(color_jitter=1.5)):
        with pytest.raises(ValueError):
            TrainConfig(**bad).validate()


def test_train_command_takes_the_recipe_options():
    args = build_parser().parse_args(["train", "--color-jitter", "0.3", "--class-weights", "median-frequency"])
    assert (args.color_jitter, args.class_weights) == (0.3, "median-frequency")
    args = build_parser().parse_args(["train"])
    assert (args.color_jitter, args.class_weights) == (0.0, "none")
    assert datasets.median_frequency_weights is median_frequency_weights
