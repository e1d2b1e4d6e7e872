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


def show_rows(rows, titles=None, palette=None, scale=2.0, class_names=None):
    """A grid figure: each row a list of images ``(H, W, 3)`` or label maps ``(H, W)`` (None: an empty cell).

    Every cell is ``scale`` inches wide and as tall as its row's images, so the rows follow
    each other without empty bands. With ``class_names``, a legend under the grid gives the
    colour of each class present in the label maps ("void" for 255).
    """
    import matplotlib.pyplot as plt

    if not len(rows) or not all(len(r) for r in rows):
        raise ValueError("rows must hold at least one row, each with at least one cell")
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    aspect = [max((np.shape(a)[0] / np.shape(a)[1] for a in row if a is not None), default=1.0) for row in rows]
    gap, title_h = 0.04, (0.25 if titles is not None else 0.0)  # inches
    height = scale * sum(aspect) + gap * (n_rows - 1) + title_h
    fig = plt.figure(figsize=(scale * n_cols + gap * (n_cols - 1), height))
    grid = fig.add_gridspec(n_rows, n_cols, height_ratios=aspect, left=0, right=1, bottom=0,
                            top=1 - title_h / height, wspace=gap / scale, hspace=gap / (scale * np.mean(aspect)))
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = fig.add_subplot(grid[i, j])
            ax.axis("off")
            if j >= len(row) or row[j] is None:
                continue
            a = np.asarray(row[j])
            ax.imshow(a if a.ndim == 3 else colorize(a, palette), interpolation="nearest")
            if titles is not None and i == 0:
                ax.set_title(titles[j], fontsize=9)
    if class_names is not None:
        labels = [np.asarray(a) for row in rows for a in row if a is not None and np.ndim(a) == 2]
        add_class_legend(fig, np.unique(np.concatenate([lab.ravel() for lab in labels])) if labels else [],
                         class_names, palette, ncol=max(1, int(scale * n_cols / 1.3)))
    return fig


def add_class_legend(fig, classes, class_names, palette=None, ncol=4):
    """A legend under ``fig`` with a colour patch per class index in ``classes`` (255: "void"),
    in at most ``ncol`` columns."""
    from matplotlib.patches import Patch

    pal = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    handles = []
    for c in (int(c) for c in classes):
        if c == IGNORE_INDEX:
            handles.append(Patch(facecolor="black", edgecolor="0.5", label="void"))
        else:
            colour = pal[c] if c < len(pal) else np.zeros(3, np.uint8)
            name = class_names[c] if c < len(class_names) else str(c)
            handles.append(Patch(facecolor=colour / 255.0, edgecolor="0.5", label=name))
    if handles:
        lines = -(-len(handles) // ncol)  # ceil: the legend's rows, then as few columns as fill them
        fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=-(-len(handles) // lines),
                   frameon=False, fontsize=8, handlelength=1.2, columnspacing=1.0)
    return fig


def save_rows(path, rows, titles=None, palette=None, class_names=None):
    """:func:`show_rows` saved atomically to ``path``."""
    import matplotlib.pyplot as plt

    fig = show_rows(rows, titles, palette, class_names=class_names)
    save_figure(fig, path)
    plt.close(fig)
    return path


def show_compat(mu, class_names=None, title="label compatibility mu(l, l')"):
    """The (L, L) compatibility matrix of a learned CRF as a heat map: row l, column l' is the
    cost of label l at a pixel whose similar neighbours hold l' (low: "may sit next to").

    The matrix is shown minus its diagonal's mean (adding a constant to every entry changes no
    belief), on a diverging colour map centred at 0. Returns the figure."""
    import matplotlib.pyplot as plt

    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[0] != mu.shape[1]:
        raise ValueError(f"mu must be a square (L, L) matrix, got shape {mu.shape}")
    L = mu.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(L)]
    if len(names) != L:
        raise ValueError(f"class_names must have {L} names, got {len(names)}")
    shown = mu - np.diag(mu).mean()
    top = float(np.abs(shown).max()) or 1.0
    fig, ax = plt.subplots(figsize=(0.32 * L + 2.5, 0.32 * L + 2))
    im = ax.imshow(shown, cmap="RdBu_r", vmin=-top, vmax=top)
    ax.set_xticks(range(L), names, rotation=90)
    ax.set_yticks(range(L), names)
    ax.set_xlabel("neighbour's label l'")
    ax.set_ylabel("pixel's label l")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig
