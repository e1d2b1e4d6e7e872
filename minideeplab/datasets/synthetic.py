"""Synthetic scenes: coloured, textured shapes on a textured background.

A small, always-available segmentation dataset for tests, lessons and the demo.
Class 0 is the background; classes 1..L-1 are shapes (disc, box, triangle,
ring, bar, ... cycling), each with its own colour and texture, jittered per
object and with pixel noise, so that colour alone is not quite enough.

Also here, for CRF lessons, tests and benchmarks that have labels but no trained net:
:func:`noisy_probs`, a simulated classifier's beliefs made from ground truth, and
:func:`thin_line_scene`, the 1-pixel line that shows the grid CRF's shrinking bias.
"""
from __future__ import annotations

import numpy as np

from .._validate import real_number, size_pair

CLASS_COLOURS = np.array([  # RGB means: background, then the shape classes
    (110, 120, 100), (200, 60, 50), (60, 170, 70), (60, 80, 200), (210, 190, 60),
    (170, 70, 180), (60, 190, 190), (230, 130, 40), (120, 60, 30),
], dtype=np.float64)
SHAPES = ("disc", "box", "triangle", "ring", "bar")


def _mask(shape, yy, xx, cy, cx, r, angle):
    dy, dx = yy - cy, xx - cx
    if shape == "disc":
        return dy**2 + dx**2 <= r**2
    if shape == "box":
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * dx + s * dy, -s * dx + c * dy
        return (np.abs(u) <= r) & (np.abs(v) <= 0.7 * r)
    if shape == "triangle":
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * dx + s * dy, -s * dx + c * dy
        return (v <= r * 0.6) & (v >= -r) & (np.abs(u) <= (r * 0.6 - v) * 0.65)
    if shape == "ring":
        d2 = dy**2 + dx**2
        return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)
    if shape == "bar":
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * dx + s * dy, -s * dx + c * dy
        return (np.abs(u) <= 1.6 * r) & (np.abs(v) <= max(1.5, 0.22 * r))
    raise ValueError(shape)


class SyntheticScenes:
    """``n`` deterministic scenes; ``scenes[i] -> (image (H, W, 3) uint8 RGB, label (H, W) uint8)``.

    Parameters
    ----------
    n : number of scenes
    size : (H, W)
    num_classes : L, background included (2..9)
    objects : (min, max) number of shapes per scene
    seed : scene ``i`` is drawn from ``default_rng([seed, i])``
    noise : standard deviation of the pixel noise (0-255 scale)
    radius : (min, max) object radius as a fraction of the shorter side
    """

    def __init__(self, n=100, size=(64, 64), num_classes=4, objects=(1, 4), seed=0, noise=18.0,
                 radius=(0.12, 0.25)):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
                or not 2 <= num_classes <= len(CLASS_COLOURS):
            raise ValueError(f"num_classes must be in [2, {len(CLASS_COLOURS)}], got {num_classes}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        self.n, self.size, self.num_classes = int(n), size_pair(size, "size"), int(num_classes)
        if not 0 < radius[0] <= radius[1]:
            raise ValueError(f"radius must be (min, max) with 0 < min <= max, got {radius}")
        self.objects, self.seed, self.radius = objects, seed, radius
        self.noise = real_number(noise, "noise", 0.0)
        self.class_names = ["background"] + [SHAPES[(c - 1) % len(SHAPES)] + (f"{(c - 1) // len(SHAPES) + 1}" if c > len(SHAPES) else "")
                                             for c in range(1, num_classes)]

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not -self.n <= i < self.n:
            raise IndexError(f"scene {i} out of range for {self.n} scenes")
        i = i % self.n
        rng = np.random.default_rng([self.seed, i])
        H, W = self.size
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
        # background: a smooth colour gradient plus a coarse texture
        g = (yy / H - 0.5) * rng.normal(0, 30) + (xx / W - 0.5) * rng.normal(0, 30)
        img = CLASS_COLOURS[0] + g[..., None] + rng.normal(0, 12, 3)
        label = np.zeros((H, W), dtype=np.uint8)
        for _ in range(int(rng.integers(self.objects[0], self.objects[1] + 1))):
            c = int(rng.integers(1, self.num_classes))
            r = rng.uniform(*self.radius) * min(H, W)
            cy, cx = rng.uniform(0.15, 0.85) * H, rng.uniform(0.15, 0.85) * W
            m = _mask(SHAPES[(c - 1) % len(SHAPES)], yy, xx, cy, cx, r, rng.uniform(0, np.pi))
            colour = CLASS_COLOURS[c] + rng.normal(0, 15, 3)
            stripes = 14.0 * np.sin((xx * np.cos(c) + yy * np.sin(c)) * (0.5 + 0.15 * c))
            img[m] = colour + stripes[m][:, None]
            label[m] = c
        img += rng.normal(0, self.noise, img.shape)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8), label


