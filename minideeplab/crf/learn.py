"""Learning the fully connected CRF's weights and label compatibilities from data.

The CRF is a log-linear model p(y | x, w); here it is learned as CRF-as-RNN does (Zheng et
al., ICCV 2015): T mean-field iterations from a classifier's probabilities P give beliefs Q,
and the parameters (w_bilateral, w_gaussian and a full compatibility matrix mu) minimise the
pixel cross-entropy of Q against the ground truth, by Adam on random crops, with the gradients
of :func:`minideeplab.crf.dense_crf_backward`. The cross-entropy punishes a confidently wrong
pixel without bound, and a smoothing CRF makes wrong regions confidently wrong, so it can learn
to switch smoothing off while it still raises the accuracy; ``loss="expected_error"``
maximises sum_i Q_i(y_i) instead (the accuracy of a labelling drawn from Q, bounded per pixel).
A learned mu can stop a frequent class from swallowing a rare one it often borders
(mu(cow, grass) small: "cows may sit on grass").

:func:`learn_crf` keeps the parameters that score best on a validation set (full images,
``dense_crf`` with the learned compatibility), choosing the iteration count among
``val_n_iters`` and the stopping point among the validation checks, the starting parameters
(step 0) included: learning that does not beat its start on validation returns the start; its state is written
atomically every ``checkpoint_every`` steps and ``resume=True`` continues bit for bit.
"""
from __future__ import annotations

import os

import numpy as np

from .._io import read_npz, save_npz
from ..metrics import confusion_matrix, summarize
from ..nn.crf_layer import DenseCRF
from ..optim import Adam
from .dense import dense_crf
from .softmax import PROB_CLIP

DEFAULTS = dict(w_bilateral=4.0, theta_alpha=121.0, theta_beta=5.0, w_gaussian=3.0, theta_gamma=3.0)


def crf_cross_entropy(Q, label, ignore_index=255, class_weights=None):
    """Mean -log Q(y) over the non-void pixels, and its gradient with respect to Q.

    Q : (L, H, W) beliefs; label : (H, W); class_weights : None or (L,) weights w_c >= 0, the
    loss then being sum_i w_{y_i} (-log Q_i(y_i)) / sum_i w_{y_i} (as in the trainer's
    class-balanced loss). Returns ``(loss, dQ)``."""
    w, ys, xs, y, total = _weighted_pixels(Q, label, ignore_index, class_weights)
    dQ = np.zeros_like(Q)
    if total <= 0:
        return 0.0, dQ
    q = np.maximum(Q[y, ys, xs], 1e-12)
    dQ[y, ys, xs] = -w / (q * total)
    return float((w * -np.log(q)).sum() / total), dQ


def crf_expected_error(Q, label, ignore_index=255, class_weights=None):
    """1 - the mean Q(y) over the non-void pixels (the expected error of a labelling drawn from
    Q), and its gradient with respect to Q.

    Q : (L, H, W) beliefs; label : (H, W); class_weights : None or (L,) weights w_c >= 0, the
    loss then being 1 - sum_i w_{y_i} Q_i(y_i) / sum_i w_{y_i}. A confidently wrong pixel
    costs 1, not -log Q. Returns ``(loss, dQ)``."""
    w, ys, xs, y, total = _weighted_pixels(Q, label, ignore_index, class_weights)
    dQ = np.zeros_like(Q)
    if total <= 0:
        return 0.0, dQ
    dQ[y, ys, xs] = -w / total
    return float(1.0 - (w * Q[y, ys, xs]).sum() / total), dQ


def _weighted_pixels(Q, label, ignore_index, class_weights):
    """The non-void pixels' weights, positions, labels and total weight (the inputs checked)."""
    if getattr(Q, "ndim", 0) != 3 or getattr(label, "shape", None) != Q.shape[1:]:
        raise ValueError(f"Q must be (L, H, W) and label (H, W), got shapes {getattr(Q, 'shape', None)} and "
                         f"{getattr(label, 'shape', None)}")
    if not np.all(np.isfinite(Q)):
        raise ValueError("Q holds NaN or infinite values")
    if not np.issubdtype(label.dtype, np.integer):
        raise TypeError(f"label must hold integer labels, got dtype {label.dtype}")
    bad = (label != ignore_index) & ((label < 0) | (label >= Q.shape[0]))
    if bad.any():
        raise ValueError(f"label values must be in [0, {Q.shape[0]}) or {ignore_index}, got {label[bad][0]}")
    if class_weights is not None:
        class_weights = np.asarray(class_weights, np.float64)
        if class_weights.shape != (Q.shape[0],) or not np.all(np.isfinite(class_weights)) or (class_weights < 0).any():
            raise ValueError(f"class_weights must be None or ({Q.shape[0]},) finite weights >= 0, "
                             f"got shape {class_weights.shape}")
    valid = label != ignore_index
    ys, xs = np.nonzero(valid)
    y = label[valid]
    w = np.ones(y.size) if class_weights is None else class_weights[y]
    return w, ys, xs, y, float(w.sum())


