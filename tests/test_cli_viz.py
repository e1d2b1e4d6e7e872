import numpy as np
import pytest

from conftest import MSRC_DIR, needs_msrc
from minideeplab.cli import main
from minideeplab.viz import colorize, overlay, save_rows, voc_palette


def test_voc_palette_first_colours():
    pal = voc_palette()
    assert pal[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert pal[15].tolist() == [192, 128, 128]  # VOC "person"


def test_colorize_overlay_and_figure(tmp_path):
    lab = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    c = colorize(lab)
    assert c[0, 1].tolist() == [128, 0, 0] and c[1, 1].tolist() == [0, 0, 0]
    img = np.full((2, 2, 3), 200, np.uint8)
    assert overlay(img, lab, alpha=0.0).tolist() == img.tolist()
    path = save_rows(tmp_path / "f.png", [[img, lab]], ["image", "label"])
    assert path.exists() and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="label must be an"):
        colorize(np.zeros((2, 2)))


def test_figure_legend_names_the_classes_present():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minideeplab.viz import show_rows

    img = np.full((20, 30, 3), 200, np.uint8)
    truth = np.array([[0] * 30] * 10 + [[2] * 30] * 9 + [[255] * 30], np.uint8)
    pred = np.full((20, 30), 3, np.uint8)
    names = ["sky", "tree", "grass", "cow"]
    fig = show_rows([[img, truth, pred]], ["image", "truth", "prediction"], class_names=names)
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["sky", "grass", "cow", "void"]
    pal = voc_palette()
    assert [tuple(h.get_facecolor()[:3]) for h in fig.legends[0].legend_handles[:3]] == [
        tuple(pal[c] / 255.0) for c in (0, 2, 3)]
    plt.close(fig)
    fig = show_rows([[img, truth]])
    assert fig.legends == []  # no names, no legend
    plt.close(fig)


def test_figure_rows_have_no_empty_bands():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minideeplab.viz import show_rows

    wide, tall = np.zeros((20, 60), np.uint8), np.zeros((60, 40), np.uint8)  # MSRC has both orientations
    fig = show_rows([[wide, wide], [tall, tall], [wide, None]], ["a", "b"], scale=2.0)
    fig.canvas.draw()  # applies the images' aspect to the axes
    h = fig.get_figheight()
    boxes = [ax.get_position() for ax in fig.axes]  # row-major, 2 per row
    for upper, lower in ((boxes[0], boxes[2]), (boxes[2], boxes[4])):
        assert (upper.y0 - lower.y1) * h < 0.1  # inches between the pictures of consecutive rows
    assert boxes[0].height * h == pytest.approx(2.0 * 20 / 60, rel=0.02)  # 2 inches wide, as tall as the image
    plt.close(fig)
    for empty in ([], [[]], [[wide], []]):
        with pytest.raises(ValueError, match="rows"):
            show_rows(empty)


