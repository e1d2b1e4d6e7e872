"""Unary sources behind one interface (DeepLab or TextonBoost): probabilities, files with the
CRF parameters chosen for them, and tune-crf / compare-crf on a TextonBoost file."""
import json

import numpy as np
import pytest
from conftest import MSRC_DIR, needs_msrc
from test_textonboost import hand_model, tiny_image

from minideeplab.cli import main
from minideeplab.compare import tune_crfs
from minideeplab.datasets import SyntheticScenes
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.models import DeepLab, save_model
from minideeplab.predict import predict_probs
from minideeplab.unaries import TextonBoost
from minideeplab.unaries.sources import load_unaries, save_unaries, unary_probs


def test_unary_probs_of_each_kind(rng):
    image = tiny_image()
    tb = hand_model(rng)
    np.testing.assert_array_equal(unary_probs(tb, image), tb.predict_proba(image))
    net = DeepLab("DeepLab-LargeFOV", 5, width=1 / 16, seed=0).eval()
    np.testing.assert_array_equal(unary_probs(net, image), predict_probs(net, image))


def test_files_of_both_kinds_keep_their_meta(tmp_path, rng):
    tb = hand_model(rng, num_classes=21)
    save_unaries(tmp_path / "tb.npz", tb, {"dense_crf": {"w_bilateral": 4.0}, "note": "kept"})
    back, meta = load_unaries(tmp_path / "tb.npz")
    assert isinstance(back, TextonBoost) and meta == {"dense_crf": {"w_bilateral": 4.0}, "note": "kept"}
    np.testing.assert_array_equal(back.predict_proba(tiny_image()), tb.predict_proba(tiny_image()))
    net = DeepLab("DeepLab-LargeFOV", 21, width=1 / 16, seed=0)
    save_unaries(tmp_path / "net.npz", net, {"dense_crf": {"w_bilateral": 5.0}})
    back, meta = load_unaries(tmp_path / "net.npz")
    assert isinstance(back, DeepLab) and meta["dense_crf"] == {"w_bilateral": 5.0} and meta["width"] == 1 / 16


def test_textonboost_meta_cannot_override_the_description(rng):
    tb = hand_model(rng)
    with pytest.raises(ValueError, match="meta must not hold the keys.*num_classes"):
        TextonBoost(tb.textons, tb.layout_rects, tb.layout_textons, tb.trees, tb.classes, 5, meta={"num_classes": 3})


def test_input_scales_are_refused_for_textonboost(rng):
    with pytest.raises(ValueError, match="input_scales.*DeepLab"):
        tune_crfs(hand_model(rng, num_classes=3, classes=(0, 1, 2)), SyntheticScenes(1, (23, 31), 3, seed=1),
                  progress=False, input_scales=[0.5])


@needs_msrc
def test_tune_and_compare_with_textonboost_unaries(tmp_path, rng, capsys, monkeypatch):
    from minideeplab.crf import tune
    from minideeplab.datasets import MSRC

    # a coarse dense grid of 2 settings, not 48: the TextonBoost plumbing is under test here (as in
    # test_tune_crf_command_stores_the_best_settings); the whole grid in test_tune_crfs_picks_...
    monkeypatch.setattr(tune, "DENSE_COARSE", {"w_bilateral": [5.5], "theta_alpha": [80.0], "theta_beta": [3.0, 13.0]})

    save_unaries(tmp_path / "tb.npz", hand_model(rng, num_classes=21), {"note": "kept"})
    assert main(["tune-crf", "--model", str(tmp_path / "tb.npz"), "--unaries", "dcnn", "--data", MSRC_DIR,
                 "--limit", "1", "-o", str(tmp_path / "tuned.npz"), "--quiet"]) == 2
    assert "--unaries dcnn" in capsys.readouterr().err and not (tmp_path / "tuned.npz").exists()
    assert main(["tune-crf", "--model", str(tmp_path / "tb.npz"), "--unaries", "textonboost", "--data", MSRC_DIR,
                 "--limit", "1", "-o", str(tmp_path / "tuned.npz"), "--quiet"]) == 0
    tb, meta = load_unaries(tmp_path / "tuned.npz")
    assert isinstance(tb, TextonBoost) and meta["note"] == "kept" and meta["crf_validation"]["n_images"] == 1
    assert set(meta["dense_crf"]) == {"w_bilateral", "theta_alpha", "theta_beta", "w_gaussian", "theta_gamma"}
    assert meta["dense_crf"]["w_bilateral"] in (2.75, 5.5, 8.25)  # the small grid ran: values the whole grid has not
    assert {"w_contrast", "w_smooth"} <= set(meta["grid_crf"])
    assert main(["tune-crf", "--model", str(tmp_path / "tb.npz"), "--data", MSRC_DIR, "--limit", "1",
                 "--input-scales", "0.5", "--quiet"]) == 2
    assert "input_scales and test_flips apply to a DeepLab model" in capsys.readouterr().err

    save_model(tmp_path / "net.npz", DeepLab("DeepLab-LargeFOV", 21, width=1 / 16, seed=0))
    out = tmp_path / "cmp"
    assert main(["compare-crf", "--data", MSRC_DIR, "--unaries", "all", "--model", str(tmp_path / "net.npz"),
                 "--textonboost", str(tmp_path / "tuned.npz"), "--out", str(out), "--limit", "2", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "unaries: dcnn" in text and "unaries: textonboost" in text
    res = {s: json.loads((out / s / "results.json").read_text()) for s in ("dcnn", "textonboost")}
    assert res["textonboost"]["dense_params"] == meta["dense_crf"] and res["textonboost"]["unaries"] == "textonboost"
    ds = MSRC(MSRC_DIR, "test")
    conf = np.zeros((21, 21), np.int64)
    for i in range(2):                      # the unary row, scored here from predict_proba
        image, label = ds[i]
        confusion_matrix(label, tb.predict_proba(image).argmax(0), 21, out=conf)
    assert res["textonboost"]["rows"][0]["global_acc"] == pytest.approx(summarize(conf)["global_acc"])
    assert res["dcnn"]["rows"][0]["global_acc"] != res["textonboost"]["rows"][0]["global_acc"]
    for source in ("dcnn", "textonboost"):           # the short table, per source and all together
        assert [(r["unaries"], r["method"]) for r in res[source]["table"]] == [
            (source, "unary"), (source, "grid"), (source, "dense")]
        assert [set(r) for r in res[source]["table"]] == [
            {"unaries", "method", "global", "class_avg", "miou", "median_seconds"}] * 3
    both = json.loads((out / "results.json").read_text())
    assert both["table"] == res["dcnn"]["table"] + res["textonboost"]["table"] and both["n_images"] == 2
    assert (out / "examples.png").exists() and "| textonboost | dense |" in (out / "results.md").read_text()
    assert "| dcnn | unary |" in text and "Krähenbühl & Koltun" in text
