"""DeepLab's input pipeline: RGB uint8 -> BGR float minus the mean, crop, mirror.

Images are ``(H, W, 3)`` uint8 RGB; labels ``(H, W)`` uint8 with 255 = void.
Network input is ``(3, H, W)`` float32 in BGR order minus ``MEAN_BGR`` (the
ImageNet mean of Caffe's VGG-16).
"""
from __future__ import annotations

import numpy as np

from ..nn.functional import IGNORE_INDEX

MEAN_BGR = (104.008, 116.669, 122.675)


def check_image(image, name="image"):
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty: {image.shape}")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise TypeError(f"{name} must be uint8 (or a real array with values in 0-255), got dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.floating) and not (np.isfinite(image.min()) and np.isfinite(image.max())):
        raise ValueError(f"{name} contains NaN or infinite values")


def preprocess(image, dtype=np.float32):
    """``(H, W, 3)`` RGB (uint8, or float in 0-255) -> ``(3, H, W)`` BGR minus the mean."""
    check_image(image)
    x = image[:, :, ::-1].astype(dtype) - np.asarray(MEAN_BGR, dtype=dtype)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


def color_jitter(image, rng, strength):
    """Random brightness, contrast and saturation, each scaled by a factor drawn uniformly from
    ``[1 - strength, 1 + strength]`` (in that order, three draws from ``rng``), as torchvision's
    ``ColorJitter``:

        brightness: x * b;   contrast: (x - mean luma) * c + mean luma;
        saturation: (x - luma of the pixel) * s + luma of the pixel;   then clipped to [0, 255]

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB
    rng : numpy.random.Generator
    strength : in [0, 1); 0 returns the image itself and draws nothing

    Returns
    -------
    (H, W, 3) uint8 RGB
    """
    check_image(image)
    strength = float(strength)
    if not 0.0 <= strength < 1.0:
        raise ValueError(f"strength must be in [0, 1), got {strength}")
    if strength == 0.0:
        return image
    b, c, s = rng.uniform(1.0 - strength, 1.0 + strength, size=3)
    x = image.astype(np.float32) * np.float32(b)
    luma = x @ np.asarray(LUMA, np.float32)  # (H, W)
    x = (x - luma.mean()) * np.float32(c) + luma.mean()
    luma = x @ np.asarray(LUMA, np.float32)
    x = (x - luma[:, :, None]) * np.float32(s) + luma[:, :, None]
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def random_crop_mirror(x, label, crop_size, rng, mirror=True):
    """Random ``crop_size`` crop and horizontal flip, as DeepLab's data layer.

    Smaller images are padded at the bottom/right first: the input with 0 (the mean
    colour after :func:`preprocess`), the labels with 255 (ignored by the loss).

    Parameters
    ----------
    x : (3, H, W) preprocessed image
    label : (H, W) integer labels
    crop_size : int or (h, w)
    rng : numpy Generator (all randomness comes from it)
    """
    ch, cw = (crop_size, crop_size) if np.isscalar(crop_size) else crop_size
    H, W = label.shape
    if x.shape[1:] != (H, W):
        raise ValueError(f"image {x.shape[1:]} and label {label.shape} sizes differ")
    ph, pw = max(ch - H, 0), max(cw - W, 0)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)))
        label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
        H, W = label.shape
    y0 = int(rng.integers(0, H - ch + 1))
    x0 = int(rng.integers(0, W - cw + 1))
    x = x[:, y0 : y0 + ch, x0 : x0 + cw]
    label = label[y0 : y0 + ch, x0 : x0 + cw]
    if mirror and rng.random() < 0.5:
        x, label = x[:, :, ::-1], label[:, ::-1]
    return np.ascontiguousarray(x), np.ascontiguousarray(label)


def pad_to_multiple(x, multiple=8):
    """Pad ``(C, H, W)`` at the bottom/right with 0 to the next ``multiple * k + 1`` size.

    DeepLab evaluates on such sizes so that zooming the stride-8 scores by 8 with
    aligned corners lands exactly on the input pixels.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 3:
        raise ValueError(f"x must be a (C, H, W) array, got {getattr(x, 'shape', x)!r}")
    if not isinstance(multiple, (int, np.integer)) or multiple < 1:
        raise ValueError(f"multiple must be a positive int, got {multiple!r}")
    H, W = x.shape[1:]
    Hp = ((H - 1 + multiple - 1) // multiple) * multiple + 1
    Wp = ((W - 1 + multiple - 1) // multiple) * multiple + 1
    return np.pad(x, ((0, 0), (0, Hp - H), (0, Wp - W)))


def resize_image(image, scale):
    """Rescale an ``(H, W, 3)`` uint8 RGB image by ``scale`` (bilinear, PIL's).

    The new size is ``(round(H * scale), round(W * scale))``, at least 1x1. Test-time
    input scaling (``predict.predict_scores``) uses it.
    """
    from PIL import Image

    H, W = image.shape[:2]
    h, w = max(1, int(round(H * scale))), max(1, int(round(W * scale)))
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))


def resize_image_and_label(image, label, scale):
    """Rescale an image (bilinear, :func:`resize_image`) and its ``(H, W)`` uint8 labels
    (nearest neighbour, so no new label values) by ``scale``: the trainer's random rescaling."""
    from PIL import Image

    if image.shape[:2] != label.shape:
        raise ValueError(f"image {image.shape[:2]} and label {label.shape} sizes differ")
    image = resize_image(image, scale)
    h, w = image.shape[:2]
    return image, np.asarray(Image.fromarray(label).resize((w, h), Image.NEAREST))
