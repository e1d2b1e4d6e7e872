import os

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from conftest import MSRC_DIR, needs_msrc
from minideeplab.datasets import MSRC
from minideeplab.datasets.msrc import (CLASSES, MSRC23, labels_from_bmp, labels_from_mat, msrc_palette,
                                       split_names)


def test_splits_ship_with_the_package():
    tv, test = split_names("trainval"), split_names("test")
    assert len(tv) == 335 and len(test) == 256 and not set(tv) & set(test)
    train, val = split_names("train"), split_names("val")
    assert len(val) == 56 and len(train) == 279 and set(train) | set(val) == set(tv) and not set(train) & set(val)
    with pytest.raises(ValueError, match="split must be one of"):
        split_names("validation")


def test_palette_is_the_documented_one():
    pal = msrc_palette()
    documented = {"void": (0, 0, 0), "building": (128, 0, 0), "horse": (128, 0, 128), "mountain": (64, 0, 0),
                  "aeroplane": (192, 0, 0), "face": (192, 128, 0), "bird": (0, 64, 0), "chair": (0, 192, 0),
                  "road": (128, 64, 128), "cat": (0, 192, 128), "dog": (128, 192, 128), "body": (64, 64, 0),
                  "boat": (192, 64, 0)}
    for name, rgb in documented.items():
        assert tuple(pal[MSRC23.index(name)]) == rgb, name


def _fake_release(root, layout):
    """A two-image MSRC folder in either layout, with known labels."""
    os.makedirs(os.path.join(root, "Images"))
    names = split_names("test")[:1] + split_names("trainval")[:1]
    truth = {}
    for k, name in enumerate(names):
        Image.fromarray(np.full((6, 8, 3), 40 * k, np.uint8)).save(os.path.join(root, "Images", name + ".bmp"))
        ids23 = np.zeros((6, 8), np.int64)
        ids23[:, 2:4] = MSRC23.index("grass")
        ids23[:, 4:6] = MSRC23.index("horse")  # -> void in the 21-class protocol
        ids23[:3, 6:] = MSRC23.index("boat")
        want = np.full((6, 8), 255, np.uint8)
        want[:, 2:4] = CLASSES.index("grass")
        want[:3, 6:] = CLASSES.index("boat")
        truth[name] = want
        if layout == "bmp":
            os.makedirs(os.path.join(root, "GroundTruth"), exist_ok=True)
            Image.fromarray(msrc_palette()[ids23]).save(os.path.join(root, "GroundTruth", name + "_GT.bmp"))
        else:
            os.makedirs(os.path.join(root, "newsegmentations_mats"), exist_ok=True)
            seg = np.full((6, 8), 4, np.uint8)  # segment 4: beyond newlabels -> void
            seg[:, 2:4], seg[:, 4:6], seg[:3, 6:] = 1, 2, 3
            savemat(os.path.join(root, "newsegmentations_mats", name + "_GT.mat"),
                    {"newseg": seg, "newlabels": np.array([[MSRC23.index("grass"), MSRC23.index("horse"),
                                                            MSRC23.index("boat")]], np.uint8)})
    return names, truth


@pytest.mark.parametrize("layout", ["bmp", "mat"])
def test_both_layouts_give_the_21_class_labels(layout, tmp_path):
    names, truth = _fake_release(str(tmp_path), layout)
    read = labels_from_bmp if layout == "bmp" else labels_from_mat
    sub = "GroundTruth" if layout == "bmp" else "newsegmentations_mats"
    ext = "_GT.bmp" if layout == "bmp" else "_GT.mat"
    for name in names:
        assert np.array_equal(read(os.path.join(tmp_path, sub, name + ext)), truth[name])
    with pytest.raises(FileNotFoundError, match="images of split 'test' are missing"):
        MSRC(tmp_path, "test")  # only one of the 256 test images is there


def test_missing_data_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="MSRC-21 not found") as info:
        MSRC(tmp_path / "nowhere")
    assert "download(DIR)" in str(info.value) and "GroundTruth" in str(info.value)


def test_without_a_root_the_folder_is_found(tmp_path, monkeypatch):
    _fake_release(str(tmp_path / "msrc"), "mat")
    monkeypatch.setenv("MINIDEEPLAB_MSRC", str(tmp_path / "msrc"))
    with pytest.raises(FileNotFoundError, match="images of split 'test' are missing under .*msrc"):
        MSRC(split="test")  # found, and it is the fake two-image folder
    monkeypatch.setattr("minideeplab.datasets.msrc.find_msrc", lambda: None)  # found nowhere
    with pytest.raises(FileNotFoundError, match="MSRC-21 not found at '.MINIDEEPLAB_MSRC or"):
        MSRC(split="test")


@needs_msrc
def test_real_msrc():
    test = MSRC(MSRC_DIR, "test")
    assert len(test) == 256
    counts = np.zeros(256, np.int64)
    for i in range(0, 256, 8):
        img, lab = test[i]
        assert img.dtype == np.uint8 and img.shape[:2] == lab.shape and img.shape[2] == 3
        counts += np.bincount(lab.ravel(), minlength=256)
    assert set(np.nonzero(counts)[0]) <= set(range(21)) | {255}
    share = counts / counts.sum()
    assert 0.10 < share[255] < 0.25 and share[CLASSES.index("grass")] > 0.1  # README: void 17%, grass 20%


def test_embedded_samples_are_msrc_test_images_with_their_annotations():
    from minideeplab.datasets import MSRCSamples

    samples = MSRCSamples()
    assert len(samples) == 6 and set(samples.names) <= set(split_names("test"))
    for i in range(len(samples)):
        image, label = samples[i]
        assert image.dtype == np.uint8 and image.shape == label.shape + (3,)
        assert set(np.unique(label)) <= set(range(21)) | {255}


@needs_msrc
def test_embedded_samples_match_the_dataset():
    from minideeplab.datasets import MSRCSamples

    samples, full = MSRCSamples(), MSRC(MSRC_DIR, "test")
    for i, name in enumerate(samples.names):
        image, label = samples[i]
        ref_image, ref_label = full[full.names.index(name)]
        assert np.array_equal(label, ref_label) and np.array_equal(image, ref_image)  # lossless copies
