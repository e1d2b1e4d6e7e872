"""Model files that describe themselves: weights plus the variant, width, classes and any
chosen CRF parameters, in one ``.npz`` (no pickles; the description is JSON in ``__meta__``)."""
from __future__ import annotations

import os

from .._io import FileFormatError, read_npz, save_npz
from .deeplab import DeepLab


def _jsonable(scale):
    return list(scale) if isinstance(scale, tuple) else scale


def save_model(path, model, **meta):
    """Write ``model``'s parameters and ``meta`` (JSON-able: class names, CRF parameters, ...)."""
    info = {"variant": model.variant, "num_classes": model.num_classes, "width": model.width,
            "dropout": getattr(model, "dropout", 0.5), "input_scale": _jsonable(getattr(model, "input_scale", 1.0)),
            "test_flip": bool(getattr(model, "test_flip", False))}
    info.update(meta)
    save_npz(path, model.params, info)


def load_model(path):
    """``(model, meta)`` from a file written by :func:`save_model` (model in eval mode).

    Raises :class:`~minideeplab.FileFormatError` (naming the file) if it is not such a file:
    not a readable ``.npz``, no description, a description that names no valid model, or
    arrays whose names or shapes are not that model's.
    """
    arrays, meta = read_npz(path)
    if meta is None:
        raise FileFormatError(path, "has no model description (__meta__); was it written by save_model?")
    missing = [k for k in ("variant", "num_classes", "width") if k not in meta]
    if missing:
        raise FileFormatError(path, f"its description lacks {missing}; was it written by save_model?")
    try:
        model = DeepLab(meta["variant"], meta["num_classes"], width=meta["width"],
                        dropout=meta.get("dropout", 0.5), input_scale=meta.get("input_scale", 1.0),
                        test_flip=meta.get("test_flip", False))
    except (ValueError, TypeError) as exc:
        raise FileFormatError(path, f"its description is not a valid model ({exc})") from exc
    try:
        model.load_state_dict(arrays)
    except (ValueError, TypeError) as exc:
        raise FileFormatError(path, f"its arrays do not fit the {meta['variant']} it describes: {exc}") from exc
    return model.eval(), meta


MSRC_MODEL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "msrc_largefov.npz")


def load_msrc_model():
    """``(model, meta)``: the DeepLab-LargeFOV trained from scratch on MSRC-21 that ships
    with the package, with its cross-validated CRF parameters in ``meta["dense_crf"]`` and
    ``meta["grid_crf"]`` (how it was trained: ``meta["train_config"]``, benchmarks/RESULTS.md)."""
    if not os.path.exists(MSRC_MODEL):
        raise FileNotFoundError(f"the shipped MSRC model is missing ({MSRC_MODEL}); reinstall minideeplab")
    return load_model(MSRC_MODEL)
