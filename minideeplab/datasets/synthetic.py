"""Synthetic scenes: coloured, textured shapes on a textured background.

A small, always-available segmentation dataset for tests, lessons and the demo.
Class 0 is the background; classes 1..L-1 are shapes (disc, box, triangle,
ring, bar, ... cycling), each with its own colour and texture, jittered per
object and with pixel noise, so that colour alone is not quite enough.
"""
from __future__ import annotations

import numpy as np

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
        if not 2 <= num_classes <= len(CLASS_COLOURS):
            raise ValueError(f"num_classes must be in [2, {len(CLASS_COLOURS)}], got {num_classes}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n, self.size, self.num_classes = int(n), (int(size[0]), int(size[1])), int(num_classes)
        if not 0 < radius[0] <= radius[1]:
            raise ValueError(f"radius must be (min, max) with 0 < min <= max, got {radius}")
        self.objects, self.seed, self.noise, self.radius = objects, seed, float(noise), radius
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
