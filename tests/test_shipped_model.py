"""The DeepLab-LargeFOV trained on MSRC-21 that ships with the package (benchmarks/RESULTS.md)."""
import os

import numpy as np

from conftest import MSRC_DIR, needs_msrc
from minideeplab.cli import main
from minideeplab.datasets import MSRC, MSRCSamples
from minideeplab.datasets.msrc import CLASSES
from minideeplab.models import MSRC_MODEL, load_msrc_model
from minideeplab.predict import evaluate


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


def test_demo_command(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| unary |" in out and "| grid CRF |" in out and "| fully connected CRF |" in out
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
    """Unaries alone on the 256 test images: the 70% floor of the first shipped model, and the
    level of the width-1/4 model that replaced it (76.2 / 67.5 measured, RESULTS.md)."""
    model, meta = load_msrc_model()
    assert model.width == 0.25 and model.test_flip and model.input_scale == 0.7
    s = evaluate(model, MSRC(MSRC_DIR, "test"))
    assert s["global_acc"] >= 0.75 and s["class_avg_acc"] >= 0.66
