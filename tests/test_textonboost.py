"""TextonBoost-style unaries: colour rectangles against averaging by hand, the feature vector's
order against each part computed on its own, the stride-s prediction against scipy's
bilinear interpolation, a small fit on synthetic scenes, and the file format.

Only the tests that fit need scikit-learn; features, prediction and files do not."""
import subprocess
import sys

import numpy as np
import pytest
from conftest import MSRC_DIR, needs_msrc
from scipy import ndimage

from minideeplab import FileFormatError
from minideeplab._io import save_npz
from minideeplab.datasets import SyntheticScenes
from minideeplab.unaries import BoostedTrees, Textons, TextonBoost, colour_features, filter_bank, rgb_to_lab
from minideeplab.unaries.layout import random_layout_features
from minideeplab.unaries.orientation import ORIENTATION_RECTS, orientation_features
from minideeplab.unaries.textonboost import COLOUR_RECTS, upsample_bilinear

U32 = 2.0 ** -24  # float32's unit roundoff


def mean_in_rect_twin(x, y0, x0, rect):
    """The mean of x (H, W, C) over rectangle (dy0, dx0, dy1, dx1) offset from (y0, x0):
    the pixels inside the image; if no row (column) is inside, the nearest row (column)."""
    H, W = x.shape[:2]
    dy0, dx0, dy1, dx1 = rect
    rows = [y for y in range(y0 + dy0, y0 + dy1) if 0 <= y < H] or [0 if y0 + dy1 <= 0 else H - 1]
    cols = [c for c in range(x0 + dx0, x0 + dx1) if 0 <= c < W] or [0 if x0 + dx1 <= 0 else W - 1]
    total, count = np.zeros(x.shape[2]), 0
    for y in rows:
        for c in cols:
            total += x[y, c]
            count += 1
    return total / count


@pytest.mark.parametrize("rects", [
    np.array([(0, 0, 1, 1), (-1, -2, 2, 3), (-30, -3, -20, 2), (5, 40, 9, 50), (-2, -40, 3, -30),
              (-4, -4, 0, 0)]),   # the pixel, around it, wholly above / right / left, up-left
    COLOUR_RECTS,                 # the defaults (several wholly outside an 11 x 14 image)
])
def test_colour_features_against_averaging(rng, rects):
    H, W = 11, 14
    lab = rng.normal(0, 40, size=(H, W, 3)) + [50, 0, 0]
    got = colour_features(lab, rects)
    assert got.shape == (H, W, 3 * len(rects)) and got.dtype == np.float32
    ref = np.empty((H, W, 3 * len(rects)))
    for r, rect in enumerate(rects):
        for y in range(H):
            for x in range(W):
                ref[y, x, 3 * r:3 * r + 3] = mean_in_rect_twin(lab, y, x, rect)
    # float64 sums of values up to ~200 (differences of integral images err by ~1e-12),
    # rounded once to float32
    np.testing.assert_allclose(got, ref, rtol=U32, atol=1e-10)
    if tuple(rects[0]) == (0, 0, 1, 1):   # the pixel itself
        np.testing.assert_allclose(got[:, :, :3], lab, rtol=U32)


def test_upsample_bilinear_against_scipy(rng):
    H, W, s = 10, 13, 3
    grid = rng.normal(size=(2, 4, 5)).astype(np.float32)    # ceil(10 / 3), ceil(13 / 3)
    got = upsample_bilinear(grid, s, (H, W))
    assert got.shape == (2, H, W) and got.dtype == np.float32
    yy, xx = np.mgrid[0:H, 0:W] / s                          # the pixel in grid units
    for c in range(2):   # linear interpolation, values past the last grid point held ("nearest")
        ref = ndimage.map_coordinates(grid[c].astype(np.float64), [yy, xx], order=1, mode="nearest")
        np.testing.assert_allclose(got[c], ref, rtol=0, atol=4 * U32 * np.abs(grid).max())
    np.testing.assert_array_equal(got[:, ::s, ::s], grid)    # the grid points themselves, exactly
    with pytest.raises(ValueError, match="grid"):
        upsample_bilinear(grid, 2, (H, W))


# --- a hand-made model ----------------------------------------------------------------------

def tiny_image():
    return SyntheticScenes(n=1, size=(23, 31), num_classes=4, objects=(2, 2), seed=3)[0][0]


