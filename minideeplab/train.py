"""DeepLab's training recipe: crops, mirroring, SGD with multipliers, checkpoints, resume.

One ``numpy.random.Generator`` drives everything random (which images, crops, flips,
dropout masks) and is saved in every checkpoint with the weights, the momentum and
the iteration, so a run that is killed and resumed produces exactly the same losses
as one that was not.
"""
from __future__ import annotations

import io
import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .backend import asnumpy, get_array_module
from .datasets.transforms import pad_to_multiple, preprocess, random_crop_mirror
from .models.base import atomic_write_bytes
from .nn import functional as F
from .optim import SGD, Adam, deeplab_multipliers, make_schedule


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are DeepLab-LargeFOV's on PASCAL VOC."""

    crop_size: int = 321
    batch_size: int = 20
    iter_size: int = 1          # gradient accumulation (Caffe's iter_size)
    max_iter: int = 6000
    base_lr: float = 1e-3
    lr_policy: str = "step"     # "step" (x gamma every step_size), "poly" or "fixed"
    step_size: int = 2000
    gamma: float = 0.1
    power: float = 0.9
    momentum: float = 0.9
    weight_decay: float = 5e-4
    mirror: bool = True
    scales: tuple = ()          # e.g. (0.5, 1.5): random rescale range; () = off
    seed: int = 0
    snapshot_every: int = 1000  # iterations between checkpoints (0 = only at the end)
    normalization: str = "valid"
    classifier_lr_mult: float = 10.0  # fc8's lr multiplier (x2 for its bias); 10 in DeepLab
    optimizer: str = "sgd"      # "sgd" (Caffe's, DeepLab's) or "adam" (momentum = beta1)
    extra: dict = field(default_factory=dict)

    def validate(self):
        for name in ("crop_size", "batch_size", "iter_size", "max_iter"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if self.base_lr <= 0:
            raise ValueError(f"base_lr must be > 0, got {self.base_lr}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.scales and (len(self.scales) != 2 or not 0 < self.scales[0] <= self.scales[1]):
            raise ValueError(f"scales must be () or (low, high) with 0 < low <= high, got {self.scales}")
        make_schedule(self.lr_policy, self.base_lr, max_iter=self.max_iter, power=self.power,
                      step_size=self.step_size, gamma=self.gamma)
        return self


def _resize(image, label, s):
    """Rescale an RGB image (bilinear) and its labels (nearest) by ``s``."""
    from PIL import Image

    H, W = label.shape
    h, w = max(1, int(round(H * s))), max(1, int(round(W * s)))
    img = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    lab = np.asarray(Image.fromarray(label).resize((w, h), Image.NEAREST))
    return img, lab


class Trainer:
    """Train ``model`` on ``dataset`` (a sequence of ``(image, label)`` pairs).

    Parameters
    ----------
    model : a DeepLab model (its dropout layers are reseeded from the trainer's RNG)
    dataset : ``len()`` and ``[i] -> (image (H, W, 3) uint8 RGB, label (H, W) uint8)``
    config : :class:`TrainConfig`
    out_dir : where ``checkpoint.npz`` and ``train_log.json`` go (None: no files)
    target_fn : optional ``(index, image, label, scores) -> label`` that replaces
        the training target per image (weak supervision); ``scores`` are the
        current unbiased scores at the label's resolution, ``(L, h, w)``.
    """

    def __init__(self, model, dataset, config=None, out_dir=None, target_fn=None):
        self.model, self.dataset = model, dataset
        self.config = (config or TrainConfig()).validate()
        if len(dataset) == 0:
            raise ValueError("dataset is empty")
        self.out_dir = out_dir
        self.target_fn = target_fn
        self.rng = np.random.default_rng(self.config.seed)
        model.reseed(self.rng)
        lr_mult, decay_mult = deeplab_multipliers(model.params, self.config.classifier_lr_mult)
        c = self.config
        if c.optimizer == "adam":
            self.optimizer = Adam(model.params, c.base_lr, (c.momentum, 0.999), 1e-8, c.weight_decay,
                                  lr_mult, decay_mult)
        else:
            self.optimizer = SGD(model.params, c.base_lr, c.momentum, c.weight_decay, lr_mult, decay_mult)
        self.schedule = make_schedule(c.lr_policy, c.base_lr, max_iter=c.max_iter, power=c.power,
                                      step_size=c.step_size, gamma=c.gamma)
        self.iteration = 0
        self.log: list[dict] = []

    # ----------------------------------------------------------------- data
    def _sample(self):
        c = self.config
        xs, ys, idx = [], [], []
        for _ in range(c.batch_size):
            i = int(self.rng.integers(len(self.dataset)))
            image, label = self.dataset[i]
            if c.scales:
                image, label = _resize(image, label, self.rng.uniform(*c.scales))
            x, y = random_crop_mirror(preprocess(image), label, c.crop_size, self.rng, c.mirror)
            xs.append(x)
            ys.append(y)
            idx.append(i)
        dtype = next(iter(self.model.params.values())).dtype
        xp = get_array_module(next(iter(self.model.params.values())))
        return xp.asarray(np.stack(xs).astype(dtype)), np.stack(ys), idx

    # ----------------------------------------------------------------- one iteration
    def step(self):
        """One SGD iteration (``iter_size`` forward/backward passes); returns the mean loss."""
        c, model = self.config, self.model
        model.train()
        grads, losses = None, []
        for _ in range(c.iter_size):
            x, labels, idx = self._sample()
            scores = model.forward(x)
            small = F.shrink_labels(labels, scores.shape[2:])
            if self.target_fn is not None:
                small = np.stack([self.target_fn(i, None, small[k], asnumpy(scores[k]))
                                  for k, i in enumerate(idx)])
            xp = get_array_module(scores)
            loss, cache = F.softmax_cross_entropy_forward(scores, xp.asarray(small.astype(np.int64)),
                                                          normalization=c.normalization)
            model.backward(F.softmax_cross_entropy_backward(cache))
            if grads is None:
                grads = {k: v.copy() for k, v in model.grads.items()}
            else:
                for k, v in model.grads.items():
                    grads[k] += v
            losses.append(loss)
        if c.iter_size > 1:  # Caffe's SGDSolver::Normalize
            for v in grads.values():
                v *= 1.0 / c.iter_size
        lr = self.schedule(self.iteration)
        self.optimizer.step(grads, lr)
        self.iteration += 1
        loss = float(np.mean(losses))
        if not np.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at iteration {self.iteration}; lower base_lr")
        self.log.append({"iter": self.iteration, "loss": loss, "lr": lr})
        return loss

    def fit(self, max_iter=None, progress=True, callback=None):
        """Train until ``max_iter`` (default: the config's), checkpointing on the way.

        ``callback(trainer)`` runs after every iteration, before any checkpoint, so what
        it adds to ``trainer.log[-1]`` (e.g. a validation score) is saved with it.
        Returns the list of losses of the iterations run by this call.
        """
        from tqdm.auto import tqdm

        end = self.config.max_iter if max_iter is None else int(max_iter)
        every = self.config.snapshot_every
        losses = []
        bar = tqdm(total=end, initial=self.iteration, disable=not progress, desc="train", unit="it",
                   dynamic_ncols=True)
        t0 = time.perf_counter()
        n_img = 0
        with bar:
            while self.iteration < end:
                loss = self.step()
                losses.append(loss)
                n_img += self.config.batch_size * self.config.iter_size
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.log[-1]['lr']:.2e}",
                                img_s=f"{n_img / (time.perf_counter() - t0):.1f}")
                if callback is not None:
                    callback(self)
                if self.out_dir and ((every and self.iteration % every == 0) or self.iteration == end):
                    self.save_checkpoint()
        return losses

    # ----------------------------------------------------------------- checkpoints
    def checkpoint_path(self):
        if not self.out_dir:
            raise ValueError("out_dir is not set")
        return os.path.join(self.out_dir, "checkpoint.npz")

    def save_checkpoint(self, path=None):
        """Weights, momentum, iteration, RNG state, config and log, written atomically."""
        path = path or self.checkpoint_path()
        meta = {
            "iteration": self.iteration,
            "rng": self.rng.bit_generator.state,
            "config": asdict(self.config),
            "log": self.log,
            "model": getattr(self.model, "variant", type(self.model).__name__),
            "num_classes": getattr(self.model, "num_classes", None),
            "width": getattr(self.model, "width", None),
        }
        arrays = {f"param/{k}": asnumpy(v) for k, v in self.model.params.items()}
        arrays.update(self.optimizer.state_dict())
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        if self.out_dir:
            atomic_write_bytes(os.path.join(self.out_dir, "train_log.json"),
                               json.dumps(self.log, indent=0).encode())
        return path

    def load_checkpoint(self, path=None):
        """Restore everything :meth:`save_checkpoint` wrote; training continues bit-exactly."""
        path = path or self.checkpoint_path()
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(bytes(f["meta"]).decode())
            self.model.load_state_dict({k[6:]: f[k] for k in f.files if k.startswith("param/")})
            self.optimizer.load_state_dict({k: f[k] for k in f.files if k != "meta" and not k.startswith("param/")})
        self.iteration = int(meta["iteration"])
        self.rng.bit_generator.state = meta["rng"]
        self.log = meta["log"]
        return meta

    def resume(self):
        """Load ``out_dir/checkpoint.npz`` if it exists; returns True if it did."""
        if self.out_dir and os.path.exists(self.checkpoint_path()):
            self.load_checkpoint()
            return True
        return False


