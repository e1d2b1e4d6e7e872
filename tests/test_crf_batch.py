"""minideeplab.crf.batch and the ``minideeplab crf`` command: the CRF over a folder."""
import os

import numpy as np
import pytest
from PIL import Image

from minideeplab.cli import main
from minideeplab.crf import dense_crf, grid_crf
from minideeplab.crf.batch import crf_file, crf_folder
from minideeplab.datasets import SyntheticScenes
from minideeplab.viz import colorize

SIZES = [(40, 50), (130, 150), (33, 41)]  # 130 x 150 > 16384 pixels: the kernels split rows over threads


def noisy_probs(label, L, seed):
    rng = np.random.default_rng(seed)
    p = rng.random((L,) + label.shape) + 1.5 * np.eye(L)[label].transpose(2, 0, 1)
    return (p / p.sum(0)).astype(np.float32)


@pytest.fixture
def folders(tmp_path):
    """images/ and probs/ with three good pairs s0, s1, s2 (3 labels)."""
    images, probs = tmp_path / "images", tmp_path / "probs"
    images.mkdir()
    probs.mkdir()
    for i, size in enumerate(SIZES):
        img, lab = SyntheticScenes(1, size, 3, seed=i)[0]
        Image.fromarray(img).save(images / f"s{i}.png")
        np.save(probs / f"s{i}.npy", noisy_probs(lab, 3, i))
    return images, probs, tmp_path / "out"


def read(images, probs, name):
    return np.asarray(Image.open(images / f"{name}.png").convert("RGB")), np.load(probs / f"{name}.npy")


def test_outputs_equal_the_crf_called_per_file(folders):
    images, probs, out = folders
    s = crf_folder(images, probs, out, workers=1, save_q=True, colour=True, progress=False, n_iter=4)
    assert s["done"] == ["s0", "s1", "s2"] and s["skipped"] == [] and s["failed"] == {}
    for i in range(3):
        image, p = read(images, probs, f"s{i}")
        q = dense_crf(image, p, n_iter=4)
        assert not np.allclose(q, dense_crf(image, p), atol=1e-4)  # so n_iter=4 was passed on
        assert np.array_equal(np.load(out / f"s{i}.npy"), q)
        labels = np.asarray(Image.open(out / f"s{i}.png"))
        assert labels.dtype == np.uint8 and np.array_equal(labels, q.argmax(0))
        assert np.array_equal(np.asarray(Image.open(out / "colour" / f"s{i}.png")), colorize(labels))


def test_grid_method_equals_grid_crf(folders):
    images, probs, out = folders
    s = crf_folder(images, probs, out, workers=1, method="grid", progress=False, w_smooth=2.0, connectivity=8)
    assert s["done"] == ["s0", "s1", "s2"]
    for i in range(3):
        image, p = read(images, probs, f"s{i}")
        labels = np.asarray(Image.open(out / f"s{i}.png"))
        assert np.array_equal(labels, grid_crf(image, p, w_smooth=2.0, connectivity=8).argmax(0))
    assert sorted(os.listdir(out)) == ["s0.png", "s1.png", "s2.png"]  # no Q, no colour unless asked


def test_resume_skips_finished_files(folders):
    images, probs, out = folders
    crf_folder(images, probs, out, workers=1, save_q=True, progress=False)
    (out / "s1.npy").unlink()  # s1 unfinished: its Q is missing
    (out / "s2.png").write_bytes(b"finished")  # a marker: a finished file is not written again
    s = crf_folder(images, probs, out, workers=1, save_q=True, progress=False)
    assert s["done"] == ["s1"] and s["skipped"] == ["s0", "s2"]
    assert (out / "s1.npy").exists() and (out / "s2.png").read_bytes() == b"finished"
    assert crf_file(str(images / "s0.png"), str(probs / "s0.npy"), str(out), save_q=True)["status"] == "skipped"
    s = crf_folder(images, probs, out, workers=1, save_q=True, colour=True, progress=False)
    assert s["done"] == ["s0", "s1", "s2"]  # the colour maps were missing everywhere


def test_two_workers_equal_one(folders, tmp_path):
    images, probs, out = folders
    one = crf_folder(images, probs, tmp_path / "one", workers=1, save_q=True, progress=False)
    two = crf_folder(images, probs, tmp_path / "two", workers=2, save_q=True, progress=False)
    assert one["done"] == two["done"] == ["s0", "s1", "s2"]
    for i in range(3):
        assert np.array_equal(np.load(tmp_path / "one" / f"s{i}.npy"), np.load(tmp_path / "two" / f"s{i}.npy"))
        assert (tmp_path / "one" / f"s{i}.png").read_bytes() == (tmp_path / "two" / f"s{i}.png").read_bytes()


def make_bad_files(images, probs):
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(images / "noprobs.png")  # no noprobs.npy
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(images / "small.png")
    np.save(probs / "small.npy", np.full((3, 10, 10), 1 / 3))  # (H, W) differ from the image's
    (images / "notes.txt").write_text("not an image")
    (probs / "notes.npy").write_bytes(b"not an array either")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(images / "s0.jpg")  # s0.png exists: same name
    np.save(probs / "orphan.npy", np.full((3, 4, 4), 1 / 3))
    (images / ".hidden").write_text("ignored")


def test_bad_files_are_reported_and_the_others_done(folders):
    images, probs, out = folders
    make_bad_files(images, probs)
    s = crf_folder(images, probs, out, workers=1, progress=False)
    assert s["done"] == ["s1", "s2"] and s["unmatched_probs"] == ["orphan"]
    assert sorted(s["failed"]) == ["noprobs", "notes", "s0", "small"]
    assert "noprobs.png: no probability map" in s["failed"]["noprobs"]
    assert "small.png: probs (3, 10, 10) and image (20, 30, 3) must agree on (H, W)" in s["failed"]["small"]
    assert "notes.txt: not an image" in s["failed"]["notes"]
    assert "s0.jpg, s0.png: images share the name 's0'" in s["failed"]["s0"]
    assert not (out / "s0.png").exists() and not (out / "small.png").exists()


def test_crf_command(folders, capsys):
    images, probs, out = folders
    assert main(["crf", str(images), str(probs), "--out", str(out), "--workers", "1", "--quiet",
                 "--n-iter", "3", "--theta-beta", "8"]) == 0
    assert "3 done, 0 already done, 0 failed" in capsys.readouterr().out
    image, p = read(images, probs, "s1")
    q = dense_crf(image, p, n_iter=3, theta_beta=8.0)
    assert np.array_equal(np.asarray(Image.open(out / "s1.png")), q.argmax(0))
    make_bad_files(images, probs)
    assert main(["crf", str(images), str(probs), "--out", str(out), "--workers", "2", "--quiet"]) == 1
    cap = capsys.readouterr()
    assert "0 done, 2 already done, 4 failed" in cap.out and "Traceback" not in cap.err
    errors = [line for line in cap.err.splitlines() if line.startswith("minideeplab crf: error: ")]
    assert len(errors) == 4 and any("small.png: probs (3, 10, 10)" in e for e in errors)


def test_crf_command_parameters_from_a_model_file(folders, capsys):
    from minideeplab._io import save_npz

    images, probs, out = folders
    save_npz(out.parent / "m.npz", {"w": np.zeros(1)}, {"grid_crf": {"w_smooth": 3.0, "w_contrast": 0.5}})
    assert main(["crf", str(images), str(probs), "--out", str(out), "--workers", "1", "--quiet", "--method", "grid",
                 "--model", str(out.parent / "m.npz"), "--w-contrast", "2"]) == 0  # the option wins
    image, p = read(images, probs, "s0")
    assert np.array_equal(np.asarray(Image.open(out / "s0.png")),
                          grid_crf(image, p, w_smooth=3.0, w_contrast=2.0).argmax(0))
    assert main(["crf", str(images), str(probs), "--out", str(out), "--w-smooth", "2"]) == 2
    assert "--w-smooth is a parameter of --method grid, not dense" in capsys.readouterr().err


def test_parameters_and_folders_are_checked_before_any_file(folders):
    images, probs, out = folders
    with pytest.raises(TypeError, match="takes no parameter 'w_smooth'"):
        crf_folder(images, probs, out, w_smooth=1.0)
    with pytest.raises(ValueError, match="n_iter must be >= 0"):
        crf_folder(images, probs, out, n_iter=-1)
    with pytest.raises(ValueError, match="method must be 'dense' or 'grid'"):
        crf_folder(images, probs, out, method="exact")
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        crf_folder(images, probs, out, workers=0)
    with pytest.raises(ValueError, match="save_q would overwrite the probabilities"):
        crf_folder(images, probs, probs, save_q=True)
    with pytest.raises(FileNotFoundError, match="probs_dir is not a folder"):
        crf_folder(images, out / "nowhere", out)
    assert not out.exists()