def hand_model(rng, classes=(0, 2, 3), num_classes=5, stride=4, orientation_rects=ORIENTATION_RECTS):
    """Textons (k = 3) from the tiny image, 4 layout features and three stumps:
    class classes[0]: L* <= 50 ? 2 : -1; classes[1]: y / H <= 0.5 ? 1 : 0;
    classes[2]: layout feature 0 <= 0.3 ? 0 : 1.5."""
    textons = Textons.fit(filter_bank(tiny_image()).reshape(-1, 17), k=3, seed=0)
    rects, tex = random_layout_features(4, 3, rng, reach=8, min_side=2, max_side=6)
    n_orient = 0 if orientation_rects is None else 9 * len(orientation_rects)
    F = 4 + 3 + 3 * len(COLOUR_RECTS) + n_orient + 2 + 17
    L_star, y_over_H = 4, 4 + 3 + 3 * len(COLOUR_RECTS) + n_orient
    trees = BoostedTrees(feature=[L_star, -1, -1, y_over_H, -1, -1, 0, -1, -1],
                         threshold=[50.0, 0, 0, 0.5, 0, 0, 0.3, 0, 0],
                         left=[1, -1, -1, 4, -1, -1, 7, -1, -1], right=[2, -1, -1, 5, -1, -1, 8, -1, -1],
                         value=[0, 2.0, -1.0, 0, 1.0, 0.0, 0, 0.0, 1.5], tree_offset=[0, 3, 6, 9],
                         tree_class=[0, 1, 2], baseline=[0.1, -0.2, 0.3], num_features=F)
    return TextonBoost(textons, rects, tex, trees, list(classes), num_classes, stride=stride,
                       orientation_rects=orientation_rects)


def hand_scores(f):
    """The three stumps of hand_model read off the features f (..., F): (..., 3) float64."""
    F = f.shape[-1]
    s = np.empty(f.shape[:-1] + (3,))
    s[..., 0] = 0.1 + np.where(f[..., 4] <= 50, 2.0, -1.0)
    s[..., 1] = -0.2 + np.where(f[..., F - 19] <= 0.5, 1.0, 0.0)
    s[..., 2] = 0.3 + np.where(f[..., 0] <= 0.3, 0.0, 1.5)
    return s


def test_features_in_the_documented_order(rng):
    model = hand_model(rng)
    image = tiny_image()
    H, W = image.shape[:2]
    f = model.features(image)
    assert f.shape == (H, W, model.num_features) and f.dtype == np.float32
    g = model.feature_groups
    assert list(g) == ["layout", "lab", "colour_rects", "orientation", "location", "responses"]
    assert [g[k].stop - g[k].start for k in g] == [4, 3, 21, 63, 2, 17] and g["responses"].stop == f.shape[2] == 110
    assert all(g[a].stop == g[b].start for a, b in zip(list(g), list(g)[1:])) and g["layout"].start == 0
    # layout: counted by hand in the texton map
    tm = model.textons.assign(filter_bank(image))
    for k, ((dy0, dx0, dy1, dx1), t) in enumerate(zip(model.layout_rects, model.layout_textons)):
        for y in range(H):
            for x in range(W):
                n = sum(tm[yy, xx] == t for yy in range(max(y + dy0, 0), min(y + dy1, H))
                        for xx in range(max(x + dx0, 0), min(x + dx1, W)))
                assert f[y, x, k] == pytest.approx(n / ((dy1 - dy0) * (dx1 - dx0)), abs=1e-6)
    lab = rgb_to_lab(image)
    np.testing.assert_array_equal(f[:, :, g["lab"]], lab)
    for r, rect in enumerate(COLOUR_RECTS):
        for y, x in [(0, 0), (H - 1, W - 1), (11, 3), (5, 20)]:
            np.testing.assert_allclose(f[y, x, g["colour_rects"]][3 * r:3 * r + 3],
                                       mean_in_rect_twin(lab.astype(np.float64), y, x, rect), rtol=U32, atol=1e-10)
    np.testing.assert_array_equal(f[:, :, g["orientation"]], orientation_features(lab[..., 0]))
    yy, xx = np.mgrid[0:H, 0:W]
    np.testing.assert_array_equal(f[:, :, g["location"]], np.stack([yy / H, xx / W], -1).astype(np.float32))
    np.testing.assert_array_equal(f[:, :, g["responses"]], filter_bank(image))