def read_checkpoint_meta(path):
    with np.load(path, allow_pickle=False) as f:
        return json.loads(bytes(f["meta"]).decode())


def predict_scores(model, image, scale=None):
    """Class scores at full resolution for one image, DeepLab's test-time way.

    The image is rescaled by ``scale`` (default: the model's ``input_scale``, 1 for the
    paper's models), preprocessed and padded to ``8k + 1``; the stride-8 scores are
    zoomed by 8 with bilinear interpolation (aligned corners), cropped to the (rescaled)
    image and, if it was rescaled, resized bilinearly back to ``(H, W)``. A sequence of
    scales averages the scores obtained at each.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB
    scale : float in (0, 4], a sequence of them, or None

    Returns
    -------
    scores : (L, H, W) float32 NumPy array (pre-softmax)
    """
    from .models.deeplab import check_scales

    scale = check_scales(getattr(model, "input_scale", 1.0) if scale is None else scale)
    if isinstance(scale, tuple):
        return (sum(_scores_at(model, image, s) for s in scale) / len(scale)).astype(np.float32)
    return _scores_at(model, image, scale)


def _scores_at(model, image, scale):
    model.eval()
    H, W = image.shape[:2]
    if scale != 1.0:
        image, _ = _resize(image, np.zeros((H, W), np.uint8), scale)
    h, w = image.shape[:2]
    x = pad_to_multiple(preprocess(image))
    dtype = next(iter(model.params.values())).dtype
    xp = get_array_module(next(iter(model.params.values())))
    s = model.forward(xp.asarray(x[None].astype(dtype)))
    up, _ = F.interp_forward(s, (x.shape[1], x.shape[2]))
    up = up[:, :, :h, :w]
    if (h, w) != (H, W):
        up, _ = F.interp_forward(xp.ascontiguousarray(up), (H, W))
    return asnumpy(up[0]).astype(np.float32)


def evaluate(model, dataset, scale=None, progress=False):
    """Scores of the model's argmax labelling over ``dataset`` (pairs ``(image, label)``).

    Returns
    -------
    dict from :func:`minideeplab.metrics.scores` (global_acc, class_avg_acc, mean_iou, ...)
    """
    from tqdm.auto import tqdm

    from .metrics import confusion_matrix, scores

    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    L = model.num_classes
    conf = np.zeros((L, L), np.int64)
    for i in tqdm(range(len(dataset)), desc="evaluate", disable=not progress, leave=False):
        image, label = dataset[i]
        conf += confusion_matrix(label, predict_scores(model, image, scale).argmax(0), L)
    return scores(conf)


def predict_probs(model, image, scale=None):
    """Softmax of :func:`predict_scores`: ``(L, H, W)`` probabilities."""
    return F.softmax(predict_scores(model, image, scale), axis=0)
