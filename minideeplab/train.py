"""DeepLab's training recipe: crops, mirroring, SGD with multipliers, checkpoints, resume.

One ``numpy.random.Generator`` drives everything random (which images, crops, flips,
dropout masks) and is saved in every checkpoint with the weights, the momentum and
the iteration, so a run that is killed and resumed produces exactly the same losses
as one that was not. Inference (``predict_scores``, ``evaluate``) is in
:mod:`minideeplab.predict`.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import denormal
from ._io import (FileFormatError, atomic_write_bytes, file_in_the_way, read_npz, read_npz_meta,
                  remove_stale_temp_files, save_npz)
from ._validate import real_number
from .backend import asnumpy, get_array_module
from .datasets.balance import median_frequency_weights
from .datasets.transforms import MEAN_BGR, color_jitter, preprocess, random_crop_mirror, resize_image_and_label
from .nn import functional as F
from .nn.functional import NORMALIZATIONS
from .optim import SGD, Adam, deeplab_multipliers, make_schedule


CLASS_WEIGHTINGS = ("none", "median-frequency")


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
    color_jitter: float = 0.0   # brightness/contrast/saturation factors in [1 - j, 1 + j]; 0 = off
    class_weighting: str = "none"  # "none" or "median-frequency" (class-balanced loss)
    crf_head: bool = False      # train through a mean-field CRF (minideeplab.crf_head, CRF-as-RNN)
    crf_head_scale: float = 0.5  # the CRF's grid relative to the crop
    crf_head_iters: int = 5     # mean-field iterations in the loop
    crf_head_lr: float = 0.01   # Adam's learning rate for the CRF's weights and compatibilities
    e_step_every: int = 0       # with an EMTargets dataset: iterations between E-steps (0: no E-step)
    strong_per_batch: int = 0   # semi-supervised: this many pixel-labelled images in every batch (0: drawn at random)
    extra: dict = field(default_factory=dict)

    def validate(self):
        for name, low in (("crop_size", 1), ("batch_size", 1), ("iter_size", 1), ("max_iter", 1), ("seed", 0),
                          ("snapshot_every", 0), ("e_step_every", 0), ("strong_per_batch", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        real_number(self.base_lr, "base_lr", 0.0, np.inf, low_open=True, high_open=True)
        real_number(self.momentum, "momentum", 0.0, 1.0, high_open=True)
        real_number(self.weight_decay, "weight_decay", 0.0, np.inf, high_open=True)
        real_number(self.classifier_lr_mult, "classifier_lr_mult", 0.0, np.inf, high_open=True)
        if not isinstance(self.mirror, (bool, np.bool_)):
            raise TypeError(f"mirror must be True or False, got {self.mirror!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        real_number(self.color_jitter, "color_jitter", 0.0, 1.0, high_open=True)
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise ValueError(f"class_weighting must be one of {CLASS_WEIGHTINGS}, got {self.class_weighting!r}")
        if not isinstance(self.crf_head, (bool, np.bool_)):
            raise TypeError(f"crf_head must be True or False, got {self.crf_head!r}")
        real_number(self.crf_head_scale, "crf_head_scale", 0.0, 1.0, low_open=True)
        real_number(self.crf_head_lr, "crf_head_lr", 0.0, np.inf, low_open=True, high_open=True)
        if isinstance(self.crf_head_iters, bool) or not isinstance(self.crf_head_iters, (int, np.integer)) \
                or self.crf_head_iters < 1:
            raise ValueError(f"crf_head_iters must be an int >= 1, got {self.crf_head_iters!r}")
        if self.scales and (len(self.scales) != 2 or not 0 < self.scales[0] <= self.scales[1]):
            raise ValueError(f"scales must be () or (low, high) with 0 < low <= high, got {self.scales}")
        make_schedule(self.lr_policy, self.base_lr, max_iter=self.max_iter, power=self.power,
                      step_size=self.step_size, gamma=self.gamma)
        return self


class Trainer:
    """Train ``model`` on ``dataset`` (a sequence of ``(image, label)`` pairs).

    Parameters
    ----------
    model : a DeepLab model (its dropout layers are reseeded from the trainer's RNG)
    dataset : ``len()`` and ``[i] -> (image (H, W, 3) uint8 RGB, label (H, W) uint8)``
    config : :class:`TrainConfig`
    out_dir : where ``checkpoint.npz`` and ``train_log.json`` go (None: no files); the
        temporary files a killed earlier run left there are removed
        (:func:`minideeplab._io.remove_stale_temp_files`)
    target_fn : optional ``(index, image, label, scores) -> label`` that replaces
        the training target per image (weak supervision); ``scores`` are the
        current unbiased scores at the label's resolution, ``(L, h, w)``.
    crf_init : with ``config.crf_head``, the CRF's starting parameters (``dense_crf``'s keyword
        arguments, e.g. a model's cross-validated ones; default: its defaults)
    data_id : None or a string naming which images ``dataset`` holds when that is not the
        whole split (e.g. ``"hold-out 1/3"``); written into each checkpoint, and a checkpoint
        of other data is refused on resume

    EM, explicitly: when ``dataset`` is a :class:`minideeplab.weak.EMTargets` and
    ``config.e_step_every`` is k > 0, :meth:`fit` runs its E-step (re-estimating the weak
    images' targets with the current model) before iterations 0, k, 2k, ... and the iterations
    in between are M-steps on the cached targets; each E-step's statistics go into the log entry
    of the iteration after it (``"e_step"``), and the targets into the checkpoint.

    With ``config.crf_head`` the loss is that of :class:`minideeplab.crf_head.CRFHead`: the
    net's scores go through a mean-field CRF whose weights and compatibilities are learned
    with the net (their own Adam, ``crf_head_lr``); ``self.head`` holds it.
    """

    def __init__(self, model, dataset, config=None, out_dir=None, target_fn=None, crf_init=None, strong=None,
                 data_id=None):
        if data_id is not None and not isinstance(data_id, str):
            raise TypeError(f"data_id must be None or a string, got {type(data_id).__name__}")
        self.model, self.dataset, self.data_id = model, dataset, data_id
        self.config = (config or TrainConfig()).validate()
        if len(dataset) == 0:
            raise ValueError("dataset is empty")
        self.strong, self.weak = self._groups(strong)
        self.out_dir = out_dir
        if out_dir:
            in_the_way = file_in_the_way(out_dir)
            if in_the_way:  # found now, not after the first snapshot_every iterations
                raise NotADirectoryError(f"out_dir {out_dir}: {in_the_way} is a file, not a folder")
            remove_stale_temp_files(out_dir)
        self.target_fn = target_fn
        from .weak import EMTargets

        self.em = dataset if isinstance(dataset, EMTargets) and self.config.e_step_every else None
        self.em_iteration = None    # the iteration of the last E-step
        if self.em is not None and target_fn is not None:
            raise ValueError("an EMTargets dataset brings its own targets: pass no target_fn")
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
        self.class_weights = None  # (L,) loss weights, or None
        if c.class_weighting == "median-frequency":
            self.class_weights = self._median_frequency(model.num_classes, strong)
        self.head = self.head_optimizer = None
        if c.crf_head:
            from .crf_head import CRFHead

            if target_fn is not None:
                raise ValueError("crf_head needs pixel labels: it cannot be combined with a target_fn (weak supervision)")
            self.head = CRFHead(model.num_classes, c.crf_head_scale, c.crf_head_iters, init=crf_init,
                                class_weights=None if self.class_weights is None else asnumpy(self.class_weights))
            self.head_optimizer = Adam(self.head.params, c.crf_head_lr)

    def _median_frequency(self, num_classes, strong):
        """Median-frequency class weights from the pixel labels this run may see.

        Weak supervision hides the ground truth of its weakly labelled images: with a ``target_fn``
        the dataset still holds it, and an :class:`~minideeplab.weak.EMTargets` dataset shows
        estimates instead, so only the pixel-labelled (``strong``) images count, and a class that
        none of them holds gets the median class's weight, 1, so that EM can teach it. With no
        pixel-labelled image at all (EM-Adapt) there is nothing to count: a ``ValueError``."""
        from .weak import EMTargets

        if self.target_fn is None and not isinstance(self.dataset, EMTargets):
            return median_frequency_weights((self.dataset[i][1] for i in range(len(self.dataset))), num_classes)
        if strong is None:
            strong = getattr(self.dataset, "strong", None) or ()
        seen = sorted(int(i) for i in strong)
        if not seen:
            raise ValueError("class_weighting='median-frequency' needs pixel labels, and this weakly supervised run "
                             "has none (no strong images): use class_weighting='none'")
        return median_frequency_weights((self.dataset[i][1] for i in seen), num_classes, absent=1.0)

    # ----------------------------------------------------------------- data
    def _groups(self, strong):
        """The pixel-labelled and the weakly labelled image indices, sorted, for
        ``strong_per_batch``; ``(None, None)`` when batches are drawn at random."""
        k, n = self.config.strong_per_batch, len(self.dataset)
        if not k:
            return None, None
        if strong is None:
            strong = getattr(self.dataset, "strong", None)  # EMTargets knows its own
        if strong is None:
            raise ValueError("strong_per_batch needs the pixel-labelled images: pass strong= (indices)")
        strong = sorted({int(i) for i in strong})
        if not strong or strong[0] < 0 or strong[-1] >= n:
            raise ValueError(f"strong must hold image indices in [0, {n}), got {len(strong)} indices")
        weak = sorted(set(range(n)) - set(strong))
        if k > self.config.batch_size or (k < self.config.batch_size and not weak):
            raise ValueError(f"strong_per_batch = {k} must be <= batch_size = {self.config.batch_size}, and "
                             f"below it only if some images are weakly labelled ({len(weak)} are)")
        return np.array(strong), np.array(weak)

    def _draw(self, b):
        """The image index of the ``b``-th crop of a batch: from the pixel-labelled images for the
        first ``strong_per_batch`` crops and from the others after them, else from all images."""
        if self.strong is None:
            return int(self.rng.integers(len(self.dataset)))
        group = self.strong if b < self.config.strong_per_batch else self.weak
        return int(group[self.rng.integers(len(group))])

    def _sample(self):
        c = self.config
        xs, ys, idx = [], [], []
        for b in range(c.batch_size):
            i = self._draw(b)
            image, label = self.dataset[i]
            if c.scales:
                image, label = resize_image_and_label(image, label, self.rng.uniform(*c.scales))
            if c.color_jitter:  # draws only when on: runs without it keep their random stream
                image = color_jitter(image, self.rng, c.color_jitter)
            x, y = random_crop_mirror(preprocess(image), label, c.crop_size, self.rng, c.mirror)
            xs.append(x)
            ys.append(y)
            idx.append(i)
        dtype = next(iter(self.model.params.values())).dtype
        xp = get_array_module(next(iter(self.model.params.values())))
        return xp.asarray(np.stack(xs).astype(dtype)), np.stack(ys), idx

    # ----------------------------------------------------------------- one iteration
    def step(self):
        """One SGD iteration (``iter_size`` forward/backward passes); returns the mean loss.

        It computes in the caller's floating-point mode; :meth:`fit` turns flush-to-zero on
        around its loop."""
        c, model = self.config, self.model
        model.train()
        grads, head_grads, losses = None, None, []
        for _ in range(c.iter_size):
            x, labels, idx = self._sample()
            scores = model.forward(x)
            if self.head is not None:
                losses.append(self._head_pass(x, scores, labels))
                grads = _accumulate(grads, model.grads)
                head_grads = _accumulate(head_grads, self.head.grads)
                continue
            small = F.shrink_labels(labels, scores.shape[2:])
            if self.target_fn is not None:
                small = np.stack([self.target_fn(i, None, small[k], asnumpy(scores[k]))
                                  for k, i in enumerate(idx)])
            xp = get_array_module(scores)
            loss, cache = F.softmax_cross_entropy_forward(scores, xp.asarray(small.astype(np.int64)),
                                                          normalization=c.normalization,
                                                          class_weights=self.class_weights)
            model.backward(F.softmax_cross_entropy_backward(cache), input_grad=False)
            grads = _accumulate(grads, model.grads)
            losses.append(loss)
        if c.iter_size > 1:  # Caffe's SGDSolver::Normalize
            for v in list(grads.values()) + list((head_grads or {}).values()):
                v *= 1.0 / c.iter_size
        lr = self.schedule(self.iteration)
        self.optimizer.step(grads, lr)
        if self.head is not None:
            self.head_optimizer.step(head_grads)
            for k in ("w_bilateral", "w_gaussian"):  # kernel weights stay >= 0 (a projected step)
                np.maximum(self.head.params[k], 0.0, out=self.head.params[k])
        self.iteration += 1
        loss = float(np.mean(losses))
        if not np.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at iteration {self.iteration}; lower base_lr")
        self.log.append({"iter": self.iteration, "loss": loss, "lr": lr})
        return loss

    def _head_pass(self, x, scores, labels):
        """Loss through the CRF head, and the backward pass into the net; returns the loss."""
        xp = get_array_module(scores)
        bgr = asnumpy(x).transpose(0, 2, 3, 1) + np.asarray(MEAN_BGR, np.float32)
        loss = self.head.forward(asnumpy(scores), bgr[..., ::-1], labels)
        dscores = xp.asarray(self.head.backward().astype(scores.dtype))
        self.model.backward(dscores, input_grad=False)
        return loss

    def fit(self, max_iter=None, progress=True, callback=None, flush_denormal=True):
        """Train until ``max_iter`` (default: the config's), checkpointing on the way.

        ``callback(trainer)`` runs after every iteration, before any checkpoint, so what
        it adds to ``trainer.log[-1]`` (e.g. a validation score) is saved with it.
        ``flush_denormal``: run in the CPU's flush-to-zero mode (:mod:`minideeplab.denormal`; x86-64
        Linux), as the command line does, so that a trained net's tiny products cost no microcode
        and a run resumed in a notebook computes in the same mode as on the command line; the
        previous mode is put back on return. Switching restarts the BLAS and kernel threads: with
        other threads computing meanwhile (a training in a background thread), pass False.
        Returns the list of losses of the iterations run by this call.
        """
        if not isinstance(flush_denormal, bool):
            raise TypeError(f"flush_denormal must be True or False, got {flush_denormal!r}")
        with denormal.flushing(flush_denormal):
            return self._fit(max_iter, progress, callback)

    def _fit(self, max_iter, progress, callback):
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
                e_step = None
                if self.em is not None and self.iteration % self.config.e_step_every == 0 \
                        and self.em_iteration != self.iteration:
                    e_step = dict(self.em.e_step(self.model), iteration=self.iteration)
                    self.em_iteration = self.iteration
                loss = self.step()
                if e_step is not None:
                    self.log[-1]["e_step"] = e_step
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
        if self.data_id is not None:
            meta["data_id"] = self.data_id
        if self.em is not None:
            meta["em"] = {"rounds": self.em.rounds, "iteration": self.em_iteration}
        arrays = {f"param/{k}": asnumpy(v) for k, v in self.model.params.items()}
        arrays.update(self.optimizer.state_dict())
        if self.head is not None:
            arrays.update({f"crf/param/{k}": np.asarray(v) for k, v in self.head.params.items()})
            arrays.update({f"crf/opt/{k}": v for k, v in self.head_optimizer.state_dict().items()})
        if self.em is not None:
            arrays.update({f"em/{k}": v for k, v in self.em.state().items()})
        save_npz(path, arrays, meta)
        if self.out_dir:
            atomic_write_bytes(os.path.join(self.out_dir, "train_log.json"),
                               json.dumps(self.log, indent=0).encode())
        return path

    def load_checkpoint(self, path=None):
        """Restore everything :meth:`save_checkpoint` wrote; training continues bit-exactly.

        Raises :class:`~minideeplab.FileFormatError` (naming the file) if it is not a
        checkpoint of this model and this optimizer (truncated, no description, other
        weights, SGD state for an Adam run, ...); the trainer is then left unchanged.
        """
        path = path or self.checkpoint_path()
        arrays, meta = read_npz(path)
        meta = _check_meta(path, meta)
        params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        head = {k[len("crf/"):]: v for k, v in arrays.items() if k.startswith("crf/")}
        em = {k[len("em/"):]: v for k, v in arrays.items() if k.startswith("em/")}
        state = {k: v for k, v in arrays.items() if not k.startswith(("param/", "crf/", "em/"))}
        if meta.get("data_id") != self.data_id:
            raise FileFormatError(path, f"was written by a run on {meta.get('data_id') or 'the whole split'}, "
                                        f"this one trains on {self.data_id or 'the whole split'}; resume with the same data")
        if ("em" in meta) != (self.em is not None):
            raise FileFormatError(path, "was written by a run " + ("with" if "em" in meta else "without") +
                                  " explicit E-steps (e_step_every); resume it with the same setting")
        _check_optimizer_state(path, state, self.optimizer.state_dict(), self.config.optimizer)
        if bool(head) != (self.head is not None):
            raise FileFormatError(path, "was written by a run " + ("with" if head else "without") +
                                  " a CRF head (crf_head); resume it with the same setting")
        if head:
            own = {f"param/{k}": np.asarray(v) for k, v in self.head.params.items()}
            own.update({f"opt/{k}": v for k, v in self.head_optimizer.state_dict().items()})
            if set(head) != set(own) or any(tuple(head[k].shape) != tuple(v.shape) for k, v in own.items()):
                raise FileFormatError(path, f"its CRF head does not fit this run: {sorted(head)[:4]}")
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = meta["rng"]
            iteration = int(meta["iteration"])
        except (ValueError, TypeError, KeyError) as exc:
            raise FileFormatError(path, f"its RNG state or iteration is not valid ({exc!r})") from exc
        if not isinstance(meta["log"], list):
            raise FileFormatError(path, "its training log is not a list")
        try:
            self.model.load_state_dict(params)  # checks every array before changing any
        except (ValueError, TypeError) as exc:
            raise FileFormatError(path, f"its weights do not fit this model: {exc}") from exc
        self.optimizer.load_state_dict(state)
        if head:
            for k in self.head.params:
                self.head.params[k][...] = head[f"param/{k}"]
            self.head_optimizer.load_state_dict({k[4:]: v for k, v in head.items() if k.startswith("opt/")})
        if self.em is not None:
            self.em.load_state(em, meta["em"]["rounds"])
            self.em_iteration = meta["em"]["iteration"]
        self.iteration = iteration
        self.rng.bit_generator.state = rng.bit_generator.state
        self.log = meta["log"]
        return meta

    def resume(self):
        """Load ``out_dir/checkpoint.npz`` if it exists; returns True if it did."""
        if self.out_dir and os.path.exists(self.checkpoint_path()):
            self.load_checkpoint()
            return True
        return False


def _accumulate(total, grads):
    """``total + grads`` per key (a copy of ``grads`` when ``total`` is None)."""
    if total is None:
        return {k: v.copy() for k, v in grads.items()}
    for k, v in grads.items():
        total[k] += v
    return total


def read_checkpoint_meta(path):
    """The description a checkpoint holds (iteration, RNG state, config, log, model), without its arrays.

    :class:`~minideeplab.FileFormatError` if the file is not a checkpoint."""
    return _check_meta(path, read_npz_meta(path), ("iteration",))


def _check_meta(path, meta, needed=("iteration", "rng", "log")):
    if meta is None:
        raise FileFormatError(path, "has no description (__meta__); was it written by Trainer.save_checkpoint?")
    missing = [k for k in needed if k not in meta]
    if missing:
        raise FileFormatError(path, f"its description lacks {missing}; was it written by Trainer.save_checkpoint?")
    return meta


_OPTIMIZER_OF_KEY = {"velocity/": "sgd", "adam_": "adam"}


def _check_optimizer_state(path, state, own, optimizer):
    """The checkpoint's optimizer arrays must be the ones this trainer's optimizer keeps."""
    if set(state) != set(own):
        kinds = sorted({kind for k in state for prefix, kind in _OPTIMIZER_OF_KEY.items() if k.startswith(prefix)})
        if kinds and optimizer not in kinds:
            raise FileFormatError(path, f"holds the state of optimizer {kinds[0]!r} but this run uses {optimizer!r}; "
                                        f"resume with optimizer {kinds[0]!r} or start in another folder")
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        raise FileFormatError(path, f"its optimizer state does not fit this model: missing {missing[:3]}, "
                                    f"unexpected {unexpected[:3]}")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape) or state[k].dtype.kind not in "biuf":
            raise FileFormatError(path, f"optimizer array {k}: {state[k].dtype} {tuple(state[k].shape)}, "
                                        f"expected a number array of shape {tuple(v.shape)}")