def softmax(s):
    e = np.exp(s - s.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def test_predict_proba_scores_a_grid_and_interpolates(rng):
    model = hand_model(rng)
    image = tiny_image()
    f = model.features(image).astype(np.float64)
    scores = hand_scores(f).transpose(2, 0, 1)          # (3, H, W)
    p1 = model.predict_proba(image, stride=1)
    assert p1.shape == (5, 23, 31) and p1.dtype == np.float32
    np.testing.assert_array_equal(p1[[1, 4]], 0.0)      # labels the trees do not score
    np.testing.assert_allclose(p1[[0, 2, 3]], softmax(scores), rtol=1e-6)
    np.testing.assert_allclose(p1.sum(axis=0), 1.0, rtol=1e-6)
    p4 = model.predict_proba(image)                     # the model's stride, 4
    grid = scores[:, ::4, ::4]
    yy, xx = np.mgrid[0:23, 0:31] / 4
    between = np.stack([ndimage.map_coordinates(grid[c], [yy, xx], order=1, mode="nearest") for c in range(3)])
    np.testing.assert_allclose(p4[[0, 2, 3]], softmax(between), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p4[:, ::4, ::4], p1[:, ::4, ::4], rtol=1e-6)
    assert np.any(np.abs(p4 - p1) > 0.1)                # in between, the interpolation shows


def test_save_load_round_trip_without_sklearn(tmp_path, rng):
    model = hand_model(rng)
    path = tmp_path / "tb.npz"
    model.save(path)
    code = ("import sys; sys.modules['sklearn'] = None\n"   # importing sklearn would now fail
            "import numpy as np; from minideeplab.unaries import TextonBoost\n"
            f"m = TextonBoost.load({str(path)!r}); np.save({str(tmp_path / 'p.npy')!r}, "
            f"m.predict_proba(np.load({str(tmp_path / 'img.npy')!r})))")
    np.save(tmp_path / "img.npy", tiny_image())
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), model.predict_proba(tiny_image()))
    back = TextonBoost.load(path)
    assert (back.num_classes, back.stride, back.num_features) == (5, 4, 110)
    np.testing.assert_array_equal(back.classes, [0, 2, 3])


def test_a_model_without_orientation_features_still_loads_and_predicts(tmp_path, rng):
    """Files written before the orientation features hold no ``orientation_rects``."""
    model = hand_model(rng, orientation_rects=None)
    assert "orientation" not in model.feature_groups and model.num_features == 47
    f = model.features(tiny_image())
    full = hand_model(np.random.default_rng(0)).features(tiny_image())
    g = hand_model(np.random.default_rng(0)).feature_groups
    np.testing.assert_array_equal(f[..., 4:28], full[..., g["lab"].start:g["colour_rects"].stop])
    np.testing.assert_array_equal(f[..., 28:], full[..., g["location"].start:])
    model.save(tmp_path / "old.npz")
    from minideeplab._io import read_npz

    assert "orientation_rects" not in read_npz(tmp_path / "old.npz")[0]
    back = TextonBoost.load(tmp_path / "old.npz")
    assert back.orientation_rects is None
    np.testing.assert_array_equal(back.predict_proba(tiny_image()), model.predict_proba(tiny_image()))


def test_load_refuses_other_files(tmp_path, rng):
    model = hand_model(rng)
    model.save(tmp_path / "good.npz")
    (tmp_path / "noise.npz").write_bytes(b"definitely not a zip archive")
    model.trees.save(tmp_path / "trees.npz")
    from minideeplab._io import read_npz

    arrays, meta = read_npz(tmp_path / "good.npz")
    save_npz(tmp_path / "short.npz", {k: v for k, v in arrays.items() if k != "layout_rects"}, meta)
    save_npz(tmp_path / "wrong.npz", dict(arrays, classes=np.array([0, 2, 9])), meta)
    save_npz(tmp_path / "narrow.npz", arrays, dict(meta, num_features=109))
    for name, what in [("noise", "not an .npz"), ("trees", "not a TextonBoost"), ("short", "lacks"),
                       ("wrong", "classes"), ("narrow", "trees must read 110 features, they read 109")]:
        with pytest.raises(FileFormatError, match=what) as e:
            TextonBoost.load(tmp_path / f"{name}.npz")
        assert e.value.path.endswith(f"{name}.npz")


def test_bad_inputs_are_named(rng):
    model = hand_model(rng)
    image = tiny_image()
    with pytest.raises(TypeError, match="image.*uint8"):
        model.predict_proba(image.astype(np.float32))
    with pytest.raises(ValueError, match=r"image.*\(H, W, 3\)"):
        model.predict_proba(image[:, :, 0])
    with pytest.raises(TypeError, match="image"):
        model.features(image.tolist())
    with pytest.raises(ValueError, match="stride"):
        model.predict_proba(image, stride=0)
    with pytest.raises(ValueError, match="rects"):
        colour_features(np.zeros((4, 4, 3)), np.array([[0, 0, 0, 2]]))
    with pytest.raises(ValueError, match="lab"):
        colour_features(np.full((4, 4, 3), np.nan))
    with pytest.raises(ValueError, match="classes"):
        hand_model(rng, classes=(0, 0, 1))
    with pytest.raises(ValueError, match="classes"):
        hand_model(rng, classes=(0, 1, 5), num_classes=5)
    with pytest.raises(ValueError, match="trees must read"):
        TextonBoost(model.textons, model.layout_rects[:3], model.layout_textons[:3], model.trees, [0, 1, 2], 3)
    with pytest.raises(ValueError, match="layout_textons"):
        TextonBoost(model.textons, model.layout_rects, model.layout_textons + 3, model.trees, [0, 1, 2], 3)
    with pytest.raises(TypeError, match="textons"):
        TextonBoost(None, model.layout_rects, model.layout_textons, model.trees, [0, 1, 2], 3)


