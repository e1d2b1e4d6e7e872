"""Held-out unaries of the training images, from k-fold nets.

A net scores its own training images far better than new ones (on MSRC the shipped width-1/4
net: 94% of their pixels right against 75% on validation images), so a CRF learned on those
unaries learns to trust them too much. K nets trained with ``minideeplab train --hold-out I/K``
(net I never sees the training images at positions I, I + K, I + 2K, ...) give every training
image a unary from a net that did not train on it: what ``learn-crf --folds DIR`` learns from.

    folder/fold0/model.npz, folder/fold1/model.npz, ..., folder/fold{K-1}/model.npz
"""
from __future__ import annotations

import os


class FoldNets:
    """The K fold nets of ``folder``; ``like``: a model whose test-time setting (input scales
    and mirror) they take, so that their unaries are computed as the other model's are.

    ``FoldNets(folder, like).probs(i, image)``: (L, H, W) float32 probabilities of training image
    ``i`` (its position in MSRC's training split) by the net that left it out.
    """

    def __init__(self, folder, like=None):
        from ..models import load_model

        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"folds: no folder {folder}")
        K = sum(1 for d in os.listdir(folder) if d.startswith("fold") and d[4:].isdigit())
        if K < 2:
            raise ValueError(f"folds: expected {folder}/fold0/model.npz, fold1/model.npz, ... (at least two), "
                             f"found {K} fold folders")
        self.nets = []
        for fold in range(K):
            path = os.path.join(folder, f"fold{fold}", "model.npz")
            if not os.path.exists(path):
                raise FileNotFoundError(f"folds: {path} is missing (fold{fold} of {K})")
            net, meta = load_model(path)
            held = (meta.get("train_config") or {}).get("hold_out")
            if held != f"{fold}/{K}":
                raise ValueError(f"folds: {path} was trained with --hold-out {held}, expected {fold}/{K}")
            if like is not None:
                if net.num_classes != like.num_classes:
                    raise ValueError(f"folds: {path} has {net.num_classes} classes, the model {like.num_classes}")
                net.input_scale, net.test_flip = like.input_scale, like.test_flip
            self.nets.append(net)

    def __len__(self):
        return len(self.nets)

    def probs(self, i, image):
        from ..predict import predict_probs

        return predict_probs(self.nets[int(i) % len(self.nets)], image)
