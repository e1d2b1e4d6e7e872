"""Held-out unaries of the training images, from k-fold nets.

A net scores its own training images far better than new ones (on MSRC the shipped width-1/4
net: 94% of their pixels right against 75% on validation images), so a CRF learned on those
unaries learns to trust them too much. K nets trained with ``minideeplab train --hold-out I/K``
(net I never sees the training images at positions I, I + K, I + 2K, ... of MSRC's training
split) give every training image a unary from a net that did not train on it: what
``learn-crf --folds DIR`` learns from.

    folder/fold0/model.npz, folder/fold1/model.npz, ..., folder/fold{K-1}/model.npz
"""
from __future__ import annotations

import os


def parse_fold(text, name="--hold-out"):
    """``"I/K"`` -> ``(I, K)`` with integers ``K >= 2`` and ``0 <= I < K``; ValueError naming
    ``name`` otherwise."""
    try:
        fold, folds = (int(part) for part in str(text).split("/"))
    except ValueError:
        fold, folds = -1, 0
    if folds < 2 or not 0 <= fold < folds:
        raise ValueError(f"{name} must be I/K with integers 0 <= I < K, K >= 2, got {text!r}")
    return fold, folds


class FoldNets:
    """The K fold nets of ``folder``; ``like``: a model whose test-time setting (input scales
    and mirror) they take, so that their unaries are computed as that model's are. ``name``
    is how errors call the folder (``"--folds"`` on the command line).

    Each ``foldI/model.npz`` must have been trained on MSRC's training split with
    ``--hold-out I/K``; anything else is a ValueError (FileNotFoundError for a missing file).

    ``FoldNets(folder, like).probs(i, image)``: (L, H, W) float32 probabilities of training image
    ``i`` (its position in MSRC's training split) by the net that left it out, net ``i % K``.
    """

    def __init__(self, folder, like=None, name="folder"):
        from ..models import load_model

        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{name} {folder}: no such folder")
        K = sum(1 for d in os.listdir(folder) if d.startswith("fold") and d[4:].isdigit())
        if K < 2:
            raise ValueError(f"{name} {folder}: expected fold0/model.npz, fold1/model.npz, ... (at least two "
                             f"folds), found {K} fold folders")
        self.nets = []
        for fold in range(K):
            path = os.path.join(folder, f"fold{fold}", "model.npz")
            if not os.path.exists(path):
                raise FileNotFoundError(f"{name} {folder}: {path} is missing (fold {fold} of {K})")
            net, meta = load_model(path)
            config = meta.get("train_config") or {}
            held = config.get("hold_out")
            if held is None:
                raise ValueError(f"{name} {folder}: {path} was trained without --hold-out")
            try:
                same = parse_fold(held) == (fold, K)
            except ValueError:
                same = False
            if not same or config.get("split", "train") != "train":
                raise ValueError(f"{name} {folder}: {path} was trained with --hold-out {held} on --split "
                                 f"{config.get('split')}, expected --hold-out {fold}/{K} on --split train")
            if like is not None:
                if net.num_classes != like.num_classes:
                    raise ValueError(f"{name} {folder}: {path} has {net.num_classes} classes, the model "
                                     f"{like.num_classes}")
                net.input_scale, net.test_flip = like.input_scale, like.test_flip
            self.nets.append(net)

    def __len__(self):
        return len(self.nets)

    def probs(self, i, image):
        from ..predict import predict_probs

        return predict_probs(self.nets[int(i) % len(self.nets)], image)