LOSSES = {"cross_entropy": crf_cross_entropy, "expected_error": crf_expected_error}
"""learn_crf's losses by name: each ``f(Q, label, class_weights=...) -> (loss, dQ)``."""


def _crop(rng, image, probs, label, size):
    H, W = label.shape
    h, w = min(size, H), min(size, W)
    y, x = int(rng.integers(H - h + 1)), int(rng.integers(W - w + 1))
    return image[y:y + h, x:x + w], probs[:, y:y + h, x:x + w], label[y:y + h, x:x + w]


def score_params(samples, params, num_classes):
    """``summarize`` of ``dense_crf`` with ``params`` over ``(image, probs, label)`` samples."""
    conf = np.zeros((num_classes, num_classes), np.int64)
    params = dict(params, compat=np.asarray(params.get("compat", "potts")) if not isinstance(
        params.get("compat", "potts"), str) else "potts")
    for image, probs, label in samples:
        p = np.asarray(probs, np.float32)
        p = p / p.sum(axis=0)  # probabilities kept as float16 sum to one only to ~1e-3
        conf += confusion_matrix(label, dense_crf(image, p, **params).argmax(0), num_classes)
    return summarize(conf)


def learn_crf(train, num_classes, *, val=None, steps=1000, crop=128, lr=0.02, n_iter=5, init=None,
              val_every=250, val_n_iters=(5, 10), metric="class_avg_acc", seed=0, checkpoint=None,
              checkpoint_every=100, resume=False, stop_after=None, progress=True, method="lattice",
              class_weights=None, potts_prior=0.0, fixed=(), loss="cross_entropy", average=None, data_id=None,
              batch=1, learn_bias=False, per_kernel=False):
    """Learn the dense CRF's weights and a full compatibility matrix.

    Parameters
    ----------
    train, val : sequences of ``(image (H, W, 3) uint8, probs (L, H, W), label (H, W))``
    num_classes : L
    steps : Adam steps, each on ``batch`` random ``crop`` x ``crop`` windows of random training images
        (the gradient is their mean; a larger batch gives a less noisy path at ``batch`` times the cost)
    lr : Adam's learning rate; n_iter : mean-field iterations while learning
    init : dense CRF parameters to start from (``w_bilateral``, ``theta_*``, ``w_gaussian``;
        the thetas stay fixed); the compatibility starts at Potts
    val_every, val_n_iters, metric : when and how the validation set picks the result
    class_weights : None or (L,) per-class weights of the cross-entropy (e.g. median frequency),
        to learn for the class-average accuracy rather than the pixel accuracy
    batch : crops per step; each crop's loss is a mean over its own labelled pixels, so every crop
        weighs the same in the step (a small or mostly void one as much as a full one)
    loss : "cross_entropy" (-log Q(y), the log-linear model's likelihood) or "expected_error"
        (1 - Q(y): bounded, so confidently wrong pixels do not dominate; see the module's notes).
        Its gradient vanishes where Q is saturated, so start it from a working CRF (``init``, e.g.
        the cross-validated one): from zero kernel weights on soft unaries it can settle on one
        class everywhere, a flat region it does not leave
    potts_prior : lambda >= 0 of a Gaussian prior that keeps mu near the Potts matrix: the loss
        gains lambda / 2 * sum_ab (mu_ab - [a != b])^2 (a few dozen images cannot pin down
        L^2 compatibilities alone)
    average : None, or the decay d in (0, 1) of a moving average of the parameters (each step
        avg <- d avg + (1 - d) params, from the start): the validation checks and the result use
        the average, whose path is far less noisy than that of one-crop steps
    learn_bias : also learn a per-label bias b (``dense_crf``'s ``bias``, a label prior added to the
        log-probabilities; the weight of the log-linear feature [x_i = l]), from zero. With
        class weights it moves the labels' balance towards the weighted loss, as fine-tuning the
        network's last bias would
    per_kernel : learn one compatibility matrix per kernel, a (2, L, L) pair (bilateral, Gaussian;
        CRF-as-RNN's per-kernel matrices, pydensecrf's per-pairwise ``compat``), both from Potts,
        rather than one shared by the kernels: a class may then keep the Gaussian kernel's local
        smoothing and refuse the bilateral kernel's colour-driven spread, or the reverse
    fixed : names among ``w_bilateral``, ``w_gaussian``, ``compat`` kept at their starting values
        (e.g. the cross-validated kernel weights, learning mu alone)
    checkpoint : path of the state file (npz), written every ``checkpoint_every`` steps; with
        ``resume=True`` an existing one is continued
    stop_after : run at most this many steps in this call (a time budget), then checkpoint and
        return; a later call with ``resume=True`` and the same arguments continues bit for bit
    data_id : None or a string naming the learning and validation data (e.g. the split); stored
        in the state with the other settings, and a state written with other settings (only
        ``steps`` and ``stop_after`` may change) is refused on resume

    Returns
    -------
    dict: ``params`` (keyword arguments for ``dense_crf``, ``compat`` an (L, L) list ((2, L, L) with
    ``per_kernel``), ``bias`` an (L,)
    list with ``learn_bias``), ``score``
    (the validation metric; None without ``val``), ``step``, ``history`` (step, loss, validation
    scores), ``mu`` (the final learned matrix, (2, L, L) with ``per_kernel``; its moving average
    with ``average``)
    """
    from tqdm.auto import tqdm

    if len(train) == 0:
        raise ValueError("train is empty")
    for name, v in (("steps", steps), ("crop", crop), ("val_every", val_every), ("checkpoint_every", checkpoint_every),
                    ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, (int, np.integer))
                                   or stop_after < 1):
        raise ValueError(f"stop_after must be None or a positive int, got {stop_after!r}")
    if isinstance(potts_prior, bool) or not isinstance(potts_prior, (int, float, np.integer, np.floating)) \
            or not np.isfinite(potts_prior) or potts_prior < 0:
        raise ValueError(f"potts_prior must be a finite number >= 0, got {potts_prior!r}")
    if class_weights is not None:
        class_weights = np.asarray(class_weights, np.float64)
        if class_weights.shape != (num_classes,) or not np.all(np.isfinite(class_weights)) \
                or (class_weights < 0).any():
            raise ValueError(f"class_weights must be None or ({num_classes},) finite weights >= 0, "
                             f"got shape {class_weights.shape}")
    fixed = (fixed,) if isinstance(fixed, str) else tuple(fixed)
    if any(k not in ("w_bilateral", "w_gaussian", "compat") for k in fixed):
        raise ValueError(f"fixed must name parameters among w_bilateral, w_gaussian, compat, got {fixed!r}")
    if average is not None and (isinstance(average, bool) or not isinstance(average, (float, np.floating))
                                or not 0 < average < 1):
        raise ValueError(f"average must be None or a float in (0, 1), got {average!r}")
    for name, v in (("learn_bias", learn_bias), ("per_kernel", per_kernel)):
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {v!r}")
    if data_id is not None and not isinstance(data_id, str):
        raise TypeError(f"data_id must be None or a string, got {type(data_id).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if metric not in ("class_avg_acc", "global_acc", "mean_iou"):
        raise ValueError(f"metric must be class_avg_acc, global_acc or mean_iou, got {metric!r}")
    start = dict(DEFAULTS, **(init or {}))
    thetas = {k: float(start[k]) for k in ("theta_alpha", "theta_beta", "theta_gamma")}
    potts = 1.0 - np.eye(num_classes)
    layer = DenseCRF(num_classes, n_iter, start["w_bilateral"], start["w_gaussian"], method=method,
                     compat=np.stack([potts, potts]) if per_kernel else potts,
                     bias=np.zeros(num_classes) if learn_bias else None, **thetas)
    opt = Adam(layer.params, lr)
    rng = np.random.default_rng(seed)
    state = dict(step=0, history=[], best=None)
    settings = dict(crop=int(crop), lr=float(lr), n_iter=int(n_iter), seed=int(seed), method=method, loss=loss,
                    metric=metric, val_every=int(val_every), val_n_iters=[int(n) for n in val_n_iters],
                    potts_prior=float(potts_prior), fixed=sorted(fixed), init=dict(sorted(start.items())),
                    class_weights=None if class_weights is None else class_weights.tolist(), data=data_id,
                    average=None if average is None else float(average), batch=int(batch),
                    learn_bias=bool(learn_bias), per_kernel=bool(per_kernel))
    avg = {k: v.copy() for k, v in layer.params.items()}  # the moving average (unused without `average`)
    if resume and checkpoint and os.path.exists(checkpoint):
        arrays, meta = read_npz(checkpoint)
        # states from before `batch`, `learn_bias` and `per_kernel`: one crop a step, no bias, one mu
        old = dict({"batch": 1, "learn_bias": False, "per_kernel": False}, **meta.get("settings", settings))
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if changed:
            raise ValueError(f"checkpoint {checkpoint} was written with other settings ("
                             + ", ".join(f"{k}: {old.get(k)!r}, now {settings.get(k)!r}" for k in changed)
                             + "); resume with the same ones or remove it")
        for k in layer.params:
            layer.params[k][...] = arrays[f"param/{k}"]
            avg[k][...] = arrays.get(f"avg/{k}", arrays[f"param/{k}"])
        opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        rng.bit_generator.state = meta["rng"]
        state = dict(step=meta["step"], history=meta["history"], best=meta["best"])

    def current(n):
        p = avg if average else layer.params
        out = dict(n_iter=n, w_bilateral=max(float(p["w_bilateral"]), 0.0),
                   w_gaussian=max(float(p["w_gaussian"]), 0.0), compat=p["compat"].tolist(), **thetas)
        if learn_bias:
            out["bias"] = p["bias"].tolist()
        return out

    def save():
        arrays = {f"param/{k}": v for k, v in layer.params.items()}
        arrays.update({f"opt/{k}": v for k, v in opt.state_dict().items()})
        if average:
            arrays.update({f"avg/{k}": v for k, v in avg.items()})
        save_npz(checkpoint, arrays, dict(step=state["step"], history=state["history"], best=state["best"],
                                          rng=rng.bit_generator.state, settings=settings))

    def check(record):
        for n in val_n_iters:
            s = score_params(val, current(n), num_classes)[metric]
            record[f"val_{n}"] = s
            if state["best"] is None or s > state["best"]["score"]:
                state["best"] = {"score": s, "step": state["step"], "params": current(n)}

    if val is not None and state["step"] == 0:  # the start is a candidate too: learning must beat it on val
        start_record = {"step": 0}
        check(start_record)
        state["history"].append(start_record)
    bar = tqdm(total=steps, initial=state["step"], desc="learn-crf", disable=not progress)
    last = steps if stop_after is None else min(steps, state["step"] + int(stop_after))
    while state["step"] < last:
        value, grads = 0.0, None
        for _ in range(batch):  # the mean loss and gradient of `batch` crops
            i = int(rng.integers(len(train)))
            image, probs, label = _crop(rng, *train[i], crop)
            unary = -np.log(np.maximum(np.asarray(probs, np.float64), PROB_CLIP))
            Q = layer.forward(-unary[None], image[None])[0]  # the layer's unary is -scores
            v, dQ = LOSSES[loss](Q, label, class_weights=class_weights)
            layer.backward(dQ[None])
            value += v / batch
            grads = {k: g / batch for k, g in layer.grads.items()} if grads is None else \
                {k: grads[k] + g / batch for k, g in layer.grads.items()}
        layer.grads.update(grads)
        if potts_prior:  # the prior's gradient lambda (mu - Potts)
            layer.grads["compat"] += potts_prior * (layer.params["compat"] - potts)
        for k in fixed:
            layer.grads[k] = np.zeros_like(layer.grads[k])
        opt.step(layer.grads)
        for k in ("w_bilateral", "w_gaussian"):  # keep the kernel weights >= 0 (projected step)
            np.maximum(layer.params[k], 0.0, out=layer.params[k])
        if average:
            for k, v in layer.params.items():
                avg[k] *= average
                avg[k] += (1 - average) * v
        state["step"] += 1
        record = {"step": state["step"], "loss": value}
        if val is not None and (state["step"] % val_every == 0 or state["step"] == steps):
            check(record)
        state["history"].append(record)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}", w1=f"{float(layer.params['w_bilateral']):.2f}",
                        w2=f"{float(layer.params['w_gaussian']):.2f}")
        if checkpoint and (state["step"] % checkpoint_every == 0 or state["step"] == last):
            save()
    bar.close()
    best = state["best"] or {"score": None, "step": state["step"], "params": current(n_iter)}
    return {"params": best["params"], "score": best["score"], "step": best["step"], "history": state["history"],
            "mu": (avg if average else layer.params)["compat"].copy()}