def test_info_command(capsys):
    assert main(["info", "--arch", "DeepLab-LargeFOV"]) == 0
    out = capsys.readouterr().out
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 512),
             (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    by_hand = sum(9 * i * o + o for i, o in convs) + (9 * 512 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 21 + 21)
    assert f"{by_hand:,} parameters, output stride 8" in out and "paper's RF size 224" in out


def test_train_command_resumes(tmp_path, capsys):
    args = ["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "4", "--batch-size", "1",
            "--snapshot-every", "2", "--out", str(tmp_path), "--quiet"]
    assert main(args + ["--max-iter", "2"]) == 0
    assert main(args + ["--max-iter", "3", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "at iteration 2" in out
    assert (tmp_path / "model.npz").exists()


def test_train_command_init_from(tmp_path, capsys):
    from minideeplab.models import load_model

    args = ["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "4", "--batch-size", "1",
            "--quiet", "--lr", "1e-9"]
    assert main(args + ["--max-iter", "1", "--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--max-iter", "1", "--out", str(tmp_path / "b"), "--seed", "3",
                        "--init-from", str(tmp_path / "a" / "model.npz")]) == 0
    a, _ = load_model(tmp_path / "a" / "model.npz")
    b, _ = load_model(tmp_path / "b" / "model.npz")
    assert all(np.allclose(a.params[k], b.params[k], atol=1e-6) for k in a.params)  # lr ~0: the start carried over
    assert main(args + ["--max-iter", "1", "--out", str(tmp_path / "c"), "--width", "0.125",
                        "--init-from", str(tmp_path / "a" / "model.npz")]) == 2
    assert "--init-from" in capsys.readouterr().err


@needs_msrc
def test_train_command_on_msrc(tmp_path, capsys):
    import json

    from minideeplab.models import load_model

    assert main(["train", "--dataset", "msrc", "--data", MSRC_DIR, "--width", "0.0625", "--crop", "65",
                 "--batch-size", "1", "--max-iter", "2", "--scales", "0.4", "0.6", "--input-scale", "0.5",
                 "--optimizer", "adam", "--lr", "1e-3", "--val-every", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "final loss" in out and "iteration 2: val global" in out
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert 0.0 <= log[-1]["val_global"] <= 1.0 and "val_global" not in log[0]
    model, meta = load_model(tmp_path / "model.npz")
    assert model.input_scale == 0.5 and meta["train_config"]["optimizer"] == "adam" and meta["iterations"] == 2


@needs_msrc
def test_train_hold_out_leaves_a_fold_out(tmp_path, capsys, monkeypatch):
    from minideeplab import weak
    from minideeplab.datasets import MSRC
    from minideeplab.models import DeepLab, load_model, save_model

    seen, real = [], weak.Subset  # the training set the command builds, by image name

    def recording(ds, indices):
        sub = real(ds, indices)
        seen.append([ds.names[i] for i in sub.indices])
        return sub

    monkeypatch.setattr(weak, "Subset", recording)
    names = MSRC(MSRC_DIR, "train").names
    assert main(["train", "--data", MSRC_DIR, "--width", "0.0625", "--crop", "65", "--batch-size", "1",
                 "--max-iter", "1", "--hold-out", "1/3", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    kept = [name for k, name in enumerate(names) if k % 3 != 1]
    assert seen == [kept] and len(kept) == 186
    assert "hold-out fold 1/3: training on 186 images" in capsys.readouterr().out
    assert load_model(tmp_path / "a" / "model.npz")[1]["train_config"]["hold_out"] == "1/3"
    assert (tmp_path / "a" / "checkpoint.npz").exists()
    again = ["train", "--data", MSRC_DIR, "--width", "0.0625", "--crop", "65", "--batch-size", "1",
             "--max-iter", "2", "--resume", "--out", str(tmp_path / "a"), "--quiet"]
    for extra, message in ((["--hold-out", "0/3"], "was written by a run on hold-out 1/3, this one trains on "
                                                    "hold-out 0/3; resume with the same data"),
                           ([], "this one trains on the whole split")):
        assert main(again + extra) == 2
        assert message in capsys.readouterr().err
    assert main(again + ["--hold-out", "1/3"]) == 0  # the same fold resumes
    assert "resumed from" in capsys.readouterr().out
    for bad in ("3/3", "-1/2", "0/1", "1", "a/b"):
        assert main(["train", "--data", MSRC_DIR, "--max-iter", "1", f"--hold-out={bad}",
                     "--out", str(tmp_path / "b")]) == 2
        assert f"--hold-out must be I/K with integers 0 <= I < K, K >= 2, got {bad!r}" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    base = ["train", "--data", MSRC_DIR, "--width", "0.0625", "--crop", "65", "--batch-size", "1", "--max-iter", "1",
            "--quiet"]
    assert main(base + ["--hold-out", "01/3", "--out", str(tmp_path / "c")]) == 0  # recorded as 1/3
    assert load_model(tmp_path / "c" / "model.npz")[1]["train_config"]["hold_out"] == "1/3"
    assert main(base + ["--hold-out", "1/3", "--init-from", str(tmp_path / "a" / "model.npz"),
                        "--out", str(tmp_path / "d")]) == 0  # the same fold: a second schedule
    every = str(tmp_path / "every.npz")  # a net trained on every image (no --hold-out record)
    save_model(every, DeepLab("DeepLab-LargeFOV", 21, width=0.0625, seed=0))
    for extra, message in (
            (["--hold-out", "1/3", "--split", "trainval"], "--hold-out applies to --split train (fold positions are the training split's), not --split trainval"),
            (["--hold-out", "0/3", "--init-from", str(tmp_path / "a" / "model.npz")],
             "was trained with --hold-out 1/3; a --hold-out 0/3 run must start from a net of the same fold"),
            (["--hold-out", "0/3", "--init-from", every], "was trained on every training image")):
        assert main(base + extra + ["--out", str(tmp_path / "e")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_hold_out_needs_msrc(tmp_path, capsys):
    assert main(["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "4", "--max-iter", "1",
                 "--hold-out", "0/2", "--out", str(tmp_path)]) == 2
    assert "--hold-out applies to MSRC" in capsys.readouterr().err


def test_segment_command(tmp_path, capsys):
    from PIL import Image

    from minideeplab.datasets import SyntheticScenes
    from minideeplab.models import DeepLab, load_model, save_model

    m = DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0)
    save_model(tmp_path / "m.npz", m, class_names=["bg", "a", "b", "c"], dense_crf={"w_bilateral": 5.0})
    m2, meta = load_model(tmp_path / "m.npz")
    assert meta["dense_crf"] == {"w_bilateral": 5.0} and all(np.array_equal(m.params[k], m2.params[k]) for k in m.params)
    img = SyntheticScenes(1, (40, 50), 4, seed=0)[0][0]
    Image.fromarray(img).save(tmp_path / "x.png")
    for crf in ("dense", "grid", "none"):
        out = tmp_path / f"out_{crf}.png"
        assert main(["segment", str(tmp_path / "x.png"), "-o", str(out), "--crf", crf, "--model", str(tmp_path / "m.npz")]) == 0
        assert np.asarray(Image.open(out)).shape == (40, 50, 3)
        assert (tmp_path / f"out_{crf}_overlay.png").exists()
    assert "classes:" in capsys.readouterr().out
    assert main(["segment", str(tmp_path / "nope.png"), "--model", str(tmp_path / "m.npz")]) == 2


@needs_msrc
def test_compare_crf_command(tmp_path, capsys):
    import json
    import os

    from minideeplab.models import DeepLab, save_model

    save_model(tmp_path / "m.npz", DeepLab("DeepLab-LargeFOV", 21, width=1 / 16, seed=0))
    out = tmp_path / "cmp"
    assert main(["compare-crf", "--data", MSRC_DIR, "--model", str(tmp_path / "m.npz"), "--out", str(out),
                 "--limit", "3", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| fully connected CRF |" in text and "trimap" in text
    res = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in res["rows"]] == ["unary", "grid CRF", "fully connected CRF"] and res["n_images"] == 3
    assert sorted(os.listdir(out)) == ["examples.png", "results.json", "results.md", "trimap.png"]
    # per-class accuracy: the ground-truth pixel counts are those of the three label maps
    from minideeplab.datasets import MSRC

    ds = MSRC(MSRC_DIR, "test")
    counts = sum(np.bincount(ds[i][1][ds[i][1] != 255].ravel(), minlength=21) for i in range(3))
    for r in res["rows"]:
        assert r["per_class_pixels"] == counts.tolist()
        assert [a is None for a in r["per_class_acc"]] == (counts == 0).tolist()
    assert "| grass |" in text and "Per-class accuracy" in (out / "results.md").read_text()


def test_per_class_table_by_hand():
    from minideeplab.compare import format_per_class

    rows = [{"method": m, "per_class_acc": acc, "per_class_pixels": [10, 0, 4]}
            for m, acc in (("unary", [0.5, None, 0.25]), ("grid CRF", [0.6, None, 0.25]),
                           ("fully connected CRF", [0.4, None, 1.0]))]
    lines = format_per_class({"rows": rows}, ["a", "b", "c"]).splitlines()
    assert lines[2] == "| a | 10 | 50.0 | 60.0 | 40.0 | +10.0 | -10.0 |"
    assert lines[3] == "| b | 0 |  |  |  |  |  |"
    assert lines[4] == "| c | 4 | 25.0 | 25.0 | 100.0 | +0.0 | +75.0 |"
    with pytest.raises(ValueError, match="class_names"):
        format_per_class({"rows": rows}, ["a"])


def test_demo_command_with_a_given_model(tmp_path, capsys):
    from minideeplab.models import DeepLab, save_model

    save_model(tmp_path / "m.npz", DeepLab("DeepLab-LargeFOV", 21, width=1 / 16, seed=0), input_scale=0.5)
    assert main(["demo", "--unaries", "dcnn", "--model", str(tmp_path / "m.npz"), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "on 6 embedded MSRC test images" in out and "| dcnn | dense |" in out and "textonboost" not in out
    assert (tmp_path / "o" / "demo.png").read_bytes()[:4] == b"\x89PNG"


@needs_msrc
def test_tune_crf_command_stores_the_best_settings(tmp_path, capsys, monkeypatch):
    from minideeplab.crf import tune
    from minideeplab.models import DeepLab, load_model, save_model

    # a coarse grid of 2 settings, not 48 (the fine grid around its best has 18 or 27): the command's
    # plumbing is under test here, the search itself with the whole grid in test_tune_crfs_picks_...
    monkeypatch.setattr(tune, "DENSE_COARSE", {"w_bilateral": [5.5], "theta_alpha": [80.0], "theta_beta": [3.0, 13.0]})

    save_model(tmp_path / "m.npz", DeepLab("DeepLab-LargeFOV", 21, width=1 / 16, seed=0), input_scale=0.5, note="kept")
    assert main(["tune-crf", "--model", str(tmp_path / "m.npz"), "--data", MSRC_DIR, "--limit", "2",
                 "-o", str(tmp_path / "tuned.npz"), "--input-scales", "0.5", "0.25,0.5", "--test-flip", "choose",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "input scale (0.25, 0.5): unary global_acc" in out and "input scale 0.5, mirrored too: unary" in out
    model, meta = load_model(tmp_path / "tuned.npz")
    tried = meta["crf_validation"]["input_scales"]
    assert [(c, f) for c, f, _ in tried] == [(0.5, False), (0.5, True), ([0.25, 0.5], False), ([0.25, 0.5], True)]
    best_scale, best_flip, _ = max(tried, key=lambda r: r[2])
    assert meta["input_scale"] == best_scale and meta["test_flip"] == best_flip == model.test_flip
    assert model.input_scale == (tuple(best_scale) if isinstance(best_scale, list) else best_scale)
    assert meta["note"] == "kept" and meta["crf_validation"]["n_images"] == 2
    assert set(meta["dense_crf"]) == {"w_bilateral", "theta_alpha", "theta_beta", "w_gaussian", "theta_gamma"}
    assert meta["dense_crf"]["w_gaussian"] == 3.0 and meta["dense_crf"]["theta_gamma"] == 3.0
    assert meta["dense_crf"]["w_bilateral"] in (2.75, 5.5, 8.25)  # the small grid ran: values the whole grid has not
    assert {"w_contrast", "w_smooth"} <= set(meta["grid_crf"])
    with pytest.raises(SystemExit):  # tuning on the test split is refused
        main(["tune-crf", "--model", str(tmp_path / "m.npz"), "--data", MSRC_DIR, "--split", "test"])


def test_tune_crfs_picks_the_best_setting_it_tried():
    from minideeplab.compare import tune_crfs
    from minideeplab.datasets import SyntheticScenes
    from minideeplab.models import DeepLab

    res = tune_crfs(DeepLab("DeepLab-LargeFOV", 3, width=1 / 16, seed=0), SyntheticScenes(2, (33, 41), 3, seed=1),
                    progress=False)
    for name in ("dense_crf", "grid_crf"):
        hist = res["history"][name]
        best = max(s for _, s in hist)
        assert res["scores"][name] == pytest.approx(best)
        assert any(p == res[name] and s == best for p, s in hist)


def test_tune_crfs_chooses_the_input_scale_first():
    from minideeplab.compare import tune_crfs
    from minideeplab.datasets import SyntheticScenes
    from minideeplab.models import DeepLab
    from minideeplab.predict import evaluate

    model = DeepLab("DeepLab-LargeFOV", 3, width=1 / 16, seed=0)
    ds = SyntheticScenes(2, (33, 41), 3, seed=1)
    res = tune_crfs(model, ds, progress=False, input_scales=[1.0, 0.5, (0.5, 1.0)])
    assert [c for c, _ in res["input_scale_history"]] == [(1.0, False), (0.5, False), ((0.5, 1.0), False)]
    for (c, f), s in res["input_scale_history"]:
        assert s == evaluate(model, ds, scale=c, flip=f)["global_acc"]
    best = max(res["input_scale_history"], key=lambda r: r[1])[0]
    assert (model.input_scale, model.test_flip) == (res["input_scale"], res["test_flip"]) == best
    with pytest.raises(ValueError, match="input_scales"):
        tune_crfs(model, ds, progress=False, input_scales=[0.0])


def test_tune_crfs_chooses_the_test_flip_with_the_scale():
    from minideeplab.compare import tune_crfs
    from minideeplab.datasets import SyntheticScenes
    from minideeplab.models import DeepLab
    from minideeplab.predict import evaluate

    model = DeepLab("DeepLab-LargeFOV", 3, width=1 / 16, seed=0)
    ds = SyntheticScenes(2, (33, 41), 3, seed=1)
    res = tune_crfs(model, ds, progress=False, input_scales=[1.0, 0.5], test_flips=[False, True])
    assert [c for c, _ in res["input_scale_history"]] == [(1.0, False), (1.0, True), (0.5, False), (0.5, True)]
    for (c, f), s in res["input_scale_history"]:
        assert s == evaluate(model, ds, scale=c, flip=f)["global_acc"]
    assert (model.input_scale, model.test_flip) == max(res["input_scale_history"], key=lambda r: r[1])[0]
    with pytest.raises(TypeError, match="test_flips"):
        tune_crfs(model, ds, progress=False, test_flips=["yes"])


def test_show_compat_figure():
    import matplotlib.pyplot as plt
    from minideeplab.viz import show_compat

    mu = np.array([[0.0, 2.0, 1.0], [2.0, 0.0, 0.5], [1.0, 0.5, 0.0]]) + 3.0  # a constant changes nothing shown
    fig = show_compat(mu, ["grass", "cow", "sky"])
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown, mu - 3.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["grass", "cow", "sky"]
    plt.close(fig)
    with pytest.raises(ValueError, match="square"):
        show_compat(np.ones((2, 3)))
