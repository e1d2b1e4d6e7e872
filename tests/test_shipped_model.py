"""The unaries trained on MSRC-21 that ship with the package (benchmarks/RESULTS.md): the
DeepLab-LargeFOV and the TextonBoost classifier."""
import os

import numpy as np
import pytest

from conftest import MSRC_DIR, needs_msrc
from minideeplab import denormal
from minideeplab.cli import main
from minideeplab.datasets import MSRC, MSRCSamples
from minideeplab.datasets.msrc import CLASSES
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import MSRC_MODEL, load_msrc_model
from minideeplab.predict import evaluate, predict_scores
from minideeplab.unaries.sources import TEXTONBOOST_MODEL, load_shipped_textonboost


def test_shipped_model_describes_itself():
    model, meta = load_msrc_model()
    assert os.path.getsize(MSRC_MODEL) < 6 * 2 ** 20  # a few MB at most (1.29M float32 parameters)
    assert model.variant == "DeepLab-LargeFOV" and model.num_classes == 21 and meta["class_names"] == CLASSES
    assert meta["train_config"]["split"] == "train"  # never trained on validation or test images
    assert meta["crf_validation"]["split"] == "val"
    assert set(meta["dense_crf"]) == {"w_bilateral", "theta_alpha", "theta_beta", "w_gaussian", "theta_gamma"}
    assert meta["dense_crf"]["w_gaussian"] == 3.0 and meta["dense_crf"]["theta_gamma"] == 3.0


def test_shipped_model_segments_the_embedded_samples():
    model, _ = load_msrc_model()
    s = evaluate(model, MSRCSamples())
    assert s["global_acc"] > 0.6  # chance (the largest class everywhere) is about 0.3 on these images


def test_shipped_model_scores_do_not_change_when_its_subnormal_weights_are_flushed():
    """The file holds many subnormal weights (left by weight decay); loading sets them to zero,
    which changes no score: the same bits as the weights copied as they are, on a sample image
    at the model's whole test-time setting."""
    from minideeplab._io import read_npz

    model, _ = load_msrc_model()
    arrays, _ = read_npz(MSRC_MODEL)
    tiny = np.finfo(np.float32).tiny
    subnormal = sum(int(((a != 0) & (np.abs(a) < tiny)).sum()) for a in arrays.values())
    assert subnormal > 100_000  # 642,894 of the 1,287,141 parameters
    assert not any(((a != 0) & (np.abs(a) < tiny)).any() for a in model.params.values())
    image = MSRCSamples()[0][0][::2, ::2]
    flushed = predict_scores(model, image)
    for k, a in model.params.items():
        a[...] = arrays[k]  # as stored: subnormals included
    np.testing.assert_array_equal(predict_scores(model, image), flushed)


@pytest.mark.skipif(not denormal.supported(), reason="no flush-to-zero mode: Linux on x86-64 only")
def test_shipped_model_scores_are_the_same_bits_in_flush_to_zero_mode():
    """The command line computes with subnormal products as zero (minideeplab.denormal), the
    library by default does not: a sample image's scores at the whole test-time setting agree."""
    model, _ = load_msrc_model()
    image = MSRCSamples()[1][0]
    gradual = predict_scores(model, image)
    assert denormal.set_flush_denormal(True)
    try:
        assert np.float32(1e-30) * np.float32(1e-10) == 0  # the premise: the mode is on
        flushed = predict_scores(model, image)
    finally:
        denormal.set_flush_denormal(False)
    np.testing.assert_array_equal(flushed, gradual)


def test_shipped_textonboost_describes_itself():
    model, meta = load_shipped_textonboost()
    assert os.path.getsize(TEXTONBOOST_MODEL) < 3 * 2 ** 20  # 4,200 trees, compressed
    assert model.num_classes == 21 and meta["class_names"] == CLASSES and model.num_features == 406
    assert model.params["n_images"] == 279  # the train split: never validation or test images
    assert meta["crf_validation"]["split"] == "val"
    assert set(meta["dense_crf"]) == {"w_bilateral", "theta_alpha", "theta_beta", "w_gaussian", "theta_gamma"}
    assert set(meta["grid_crf"]) == {"connectivity", "w_contrast", "w_smooth"}


def test_shipped_textonboost_segments_the_embedded_samples():
    model, _ = load_shipped_textonboost()
    ds = MSRCSamples()
    conf = sum(confusion_matrix(ds[i][1], model.predict_proba(ds[i][0]).argmax(0), 21) for i in range(len(ds)))
    assert summarize(conf)["global_acc"] > 0.6  # chance (the largest class everywhere) is about 0.3


def test_demo_command(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    for source in ("dcnn", "textonboost"):
        for method in ("unary", "grid", "dense"):
            assert f"| {source} | {method} |" in out
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_segment_command_defaults_to_the_shipped_model(tmp_path, capsys):
    from PIL import Image

    image, _ = MSRCSamples()[0]
    Image.fromarray(image).save(tmp_path / "cow.png")
    assert main(["segment", str(tmp_path / "cow.png"), "--crf", "dense"]) == 0
    labels = np.asarray(Image.open(tmp_path / "cow_labels.png"))
    assert labels.shape == image.shape
    assert "grass" in capsys.readouterr().out


@needs_msrc
def test_shipped_model_meets_the_floor_on_the_test_split():
    """Unaries alone on every other test image (128 of 256, 1.2 of 2.5 minutes on two cores), at
    the model's own test-time setting (three scales and the mirror). The whole split met the
    target of 78 global and 68 class-average with 78.20 / 68.83 (RESULTS.md; the width-1/8 model
    shipped first: 72.8 / 59.1); these 128 gave 78.92 / 67.11 when this test was written, so the
    floors here keep the whole split's margins (0.20 and 0.83 under the measured figures)."""
    model, meta = load_msrc_model()
    assert model.width == 0.25 and model.test_flip and model.input_scale == (0.5, 0.7, 0.9)
    assert meta["train_config"]["init_from"] and meta["first_schedule"]["iterations"] == 10000
    ds = MSRC(MSRC_DIR, "test")
    conf = sum(confusion_matrix(ds[i][1], predict_scores(model, ds[i][0]).argmax(0), 21) for i in range(0, len(ds), 2))
    s = summarize(conf)
    assert s["global_acc"] >= 0.7872 and s["class_avg_acc"] >= 0.6628


@needs_msrc
def test_shipped_textonboost_meets_the_floor_on_the_test_split():
    """TextonBoost's unaries alone on every fourth test image (64 of 256, 1.2 of 5 minutes on two
    cores). The whole split's floor is 75 / 60 (75.95 / 60.69 measured on all 256, RESULTS.md);
    these 64 gave 74.77 / 59.62 when this test was written, so the floors here keep the whole
    split's margins (0.95 and 0.69 under the measured figures)."""
    model, _ = load_shipped_textonboost()
    ds = MSRC(MSRC_DIR, "test")
    conf = sum(confusion_matrix(ds[i][1], model.predict_proba(ds[i][0]).argmax(0), 21) for i in range(0, len(ds), 4))
    s = summarize(conf)
    assert s["global_acc"] >= 0.7382 and s["class_avg_acc"] >= 0.5893
