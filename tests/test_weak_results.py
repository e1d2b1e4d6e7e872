"""benchmarks/weak_training.py: one record per run in weak_results.json, told apart by how each
model was trained, with test metrics that match an independent scoring."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import MSRC_DIR, needs_msrc
from minideeplab.cli import main
from minideeplab.crf import dense_crf
from minideeplab.datasets import MSRC
from minideeplab.datasets.voc_style import VOCStyle
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import MSRC_MODEL, load_model
from minideeplab.predict import predict_probs

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "weak_training.py")
TINY = ["train", "--data", MSRC_DIR, "--width", "0.0625", "--crop", "33", "--batch-size", "2", "--max-iter", "2",
        "--val-every", "1000", "--quiet"]


def independent_scores(model, data, params):
    L = model.num_classes
    cu, cc = np.zeros((L, L), np.int64), np.zeros((L, L), np.int64)
    for i in range(len(data)):
        image, label = data[i]
        p = predict_probs(model, image)
        cu += confusion_matrix(label, p.argmax(0), L)
        cc += confusion_matrix(label, dense_crf(image, p, **params).argmax(0), L)
    return summarize(cu), summarize(cc)


@needs_msrc
@pytest.mark.slow
def test_records_describe_and_score_each_run(tmp_path):
    runs = {"so3": ["--supervision", "strong", "--strong-images", "3"],
            "semi3": ["--supervision", "semi", "--strong-images", "3", "--strong-per-batch", "1"],
            "voc_rect": ["--supervision", "bbox-rect", "--protocol", "voc-style", "--seed", "3"]}
    for name, extra in runs.items():
        assert main(TINY + extra + ["--out", str(tmp_path / name)]) == 0
    out = tmp_path / "weak_results.json"
    cmd = [sys.executable, SCRIPT, "--data", MSRC_DIR, "--limit", "2", "--json", str(out),
           "--curve", str(tmp_path / "curve.png")] + sum((["--run", str(tmp_path / n)] for n in runs), [])
    subprocess.run(cmd, check=True, capture_output=True)
    recs = {os.path.basename(r["run"]): r for r in json.loads(out.read_text())["runs"]}
    assert {k: (r["supervision"], r["protocol"], r["pixel_labelled_images"]) for k, r in recs.items()} == {
        "so3": ("strong-only", "msrc21", 3), "semi3": ("semi", "msrc21", 3), "voc_rect": ("bbox-rect", "voc-style", 0)}
    assert recs["semi3"]["strong_per_batch"] == 1 and recs["so3"]["iterations"] == 2
    assert {k: r["seed"] for k, r in recs.items()} == {"so3": 0, "semi3": 0, "voc_rect": 3}
    params = load_model(MSRC_MODEL)[1]["dense_crf"]
    test = MSRC(MSRC_DIR, "test")
    test.names = test.names[:2]
    for name, data in (("semi3", test), ("voc_rect", VOCStyle(test))):
        model, _ = load_model(tmp_path / name / "model.npz")
        su, sc = independent_scores(model, data, params)
        r = recs[name]
        assert r["n_images"] == 2 and r["crf"] == params
        assert r["unary"] == pytest.approx({"global": su["global_acc"], "class_avg": su["class_avg_acc"],
                                            "miou": su["mean_iou"]})
        assert r["dense_crf"] == pytest.approx({"global": sc["global_acc"], "class_avg": sc["class_avg_acc"],
                                                "miou": sc["mean_iou"]})
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # scoring a run again replaces its record; the others stay
    subprocess.run(cmd[:cmd.index("--run")] + ["--run", str(tmp_path / "so3")], check=True, capture_output=True)
    assert sorted(os.path.basename(r["run"]) for r in json.loads(out.read_text())["runs"]) == sorted(runs)
