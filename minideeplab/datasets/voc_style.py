"""MSRC-21 relabelled as VOC labels its images: objects on one background class.

On VOC every pixel is one of 20 object classes or *background*, and a box is drawn around an
object. MSRC-21 labels six "stuff" classes too (building, grass, tree, sky, water, road), whose
segments tile most of an image; boxes around them cover the image, which makes box
supervision (Bbox-Rect) much easier than on VOC. :class:`VOCStyle` merges the stuff classes
into a background class 0 and renumbers the 15 object classes 1..15 (in MSRC order), so that
the weak-supervision methods of Papandreou et al. (ICCV 2015) run as published: boxes around
object segments only, everything outside them background.

    ds = VOCStyle(MSRC(root, "train"))
    image, label = ds[0]            # label: 0 background, 1..15 objects, 255 void
"""
from __future__ import annotations

import numpy as np

from ..nn.functional import IGNORE_INDEX
from .msrc import CLASSES

STUFF = ("building", "grass", "tree", "sky", "water", "road")
OBJECTS = tuple(c for c in CLASSES if c not in STUFF)
VOC_STYLE_CLASSES = ("background",) + OBJECTS

TO_VOC_STYLE = np.full(256, IGNORE_INDEX, np.uint8)
"""21-class id -> VOC-style id (stuff -> 0, objects -> 1..15, void stays 255)."""
for _i, _name in enumerate(CLASSES):
    TO_VOC_STYLE[_i] = 0 if _name in STUFF else 1 + OBJECTS.index(_name)


def to_voc_style(label):
    """A 21-class MSRC label map (H, W) -> the VOC-style map (H, W) uint8."""
    lab = np.asarray(label)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"label must be an (H, W) integer map, got shape {lab.shape}, dtype {lab.dtype}")
    if lab.size and (lab.min() < 0 or np.any((lab >= len(CLASSES)) & (lab != IGNORE_INDEX))):
        raise ValueError(f"label must hold 21-class ids in [0, {len(CLASSES)}) or {IGNORE_INDEX} (void)")
    return TO_VOC_STYLE[lab]


def voc_style_palette():
    """Colours of the 16 VOC-style classes: black background, the objects' MSRC colours."""
    from .msrc import palette21

    pal = palette21()
    return np.concatenate([np.zeros((1, 3), np.uint8), pal[[CLASSES.index(c) for c in OBJECTS]]])


class VOCStyle:
    """``VOCStyle(dataset)[i] -> (image, VOC-style label)`` for a dataset of 21-class MSRC
    labels (:class:`MSRC`); its other attributes (``names``, ...) are the wrapped dataset's."""

    num_classes = len(VOC_STYLE_CLASSES)
    class_names = VOC_STYLE_CLASSES

    def __init__(self, dataset):
        if getattr(dataset, "num_classes", len(CLASSES)) != len(CLASSES):
            raise ValueError(f"dataset must hold 21-class MSRC labels, it has {dataset.num_classes} classes")
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        image, label = self.dataset[i]
        return image, to_voc_style(label)

    def __getattr__(self, name):             # names, root, split, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)
