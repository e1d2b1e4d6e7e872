"""Import ImageNet VGG-16 weights from a torchvision-style state dict.

torchvision's ``vgg16`` names its layers ``features.{0,2,5,...,28}`` (the 13 convs)
and ``classifier.{0,3,6}`` (fc6 as a (4096, 25088) matrix, fc7, fc8). This module
maps them onto minideeplab's names and converts them as the DeepLab paper did:

* fc6 becomes a 7x7 conv and is **decimated** to the variant's kernel: taps
  ``round(linspace(0, 6, k))`` in each direction, i.e. rows/columns 0,2,4,6 for 4x4
  and 0,3,6 for 3x3 (the paper says "subsample by decimation" and no more).
* For 1024-channel variants (LargeFOV) fc6's filters and fc7's rows and columns are
  decimated by keeping every 4th channel (0, 4, 8, ...); fc7's inputs follow fc6's outputs.
* fc8 is not imported into DeepLab models (new classes): it keeps its N(0, 0.01) init.
* ``preprocessing="caffe"`` folds torchvision's input convention (RGB in [0, 1],
  normalised by ImageNet mean/std) into conv1_1 so the network takes DeepLab's input
  (BGR, 0-255, minus the mean 104.008, 116.669, 122.675). The fold is exact away from
  the image border; at the zero-padded border it differs because the padding value of
  the two conventions is not the same pixel colour.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

from .._io import FileFormatError, describe_error, open_for_reading, read_npz
from ..datasets.transforms import MEAN_BGR
from .deeplab import DeepLab, VGG16

TV_CONV = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
OUR_CONV = [f"conv{b}_{i}" for b, n in enumerate([2, 2, 3, 3, 3], start=1) for i in range(1, n + 1)]
TV_MEAN = np.array([0.485, 0.456, 0.406])  # RGB
TV_STD = np.array([0.229, 0.224, 0.225])


def read_state_dict(path):
    """A state dict from ``.npz`` (no pickles) or ``.pth`` (needs torch, read with weights_only).

    :class:`~minideeplab.FileFormatError` (naming the file) if it cannot be read or is
    not a dict of name -> tensor. A ``.pth`` whose pickle holds anything but tensors and
    plain containers is refused, as ``torch.load(weights_only=True)`` refuses it: loading
    such objects would run code the file names.
    """
    path = os.fspath(path)
    if path.endswith(".npz"):
        return read_npz(path)[0]
    if path.endswith((".pth", ".pt")):
        try:
            import torch
        except ImportError as exc:
            raise RuntimeError("reading a .pth file needs torch; convert it to .npz elsewhere") from exc
        with open_for_reading(path) as fh:
            try:
                sd = torch.load(fh, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc:
                why = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line),
                           "objects other than tensors")
                raise FileFormatError(path, f"refused: its pickle holds more than tensors ({why}), and loading "
                                            "that could run code from the file; if you trust it, save its "
                                            "state_dict() with torch.save or as .npz") from None
            except Exception as exc:  # RuntimeError (zip), EOFError, KeyError (not a pickle), ...
                raise FileFormatError(path, f"not a PyTorch file that can be read ({describe_error(exc)})") from exc
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            hint = " (its 'state_dict' entry may be)" if isinstance(sd, dict) and "state_dict" in sd else ""
            raise FileFormatError(path, f"holds a {type(sd).__name__}, not a state dict of name -> tensor{hint}")
        return {k: (v.detach().float() if v.dtype == torch.bfloat16 else v.detach()).numpy() for k, v in sd.items()}
    raise ValueError(f"path must end in .npz or .pth, got {path!r}")


def _taps(k: int) -> np.ndarray:
    return np.round(np.linspace(0, 6, k)).astype(int)


def _check_preprocessing(preprocessing):
    if preprocessing not in ("caffe", "torchvision"):
        raise ValueError(f"preprocessing must be 'caffe' or 'torchvision', got {preprocessing!r}")


def _checked_state(state, fc8):
    """The state dict's VGG-16 arrays as float64, after checking that they are all there and
    fit together (ValueError naming the first key that does not)."""
    layers = [f"features.{i}" for i in TV_CONV] + ["classifier.0", "classifier.3"]
    if fc8 and "classifier.6.weight" in state:
        layers.append("classifier.6")
    need = [f"{layer}.{p}" for layer in layers for p in ("weight", "bias")]
    missing = [k for k in need if k not in state]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ValueError(f"state is not a torchvision VGG-16 state dict: missing {missing[:3]}{more}")
    out = {}
    for k in need:
        try:
            out[k] = np.asarray(state[k], dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"state[{k!r}] is not an array of numbers ({exc})") from exc
    for layer in layers:
        w, b = out[f"{layer}.weight"], out[f"{layer}.bias"]
        conv = layer.startswith("features")
        if w.ndim != (4 if conv else 2) or b.shape != (w.shape[0],):
            raise ValueError(f"{layer}: weight {w.shape} and bias {b.shape} are not a "
                             f"{'conv' if conv else 'linear'} layer's ({'F, C, kh, kw' if conv else 'F, C'}) and (F,)")
    if out["features.0.weight"].shape[1] != 3:
        raise ValueError(f"features.0.weight {out['features.0.weight'].shape}: conv1_1 must take 3 (RGB) channels")
    c5, n6 = out["features.28.weight"].shape[0], out["classifier.0.weight"].shape[0]
    if out["classifier.0.weight"].shape[1] != c5 * 49:
        raise ValueError(f"classifier.0.weight {out['classifier.0.weight'].shape}: fc6 must take 7x7x{c5} = "
                         f"{c5 * 49} inputs (conv5_3's output)")
    if out["classifier.3.weight"].shape != (n6, n6):
        raise ValueError(f"classifier.3.weight {out['classifier.3.weight'].shape}: fc7 must be ({n6}, {n6})")
    return out


def convert_vgg16(state, model, preprocessing="caffe"):
    """The model's state dict built from a torchvision VGG-16 ``state`` (see module doc).

    Parameters
    ----------
    state : dict ``name -> array`` with torchvision's keys
    model : a :class:`VGG16` or :class:`DeepLab` whose conv widths match ``state``
    preprocessing : ``"caffe"`` (fold into conv1_1, see above) or ``"torchvision"``

    Returns
    -------
    dict for ``model.load_state_dict(..., strict=False)``
    """
    _check_preprocessing(preprocessing)
    state = _checked_state(state, fc8=isinstance(model, VGG16))
    out = {}
    for tv, ours in zip(TV_CONV, OUR_CONV):
        out[f"{ours}.weight"] = state[f"features.{tv}.weight"]
        out[f"{ours}.bias"] = state[f"features.{tv}.bias"]
    if preprocessing == "caffe":
        w, b = out["conv1_1.weight"], out["conv1_1.bias"]
        caffe_mean_rgb = np.array(MEAN_BGR[::-1])
        scale = 1.0 / (255.0 * TV_STD)  # per RGB input channel
        shift = (caffe_mean_rgb / 255.0 - TV_MEAN) / TV_STD
        out["conv1_1.bias"] = b + np.einsum("fcij,c->f", w, shift)
        out["conv1_1.weight"] = (w * scale[None, :, None, None])[:, ::-1].copy()  # RGB -> BGR inputs
    c5 = out["conv5_3.weight"].shape[0]
    w6 = state["classifier.0.weight"].reshape(-1, c5, 7, 7)
    b6, w7, b7 = state["classifier.0.bias"], state["classifier.3.weight"], state["classifier.3.bias"]
    fc6 = model.layer("fc6")
    k, c_fc = fc6.kernel_size[0], fc6.out_channels
    if w6.shape[0] % c_fc:
        raise ValueError(f"cannot decimate {w6.shape[0]} fc6 channels to {c_fc}")
    step = w6.shape[0] // c_fc
    t = _taps(k)
    out["fc6.weight"] = w6[::step][:, :, t][:, :, :, t]
    out["fc6.bias"] = b6[::step]
    out["fc7.weight"] = w7[::step, ::step][:, :, None, None]
    out["fc7.bias"] = b7[::step]
    if isinstance(model, VGG16) and "classifier.6.weight" in state:
        out["fc8.weight"] = state["classifier.6.weight"][:, :, None, None]
        out["fc8.bias"] = state["classifier.6.bias"]
    own = model.params
    for key, v in out.items():
        if tuple(own[key].shape) != v.shape:
            raise ValueError(f"{key}: imported shape {v.shape} does not fit the model's {tuple(own[key].shape)} "
                             "(is the model's width the state dict's?)")
    return out


def load_vgg16(model, path_or_state, preprocessing="caffe"):
    """Load torchvision VGG-16 weights (a path or a dict) into ``model``, decimating as needed.

    A path that cannot be read or does not hold VGG-16 weights for this model raises
    :class:`~minideeplab.FileFormatError` naming it; a dict, ``ValueError``.
    """
    if not isinstance(model, (VGG16, DeepLab)):
        raise TypeError(f"model must be a VGG16 or DeepLab, got {type(model).__name__}")
    _check_preprocessing(preprocessing)
    if not isinstance(path_or_state, (str, os.PathLike)):
        if not isinstance(path_or_state, dict):
            raise TypeError(f"path_or_state must be a path or a dict name -> array, got {type(path_or_state).__name__}")
        return model.load_state_dict(convert_vgg16(path_or_state, model, preprocessing), strict=False)
    state = read_state_dict(path_or_state)
    try:
        converted = convert_vgg16(state, model, preprocessing)
    except ValueError as exc:  # the arrays are not VGG-16's, or not of this model's widths
        raise FileFormatError(path_or_state, str(exc)) from exc
    return model.load_state_dict(converted, strict=False)
