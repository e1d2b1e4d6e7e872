"""Inference: a trained model's class scores for one image, and its scores over a dataset.

DeepLab's test-time recipe: preprocess the whole image, pad it to ``8k + 1``, run the net,
zoom the stride-8 scores by 8 (bilinear, aligned corners) and crop them to the image.
Nothing here trains; the trainer lives in :mod:`minideeplab.train`.
"""
from __future__ import annotations

import numpy as np

from .backend import asnumpy, get_array_module
from .datasets.transforms import check_image, pad_to_multiple, preprocess, resize_image
from .models.deeplab import check_scales
from .nn import functional as F
from .nn.layers import no_grad


def predict_scores(model, image, scale=None, flip=None):
    """Class scores at full resolution for one image, DeepLab's test-time way.

    The image is rescaled by ``scale`` (default: the model's ``input_scale``, 1 for the
    paper's models), preprocessed and padded to ``8k + 1``; the stride-8 scores are
    zoomed by 8 with bilinear interpolation (aligned corners), cropped to the (rescaled)
    image and, if it was rescaled, resized bilinearly back to ``(H, W)``. A sequence of
    scales averages the scores obtained at each. With ``flip`` (default: the model's
    ``test_flip``, False for the paper's models) the left-right mirrored image is run too and
    its mirrored scores enter the average.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB
    scale : float in (0, 4], a sequence of them, or None
    flip : bool or None

    Returns
    -------
    scores : (L, H, W) float32 NumPy array (pre-softmax)
    """
    check_image(image)
    scale = check_scales(getattr(model, "input_scale", 1.0) if scale is None else scale)
    flip = getattr(model, "test_flip", False) if flip is None else flip
    if not isinstance(flip, (bool, np.bool_)):
        raise TypeError(f"flip must be True, False or None, got {flip!r}")
    scales = scale if isinstance(scale, tuple) else (scale,)
    runs = [_scores_at(model, image, s) for s in scales]
    if flip:
        mirrored = np.ascontiguousarray(image[:, ::-1])
        runs += [_scores_at(model, mirrored, s)[:, :, ::-1] for s in scales]
    if len(runs) == 1:
        return runs[0]
    return (sum(runs) / len(runs)).astype(np.float32)


def _scores_at(model, image, scale):
    """:func:`predict_scores` at one input scale: (L, H, W) float32."""
    model.eval()
    H, W = image.shape[:2]
    if scale != 1.0:
        image = resize_image(image, scale)
    h, w = image.shape[:2]  # the rescaled image
    x = pad_to_multiple(preprocess(image))
    first_param = next(iter(model.params.values()))
    xp = get_array_module(first_param)
    with no_grad():  # no caches for a backward pass: one layer's arrays at a time
        coarse = model.forward(xp.asarray(x[None].astype(first_param.dtype)))  # (1, L, h', w'), stride 8
    up, _ = F.interp_forward(coarse, (x.shape[1], x.shape[2]))
    up = up[:, :, :h, :w]
    if (h, w) != (H, W):
        up, _ = F.interp_forward(xp.ascontiguousarray(up), (H, W))
    return asnumpy(up[0]).astype(np.float32)


def predict_probs(model, image, scale=None, flip=None):
    """Softmax of :func:`predict_scores`: ``(L, H, W)`` probabilities."""
    return F.softmax(predict_scores(model, image, scale, flip), axis=0)


def evaluate(model, dataset, scale=None, progress=False, flip=None):
    """Metrics of the model's argmax labelling over ``dataset`` (pairs ``(image, label)``),
    with :func:`predict_scores`'s ``scale`` and ``flip``.

    Returns
    -------
    dict from :func:`minideeplab.metrics.summarize` (global_acc, class_avg_acc, mean_iou, ...)
    """
    from tqdm.auto import tqdm

    from .metrics import confusion_matrix, summarize

    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    L = model.num_classes
    conf = np.zeros((L, L), np.int64)
    for i in tqdm(range(len(dataset)), desc="evaluate", disable=not progress, leave=False):
        image, label = dataset[i]
        conf += confusion_matrix(label, predict_scores(model, image, scale, flip).argmax(0), L)
    return summarize(conf)
