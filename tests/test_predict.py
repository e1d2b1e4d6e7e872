"""Inference: test-time scales, evaluation over a dataset, and that it needs no trainer."""
import subprocess
import sys

import numpy as np
import pytest

from minideeplab.datasets import SyntheticScenes
from minideeplab.datasets.transforms import resize_image, resize_image_and_label
from minideeplab.models import DeepLab
from minideeplab.predict import evaluate, predict_scores


def test_predict_scores_at_another_scale_is_resized_scores_of_the_resized_image():
    from PIL import Image

    from minideeplab.nn import functional as F
    m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0, dropout=0.0)
    image = SyntheticScenes(1, (50, 70), 4, seed=3)[0][0]
    small = np.asarray(Image.fromarray(image).resize((35, 25), Image.BILINEAR))
    ref = predict_scores(m, small)  # (4, 25, 35) at scale 1
    ref_up = F.interp_forward(ref[None].astype(np.float64), (50, 70))[0][0]
    out = predict_scores(m, image, scale=0.5)
    assert out.shape == (4, 50, 70)
    assert np.allclose(out, ref_up, atol=1e-4)
    m.input_scale = 0.5  # the model's own test-time scale is the default
    assert np.array_equal(predict_scores(m, image), out)
    with pytest.raises(ValueError, match="scale"):
        predict_scores(m, image, scale=0)
    both = predict_scores(m, image, scale=(0.5, 1.0))  # several scales: the mean of their scores
    assert np.allclose(both, (out + predict_scores(m, image, scale=1.0)) / 2, atol=1e-6)
    for bad in ([], "half", True, (0.5, -1.0), float("nan")):
        with pytest.raises(ValueError, match="scale"):
            predict_scores(m, image, scale=bad)


def test_test_time_flip_averages_the_mirrored_images_mirrored_scores():
    m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0, dropout=0.0)
    image = SyntheticScenes(1, (50, 70), 4, seed=3)[0][0]
    plain = predict_scores(m, image, scale=(0.5, 1.0))
    mirrored = predict_scores(m, np.ascontiguousarray(image[:, ::-1]), scale=(0.5, 1.0))[:, :, ::-1]
    assert not np.allclose(plain, mirrored, atol=1e-3)  # the net itself is not symmetric
    out = predict_scores(m, image, scale=(0.5, 1.0), flip=True)
    assert np.allclose(out, (plain + mirrored) / 2, atol=1e-6)
    assert out.dtype == np.float32
    symmetric = np.concatenate([image[:, :35], image[:, :35][:, ::-1]], axis=1)  # a mirror-symmetric image
    s = predict_scores(m, symmetric, flip=True)
    assert np.allclose(s, s[:, :, ::-1], atol=1e-5)  # its flip-averaged scores are symmetric too
    m.test_flip = True  # the model's own choice is the default
    assert np.array_equal(predict_scores(m, image, scale=(0.5, 1.0)), out)
    assert np.array_equal(predict_scores(m, image, scale=(0.5, 1.0), flip=False), plain)
    for bad in ("yes", 1, 0.5):
        with pytest.raises(TypeError, match="flip"):
            predict_scores(m, image, flip=bad)
    with pytest.raises(TypeError, match="test_flip"):
        DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, test_flip="no")


def test_test_flip_is_saved_with_the_model(tmp_path):
    from minideeplab.models import load_model, save_model

    save_model(tmp_path / "m.npz", DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, input_scale=(0.5, 1.0), test_flip=True))
    model, meta = load_model(tmp_path / "m.npz")
    assert model.test_flip is True and meta["test_flip"] is True and model.input_scale == (0.5, 1.0)


def test_evaluate_counts_pixels_like_a_hand_confusion_matrix():
    m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0)
    ds = SyntheticScenes(3, (30, 30), 4, seed=2)
    hand = np.zeros((4, 4))
    for i in range(3):
        pred = predict_scores(m, ds[i][0]).argmax(0)
        for t, p in zip(ds[i][1].ravel(), pred.ravel()):
            if t < 4:
                hand[t, p] += 1
    s = evaluate(m, ds)
    assert s["global_acc"] == pytest.approx(np.trace(hand) / hand.sum())
    with pytest.raises(ValueError, match="dataset is empty"):
        evaluate(m, SyntheticScenes(0))


def test_resize_image_is_the_image_half_of_the_pair_version():
    image, label = SyntheticScenes(1, (50, 70), 4, seed=3)[0]
    for scale in (0.5, 0.013, 1.37):
        img2, lab2 = resize_image_and_label(image, label, scale)
        assert np.array_equal(resize_image(image, scale), img2)
        assert img2.shape == lab2.shape + (3,) == (max(1, round(50 * scale)), max(1, round(70 * scale)), 3)
        assert set(np.unique(lab2)) <= set(np.unique(label))  # nearest neighbour: no new labels
    with pytest.raises(ValueError, match="sizes differ"):
        resize_image_and_label(image, label[1:], 0.5)


def test_inference_does_not_import_the_trainer():
    code = "import sys, minideeplab.predict, minideeplab.compare; print('minideeplab.train' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
