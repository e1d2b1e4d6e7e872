"""Palettes, colour label maps, overlays and figure helpers (matplotlib, Agg)."""
from __future__ import annotations

import io

import numpy as np

from ._io import atomic_write_bytes
from .nn.functional import IGNORE_INDEX


def voc_palette(n=256):
    """The PASCAL VOC colour map: class ``c`` gets bits of ``c`` spread over R, G, B."""
    pal = np.zeros((n, 3), dtype=np.uint8)
    for c in range(n):
        r = g = b = 0
        cid = c
        for j in range(8):
            r |= ((cid >> 0) & 1) << (7 - j)
            g |= ((cid >> 1) & 1) << (7 - j)
            b |= ((cid >> 2) & 1) << (7 - j)
            cid >>= 3
        pal[c] = (r, g, b)
    return pal


def colorize(label, palette=None, void_colour=(0, 0, 0)):
    """``(H, W)`` labels -> ``(H, W, 3)`` uint8 colours; 255 (void) gets ``void_colour``."""
    label = np.asarray(label)
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f"label must be an (H, W) integer array, got {label.shape} {label.dtype}")
    pal = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    if pal.shape[0] < 256:
        pal = np.vstack([pal, np.zeros((256 - pal.shape[0], 3), dtype=np.uint8)])
    out = pal[np.clip(label, 0, 255)]
    out[label == IGNORE_INDEX] = void_colour
    return out


def overlay(image, label, alpha=0.5, palette=None):
    """Blend the colour label map over the image."""
    c = colorize(label, palette).astype(np.float64)
    return np.clip((1 - alpha) * image.astype(np.float64) + alpha * c, 0, 255).astype(np.uint8)


def figure_bytes(fig, fmt="png", dpi=100):
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig, path, dpi=100):
    """Save a matplotlib figure atomically (format from the extension)."""
    fmt = str(path).rsplit(".", 1)[-1]
    atomic_write_bytes(path, figure_bytes(fig, fmt, dpi))


def show_rows(rows, titles=None, palette=None, scale=2.0):
    """A grid figure: each row a list of images ``(H, W, 3)`` or label maps ``(H, W)``."""
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(scale * n_cols, scale * n_rows), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.axis("off")
            if j >= len(row) or row[j] is None:
                continue
            a = np.asarray(row[j])
            ax.imshow(a if a.ndim == 3 else colorize(a, palette), interpolation="nearest")
            if titles is not None and i == 0:
                ax.set_title(titles[j], fontsize=9)
    fig.tight_layout()
    return fig


def save_rows(path, rows, titles=None, palette=None):
    """:func:`show_rows` saved atomically to ``path``."""
    import matplotlib.pyplot as plt

    fig = show_rows(rows, titles, palette)
    save_figure(fig, path)
    plt.close(fig)
    return path
