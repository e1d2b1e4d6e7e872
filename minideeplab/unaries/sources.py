"""Unary sources behind one interface: a DeepLab model or a TextonBoost pixel classifier.

The CRF commands (``tune-crf``, ``compare-crf``) need from a source only its class
probabilities per pixel and a place to keep the CRF parameters chosen for it. A DeepLab file
(:func:`minideeplab.models.save_model`) keeps them in its description, a TextonBoost file in
:attr:`TextonBoost.meta`; :func:`load_unaries` and :func:`save_unaries` read and write both
kinds as ``(model, meta)``.
"""
from __future__ import annotations

import os

from .._io import read_npz_meta

TEXTONBOOST_MODEL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "msrc_textonboost.npz")


def is_textonboost(model):
    from .textonboost import TextonBoost

    return isinstance(model, TextonBoost)


def unary_probs(model, image):
    """Class probabilities of every pixel: image (H, W, 3) uint8 -> (L, H, W) float32, from a
    DeepLab model (:func:`minideeplab.predict.predict_probs`, with its test-time scale and
    flip) or a TextonBoost model (:meth:`TextonBoost.predict_proba`)."""
    if is_textonboost(model):
        return model.predict_proba(image)
    from ..predict import predict_probs

    return predict_probs(model, image)


def load_unaries(path):
    """``(model, meta)`` from a DeepLab model file or a TextonBoost file (told apart by the
    file's description); :class:`~minideeplab.FileFormatError` for anything else."""
    from ..models import load_model
    from .textonboost import TextonBoost

    meta = read_npz_meta(path)
    if isinstance(meta, dict) and meta.get("kind") == "TextonBoost":
        model = TextonBoost.load(path)
        return model, dict(model.meta)
    return load_model(path)


def save_unaries(path, model, meta):
    """Write ``model`` with the JSON-able ``meta`` (e.g. the chosen CRF parameters) to ``path``,
    in the file format of its kind."""
    if is_textonboost(model):
        model.meta = dict(meta)
        model.save(path)
        return
    from ..models import save_model

    save_model(path, model, **meta)


def load_shipped_textonboost():
    """``(model, meta)``: the TextonBoost unaries for MSRC-21 that ship with the package."""
    if not os.path.exists(TEXTONBOOST_MODEL):
        raise FileNotFoundError(f"the shipped TextonBoost model is missing ({TEXTONBOOST_MODEL})")
    return load_unaries(TEXTONBOOST_MODEL)