# --- training -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    """A small model fitted on 18 synthetic scenes (4 classes that differ in colour and
    stripes), in one OpenMP thread; skipped without scikit-learn."""
    pytest.importorskip("sklearn")
    from threadpoolctl import threadpool_limits

    scenes = SyntheticScenes(n=24, size=(48, 48), num_classes=4, seed=5)
    with threadpool_limits(limits=1, user_api="openmp"):
        model = TextonBoost.fit(scenes, images=range(18), k=16, n_layout=30, responses_per_image=300,
                                sample_stride=3, max_iter=30, max_leaf_nodes=15, min_samples_leaf=10, stride=2,
                                seed=0, progress=False)
    return model, [scenes[i] for i in range(18, 24)]


def test_fit_learns_held_out_scenes(fitted):
    model, held_out = fitted
    assert model.num_classes == 4 and list(model.classes) == [0, 1, 2, 3] and model.stride == 2
    assert model.params["max_iter"] == 30 and model.trees.num_trees == 30 * 4 and model.params["n_samples"] > 18 * 200
    pred = np.concatenate([model.predict_proba(image).argmax(0).ravel() for image, _ in held_out])
    truth = np.concatenate([label.ravel() for _, label in held_out])
    majority = np.bincount(truth).max() / truth.size     # the best constant guess
    accuracy = np.mean(pred == truth)
    per_class = [np.mean(pred[truth == c] == c) for c in range(4) if np.any(truth == c)]
    # (the background covers most pixels) at most a fifth of the best constant guess's errors
    assert 1 - accuracy < 0.2 * (1 - majority), (accuracy, majority)
    assert np.mean(per_class) > 0.85 and min(per_class) > 0.7, per_class   # every class; chance: 0.25


def test_fitted_model_round_trip(fitted, tmp_path):
    model, held_out = fitted
    model.save(tmp_path / "tb.npz")
    back = TextonBoost.load(tmp_path / "tb.npz")
    assert back.params == model.params
    for image, _ in held_out[:2]:
        np.testing.assert_array_equal(back.predict_proba(image), model.predict_proba(image))
        np.testing.assert_array_equal(back.features(image), model.features(image))


def test_fit_refuses_bad_datasets():
    pytest.importorskip("sklearn")
    scenes = SyntheticScenes(n=2, size=(16, 16), num_classes=3)

    class Relabelled:
        num_classes = 3

        def __len__(self):
            return 2

        def __getitem__(self, i):
            image, label = scenes[i]
            return (image.astype(np.float64), label) if i == 1 else (image, np.full_like(label, 7))

    with pytest.raises(ValueError, match=r"dataset\[0\]'s label"):
        TextonBoost.fit(Relabelled(), images=[0], k=2, progress=False)
    with pytest.raises(TypeError, match=r"dataset\[1\]'s image"):
        TextonBoost.fit(Relabelled(), images=[1], k=2, progress=False)
    with pytest.raises(ValueError, match="num_classes"):
        TextonBoost.fit([scenes[0]], k=2, progress=False)
    with pytest.raises(ValueError, match="learning_rate"):
        TextonBoost.fit(scenes, k=2, learning_rate=0.0, progress=False)
    with pytest.raises(ValueError, match="class_weight"):
        TextonBoost.fit(scenes, k=2, class_weight="equal", progress=False)


@needs_msrc
def test_train_unaries_command_writes_a_model_and_scores_val(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from minideeplab.cli import main

    out = str(tmp_path / "tb.npz")
    assert main(["train-unaries", "--data", MSRC_DIR, "--limit", "3", "--val-limit", "1", "--k", "8",
                 "--n-layout", "10", "--sample-stride", "8", "--max-iter", "3", "-o", out, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "trained on 3 images" in printed and "val (1 images): global" in printed
    tb = TextonBoost.load(out)
    assert tb.textons.k == 8 and tb.params["max_iter"] == 3 and tb.params["n_images"] == 3
    assert main(["train-unaries", "--data", MSRC_DIR, "--limit", "3", "--k", "0", "-o", out, "--quiet"]) == 2
    assert "k must be" in capsys.readouterr().err


def test_train_unaries_command_says_what_it_needs_without_sklearn(monkeypatch, capsys):
    from minideeplab.cli import main

    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn raises ImportError
    assert main(["train-unaries", "-o", "unused.npz", "--quiet"]) == 2
    assert "pip install minideeplab[textonboost]" in capsys.readouterr().err
