"""MSRC-21 (the MSRC v2 object-class database), 21-class protocol.

Two annotation layouts are read, found automatically under ``root``:

* the official release: ``Images/<name>.bmp`` and ``GroundTruth/<name>_GT.bmp``, labels
  colour-coded with the MSRC palette (black = void);
* the cleaned-up annotations of Malisiewicz & Efros (BMVC 2007):
  ``newsegmentations_mats/<name>_GT.mat`` with ``newseg`` (a segment index per pixel,
  1..K) and ``newlabels`` (the MSRC-23 class of segments 1..M; segments above M are void).

The 21-class protocol drops horse and mountain to void. Classes 0..20, in order:
building, grass, tree, cow, sheep, sky, aeroplane, water, face, car, bicycle, flower, sign,
bird, book, chair, road, cat, dog, body, boat. Void is 255.

Splits: the standard 335 trainval / 256 test names of Shotton et al. ship with the package.
The original 276/59 train/validation division is not public; minideeplab's fixed validation
subset is every 6th name of ``trainval`` (positions 3, 9, 15, ...): 56 validation and 279
training images.
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from .._io import FileFormatError, describe_error, open_for_reading, read_image
from ..nn.functional import IGNORE_INDEX

CLASSES = ["building", "grass", "tree", "cow", "sheep", "sky", "aeroplane", "water", "face", "car", "bicycle",
           "flower", "sign", "bird", "book", "chair", "road", "cat", "dog", "body", "boat"]
MSRC23 = ["void", "building", "grass", "tree", "cow", "horse", "sheep", "sky", "mountain", "aeroplane", "water",
          "face", "car", "bicycle", "flower", "sign", "bird", "book", "chair", "road", "cat", "dog", "body", "boat"]
# MSRC-23 id -> 21-class id (void, horse and mountain -> 255)
MAP23TO21 = np.full(256, IGNORE_INDEX, np.uint8)
for _i, _name in enumerate(MSRC23):
    if _name in CLASSES:
        MAP23TO21[_i] = CLASSES.index(_name)
SPLITS = ("train", "val", "trainval", "test")
_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "msrc")
MISSING = """MSRC-21 not found at {root!r} (looked for Images/ with newsegmentations_mats/ or GroundTruth/).
Get the official release (msrc_objcategimagedatabase_v2.zip, Microsoft Research Cambridge, for
non-commercial research) with minideeplab.datasets.download.download(DIR), or unpack it yourself so that
DIR/Images/*.bmp and DIR/GroundTruth/*_GT.bmp exist, and pass DIR as root."""


PALETTE23 = np.array([  # the official GroundTruth colours, indexed by MSRC-23 id
    (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
    (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0), (64, 0, 128), (192, 0, 128),
    (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0), (0, 192, 0), (128, 64, 128), (0, 192, 128),
    (128, 192, 128), (64, 64, 0), (192, 64, 0)], np.uint8)


def msrc_palette():
    """The MSRC palette, indexed by MSRC-23 id (it departs from the VOC colour map after chair)."""
    return PALETTE23.copy()


def palette21():
    """Colours of the 21 classes (their MSRC-23 colours), for ``viz.colorize``."""
    pal = msrc_palette()
    return np.array([pal[MSRC23.index(c)] for c in CLASSES], np.uint8)


@lru_cache(maxsize=None)
def split_names(split: str):
    """Image names of ``split``: "train" (279), "val" (56), "trainval" (335) or "test" (256)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "test":
        return tuple(open(os.path.join(_DATA, "test.txt")).read().split())
    names = open(os.path.join(_DATA, "trainval.txt")).read().split()
    if split == "trainval":
        return tuple(names)
    val = [n for i, n in enumerate(names) if i % 6 == 3]
    return tuple(val) if split == "val" else tuple(n for i, n in enumerate(names) if i % 6 != 3)


def detect_layout(root):
    """"mat" (cleaned-up annotations), "bmp" (official colour-coded) or None."""
    if not os.path.isdir(os.path.join(root, "Images")):
        return None
    if os.path.isdir(os.path.join(root, "newsegmentations_mats")):
        return "mat"
    if os.path.isdir(os.path.join(root, "GroundTruth")):
        return "bmp"
    return None


def _read_mat(path):
    """``scipy.io.loadmat`` with :class:`~minideeplab.FileFormatError` for a file it cannot read."""
    from scipy.io import loadmat

    with open_for_reading(path) as fh:
        try:
            return loadmat(fh)
        except Exception as exc:  # MatReadError, ValueError, TypeError, EOFError, zlib errors, ...
            raise FileFormatError(path, f"not a MATLAB file that can be read ({describe_error(exc)})") from exc


def labels_from_mat(path):
    """21-class label map (H, W) uint8 from a cleaned-up ``_GT.mat`` file.

    :class:`~minideeplab.FileFormatError` if the file lacks ``newseg`` (2-d segment
    indices) or ``newlabels`` (MSRC-23 ids 0..23, at most 255 segments)."""
    m = _read_mat(path)
    missing = [k for k in ("newseg", "newlabels") if k not in m]
    if missing:
        raise FileFormatError(path, f"has no {' or '.join(missing)}; expected one of the cleaned-up MSRC "
                                    "annotations (newsegmentations_mats/*_GT.mat)")
    try:
        seg = np.asarray(m["newseg"]).astype(np.int64)
        labels = np.asarray(m["newlabels"]).ravel().astype(np.int64)
    except (ValueError, TypeError) as exc:
        raise FileFormatError(path, f"newseg or newlabels is not an integer array ({exc})") from exc
    if seg.ndim != 2:
        raise FileFormatError(path, f"newseg must be a 2-d map of segment indices, got shape {seg.shape}")
    if len(labels) > 255 or labels.size and not 0 <= labels.min() <= labels.max() < len(MSRC23):
        raise FileFormatError(path, f"newlabels must be at most 255 MSRC-23 ids in 0..{len(MSRC23) - 1}")
    seg_class = np.zeros(256, np.int64)  # segment index -> MSRC-23 id (0 = void)
    seg_class[1:len(labels) + 1] = labels
    return MAP23TO21[seg_class[np.clip(seg, 0, 255)]]


def labels_from_bmp(path):
    """21-class label map (H, W) uint8 from an official colour-coded ``_GT.bmp``."""
    rgb = read_image(path).astype(np.int64)
    pal = msrc_palette().astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    lut = {int((c[0] << 16) | (c[1] << 8) | c[2]): i for i, c in enumerate(pal)}
    ids = np.zeros(code.shape, np.int64)  # unknown colours -> void
    for key, i in lut.items():
        ids[code == key] = i
    return MAP23TO21[ids]


class MSRC:
    """MSRC-21 images and labels: ``ds[i] -> (image (H, W, 3) uint8 RGB, label (H, W) uint8)``.

    Parameters
    ----------
    root : folder holding ``Images/`` and ``newsegmentations_mats/`` or ``GroundTruth/``;
        None: the folder :func:`find_msrc` finds
    split : "train", "val", "trainval" or "test"
    """

    num_classes = 21
    class_names = CLASSES

    def __init__(self, root=None, split="train"):
        if root is None:
            root = find_msrc()
            if root is None:
                raise FileNotFoundError(MISSING.format(root="$MINIDEEPLAB_MSRC or ../shared/data/msrc"))
        self.root = os.fspath(root)
        self.layout = detect_layout(self.root)
        if self.layout is None:
            raise FileNotFoundError(MISSING.format(root=self.root))
        self.split = split
        self.names = split_names(split)
        missing = [n for n in self.names if not os.path.exists(self._image_path(n))]
        if missing:
            raise FileNotFoundError(f"{len(missing)} images of split {split!r} are missing under {self.root}, "
                                    f"e.g. {self._image_path(missing[0])}")

    def _image_path(self, name):
        return os.path.join(self.root, "Images", name + ".bmp")

    def label_path(self, name):
        if self.layout == "mat":
            return os.path.join(self.root, "newsegmentations_mats", name + "_GT.mat")
        return os.path.join(self.root, "GroundTruth", name + "_GT.bmp")

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        name = self.names[i]
        image = read_image(self._image_path(name))
        read = labels_from_mat if self.layout == "mat" else labels_from_bmp
        label = read(self.label_path(name))
        if label.shape != image.shape[:2]:
            raise FileFormatError(self.label_path(name), f"label map {label.shape} and image "
                                                          f"{image.shape[:2]} sizes differ")
        return image, label


SAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "samples")
SAMPLE_NAMES = ("1_13_s", "4_15_s", "7_7_s", "18_23_s", "3_22_s", "9_3_s")


class MSRCSamples:
    """The six MSRC-21 test images that ship with the package (``minideeplab/data/samples``).

    Same interface as :class:`MSRC` (``names``, ``len()``, ``[i] -> (image, label)``), so the
    demo and the lessons run offline. Attribution: ``minideeplab/data/samples/README.md``.
    """

    num_classes = 21
    class_names = CLASSES
    split = "samples"

    def __init__(self):
        self.names = list(SAMPLE_NAMES)

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        from PIL import Image

        name = self.names[i]
        image = np.asarray(Image.open(os.path.join(SAMPLES_DIR, name + ".png")).convert("RGB"))
        label = np.asarray(Image.open(os.path.join(SAMPLES_DIR, name + "_labels.png")))
        return image, label.astype(np.uint8)


def find_msrc():
    """The MSRC folder if one is found, else None: ``$MINIDEEPLAB_MSRC``, then
    ``../shared/data/msrc`` from the working directory, then beside a source checkout."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for root in (os.environ.get("MINIDEEPLAB_MSRC"), os.path.join("..", "shared", "data", "msrc"),
                 os.path.join(here, "..", "shared", "data", "msrc")):
        if root and detect_layout(root) is not None:
            return os.path.normpath(root)
    return None