def noisy_probs(labels, n_labels, *, strength, noise, rng, smooth=0.0, dtype=np.float64):
    """A simulated classifier: probabilities that favour the true label, with errors to correct.

    ``P = softmax(strength * onehot(labels) + noise * Z)`` over the labels, where ``Z`` is
    standard normal per label and pixel, blurred over space by a Gaussian of std ``smooth``
    pixels when ``smooth > 0`` (spatially coherent errors, as a net makes). Void pixels
    (``labels >= n_labels``, e.g. 255) get uniform probabilities.

    Parameters
    ----------
    labels : (H, W) integer ground truth
    n_labels : L
    strength : logit added to the true label
    noise : scale of the logit noise (after blurring)
    rng : numpy Generator or seed; draws one ``(L, H, W)`` standard-normal array
    smooth : std of the spatial blur of the noise, in pixels (0: independent per pixel)
    dtype : dtype of the result

    Returns
    -------
    probs : (L, H, W) array of ``dtype``, summing to 1 over axis 0
    """
    from ..nn.functional import softmax

    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a (H, W) integer array, got {labels.dtype} {labels.shape}")
    if not isinstance(n_labels, (int, np.integer)) or n_labels < 1:
        raise ValueError(f"n_labels must be a positive int, got {n_labels!r}")
    for name, v in (("strength", strength), ("noise", noise), ("smooth", smooth)):
        if not np.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0, got {smooth}")
    z = np.random.default_rng(rng).standard_normal((n_labels,) + labels.shape)
    if smooth > 0:
        from scipy.ndimage import gaussian_filter

        z = gaussian_filter(z, (0, smooth, smooth))
    onehot = labels[None] == np.arange(n_labels)[:, None, None]
    logits = strength * onehot + noise * z
    logits[:, labels >= n_labels] = 0.0
    return softmax(logits, axis=0).astype(dtype, copy=False)


def thin_line_scene(size=(40, 60), row=20, cols=(5, 55), p_line=0.6, p_off=0.2):
    """A 1-pixel bright line on a dark background, and a weak classifier's beliefs about it.

    The scene of the shrinking bias: every line pixel has two neighbours on the line and six
    off it, so a grid CRF pays for a long boundary and erases the line; a fully connected CRF
    links all its pixels by colour and keeps it.

    Parameters
    ----------
    size : (H, W)
    row : the line's row
    cols : (first, end) columns of the line, end excluded
    p_line, p_off : P(line) on the line and elsewhere

    Returns
    -------
    image : (H, W, 3) uint8, 60 everywhere and 230 on the line
    line : (H, W) bool, the line's pixels (label 1)
    probs : (2, H, W) float64, ``probs[1]`` = P(line), ``probs[0] = 1 - probs[1]``
    """
    H, W = size
    if not (0 <= row < H and 0 <= cols[0] < cols[1] <= W):
        raise ValueError(f"row {row} and cols {cols} must lie inside size {size}")
    if not (0 <= p_line <= 1 and 0 <= p_off <= 1):
        raise ValueError(f"p_line and p_off must be in [0, 1], got {p_line}, {p_off}")
    image = np.full((H, W, 3), 60, np.uint8)
    image[row, cols[0]:cols[1]] = 230
    line = np.zeros((H, W), bool)
    line[row, cols[0]:cols[1]] = True
    probs = np.empty((2, H, W))
    probs[1] = np.where(line, p_line, p_off)
    probs[0] = 1 - probs[1]
    return image, line, probs
