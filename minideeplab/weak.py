"""Training targets from weak annotations (Papandreou et al., ICCV 2015).

Bounding boxes and image-level labels are turned into per-pixel training targets:

* **Bbox-Rect**: fill each box with its class, larger boxes first so smaller ones win overlaps.
* **Bbox-Seg**: a core (about 20% of the box's area, centred) is the class with P = 0.75, the
  rest of the box is 0.5/0.5 class/background, outside is background; then the dense CRF
  (the paper's w1=45, theta_alpha=37, theta_beta=3, w2=15, theta_gamma=3) and the arg max.
* **EM-Fixed** (image or box labels): add fixed biases to the scores of the present classes
  (or, in box mode, to a box's class at its pixels), suppress the absent ones, arg max.
* **EM-Adapt** (image labels): add to each present class an adaptive bias such that at least
  a fraction rho of the image goes to it (background 0.4, foreground 0.2; a few rounds,
  background first), suppress absent classes, arg max.

Written for VOC-style data with a background class (``background=0``). MSRC has none (every
pixel is one of 21 classes or void); with ``background=None``: Bbox-Rect leaves pixels
outside every box void; Bbox-Seg gives each box's core to its class and lets the CRF choose,
inside a box, among the classes of the boxes covering the pixel (outside all boxes: void);
EM-Adapt gives every present class the foreground fraction.

Boxes are ``(class, y0, x0, y1, x1)`` with exclusive ends.
"""
from __future__ import annotations

import numpy as np

from .nn.functional import IGNORE_INDEX

BBOX_SEG_CRF = dict(w_bilateral=45.0, theta_alpha=37.0, theta_beta=3.0, w_gaussian=15.0, theta_gamma=3.0)


def _check_boxes(boxes, shape, num_classes=None):
    out = []
    H, W = shape
    for b in boxes:
        if len(b) != 5:
            raise ValueError(f"a box is (class, y0, x0, y1, x1), got {b!r}")
        c, y0, x0, y1, x1 = (int(v) for v in b)
        if not (0 <= y0 < y1 <= H and 0 <= x0 < x1 <= W):
            raise ValueError(f"box {b!r} is empty or outside the {H}x{W} image")
        if c < 0 or (num_classes is not None and c >= num_classes):
            raise ValueError(f"box class {c} out of range")
        out.append((c, y0, x0, y1, x1))
    return sorted(out, key=lambda b: -(b[3] - b[1]) * (b[4] - b[2]))  # larger first


def bbox_rect(shape, boxes, background=0):
    """Bbox-Rect targets (H, W) uint8: boxes filled, larger first; outside: ``background``
    (None: void, 255)."""
    out = np.full(shape, IGNORE_INDEX if background is None else background, np.uint8)
    for c, y0, x0, y1, x1 in _check_boxes(boxes, shape):
        out[y0:y1, x0:x1] = c
    return out


def box_core(y0, x0, y1, x1, area_fraction=0.2):
    """The centred sub-box with ``area_fraction`` of the box's area (each side scaled by its sqrt)."""
    s = np.sqrt(area_fraction)
    h, w = (y1 - y0) * s, (x1 - x0) * s
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    return (int(round(cy - h / 2)), int(round(cx - w / 2)), max(int(round(cy + h / 2)), int(round(cy - h / 2)) + 1),
            max(int(round(cx + w / 2)), int(round(cx - w / 2)) + 1))


def bbox_seg_probs(shape, boxes, num_classes, background=0, core_prob=0.75, area_fraction=0.2):
    """The Bbox-Seg probability map (L, H, W) before the CRF (see the module doc)."""
    H, W = shape
    L = num_classes
    boxes = _check_boxes(boxes, shape, L)
    if background is not None:
        P = np.zeros((L, H, W))
        P[background] = 1.0
        for c, y0, x0, y1, x1 in boxes:  # larger first: smaller boxes overwrite
            P[:, y0:y1, x0:x1] = 0.0
            P[c, y0:y1, x0:x1] = 0.5
            P[background, y0:y1, x0:x1] += 0.5
        for c, y0, x0, y1, x1 in boxes:
            a, b, cc, d = box_core(y0, x0, y1, x1, area_fraction)
            P[:, a:cc, b:d] = 0.0
            P[c, a:cc, b:d] = core_prob
            P[background, a:cc, b:d] += 1 - core_prob
        return P
    cover = np.zeros((L, H, W), bool)
    for c, y0, x0, y1, x1 in boxes:
        cover[c, y0:y1, x0:x1] = True
    n = cover.sum(0)
    P = np.where(n > 0, cover / np.maximum(n, 1), 1.0 / L)  # uniform over the covering boxes' classes
    for c, y0, x0, y1, x1 in boxes:
        a, b, cc, d = box_core(y0, x0, y1, x1, area_fraction)
        others = cover[:, a:cc, b:d] & (np.arange(L) != c)[:, None, None]
        k = others.sum(0)
        P[:, a:cc, b:d] = np.where(k > 0, others * (1 - core_prob) / np.maximum(k, 1), 0.0)
        P[c, a:cc, b:d] = np.where(k > 0, core_prob, 1.0)
    return P


def bbox_seg(image, boxes, num_classes, background=0, crf_params=None, n_iter=10):
    """Bbox-Seg targets (H, W) uint8: :func:`bbox_seg_probs`, the dense CRF, the arg max.

    With ``background=None`` pixels outside every box are void (255).
    """
    from .crf import dense_crf

    H, W = image.shape[:2]
    P = bbox_seg_probs((H, W), boxes, num_classes, background)
    Q = dense_crf(image, P, n_iter=n_iter, **(crf_params or BBOX_SEG_CRF))
    out = Q.argmax(0).astype(np.uint8)
    if background is None:
        inside = np.zeros((H, W), bool)
        for _, y0, x0, y1, x1 in boxes:
            inside[y0:y1, x0:x1] = True
        out[~inside] = IGNORE_INDEX
    return out


def _scores(scores):
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 3:
        raise ValueError(f"scores must be (L, H, W), got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contains NaN or infinite values")
    return s


def _check_scores(scores, present):
    s = _scores(scores)
    present = sorted({int(c) for c in present})
    if not present or present[0] < 0 or present[-1] >= s.shape[0]:
        raise ValueError(f"present must be a non-empty set of classes in [0, {s.shape[0]}), got {present}")
    return s, present


def em_fixed(scores, present, bias=None, background=0, fg_bias=5.0, bg_bias=3.0):
    """EM-Fixed, image mode: fixed biases on the present classes, absent ones suppressed.

    ``bias`` maps class -> bias; by default ``bg_bias`` for the background and ``fg_bias``
    for the other present classes. Returns (H, W) uint8 targets.
    """
    s, present = _check_scores(scores, present)
    b = np.full(s.shape[0], -np.inf)
    for c in present:
        b[c] = (bias or {}).get(c, bg_bias if c == background else fg_bias)
    return (s + b[:, None, None]).argmax(0).astype(np.uint8)


def em_fixed_boxes(scores, boxes, background=0, fg_bias=5.0, bg_bias=3.0):
    """EM-Fixed, box mode: a box's class gets ``fg_bias`` at the pixels of the box; background
    ``bg_bias`` everywhere; classes without a box are suppressed."""
    s = _scores(scores)
    L, H, W = s.shape
    boxes = _check_boxes(boxes, (H, W), L)
    b = np.full(s.shape, -np.inf)
    if background is not None:
        b[background] = bg_bias
    for c, y0, x0, y1, x1 in boxes:
        b[c, y0:y1, x0:x1] = fg_bias
    out = (s + b).argmax(0).astype(np.uint8)
    if background is None:
        out[np.isinf(b.max(0))] = IGNORE_INDEX
    return out


def em_adapt(scores, present, background=0, rho_bg=0.4, rho_fg=0.2, rounds=20):
    """EM-Adapt: adaptive biases so that at least a fraction rho of the pixels goes to each
    present class (background first), absent classes suppressed; returns (H, W) uint8.

    The bias of class l is raised to the rho_l-quantile of ``max_{k != l}(f_k + b_k) - f_l``,
    so that at least rho_l of the pixels prefer l. Raising one class's bias takes pixels from
    the others, so passes over the classes repeat (up to ``rounds``) until every present
    class has its share (always possible when the fractions sum to at most 1).
    """
    s, present = _check_scores(scores, present)
    L = s.shape[0]
    b = np.full(L, -np.inf)
    b[present] = 0.0
    order = ([background] if background in present else []) + [c for c in present if c != background]
    rho = {c: (rho_bg if c == background else rho_fg) for c in order}
    flat = s.reshape(L, -1)
    if len(present) > 1:
        for _ in range(rounds):
            for c in order:
                others = np.delete(flat + b[:, None], c, axis=0).max(0)
                need = np.quantile(others - flat[c], rho[c], method="higher") + 1e-9
                b[c] = max(b[c], need)
            share = np.bincount((flat + b[:, None]).argmax(0), minlength=L) / flat.shape[1]
            if all(share[c] >= rho[c] for c in order):
                break
    return (s + b[:, None, None]).argmax(0).astype(np.uint8)


def image_tags(label, num_classes):
    """The classes present in a label map (void excluded): image-level labels."""
    v = np.unique(label)
    return [int(c) for c in v if c < num_classes]


def boxes_from_labels(label, num_classes, min_pixels=1):
    """One box per labelled segment (a connected component of one class), as (c, y0, x0, y1, x1)."""
    from scipy.ndimage import find_objects, label as connected

    boxes = []
    for c in image_tags(label, num_classes):
        comp, n = connected(label == c)
        for k, sl in enumerate(find_objects(comp), start=1):
            if sl is None or (comp[sl] == k).sum() < min_pixels:
                continue
            boxes.append((c, sl[0].start, sl[1].start, sl[0].stop, sl[1].stop))
    return boxes


# ------------------------------------------------------------------ training with weak labels
SUPERVISIONS = ("strong", "semi", "bbox-rect", "bbox-seg", "em-adapt")


class BoxTargets:
    """A dataset whose labels are Bbox-Rect or Bbox-Seg estimates from the ground truth's boxes.

    ``ds[i] -> (image, estimated label)``; estimates are computed once and cached.
    """

    def __init__(self, dataset, method="bbox-rect", num_classes=None, background=0):
        if method not in ("bbox-rect", "bbox-seg"):
            raise ValueError(f"method must be 'bbox-rect' or 'bbox-seg', got {method!r}")
        self.dataset, self.method, self.background = dataset, method, background
        self.num_classes = num_classes or dataset.num_classes
        self._cache = {}

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        image, gt = self.dataset[i]
        if i not in self._cache:
            boxes = boxes_from_labels(gt, self.num_classes)
            if self.background is not None:
                boxes = [b for b in boxes if b[0] != self.background]
            self._cache[i] = (bbox_rect(gt.shape, boxes, self.background) if self.method == "bbox-rect"
                              else bbox_seg(image, boxes, self.num_classes, self.background))
        return image, self._cache[i]


def e_step(method, scores, present, background=0):
    """The E-step of an image-label method on one image's scores (L, H, W): EM-Fixed
    (``"semi"``, :func:`em_fixed`) or EM-Adapt (``"em-adapt"``, :func:`em_adapt`) under the
    classes ``present``; (H, W) uint8. With ``background=None`` (MSRC's 21 classes) there is no
    background class, and EM-Adapt gives every present class the foreground fraction."""
    bg = background if background is not None else -1
    if method == "em-adapt":
        return em_adapt(scores, present, background=bg, rho_bg=0.4 if background is not None else 0.2)
    if method == "semi":
        return em_fixed(scores, present, background=bg)
    raise ValueError(f"method must be 'em-adapt' or 'semi', got {method!r}")


def strong_subset(n, size, seed=0):
    """The images that keep their pixel labels: ``size`` of ``range(n)`` drawn without
    replacement from ``seed`` (a set). The strong-only baseline and the semi-supervised run of
    one subset size draw the same images when they use the same seed."""
    if not 0 <= int(size) <= n:
        raise ValueError(f"the number of pixel-labelled images must be in [0, {n}], got {size}")
    rng = np.random.default_rng(seed)
    return set(rng.choice(n, size=int(size), replace=False).tolist())


class Subset:
    """``Subset(dataset, indices)[j] = dataset[indices[j]]``; ``num_classes`` and
    ``class_names`` are the dataset's."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, sorted(int(i) for i in indices)
        if any(not 0 <= i < len(dataset) for i in self.indices):
            raise ValueError(f"indices must lie in [0, {len(dataset)})")
        self.num_classes = getattr(dataset, "num_classes", None)
        self.class_names = getattr(dataset, "class_names", None)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, j):
        return self.dataset[self.indices[j]]


def em_target_fn(dataset, method, num_classes, background=0, strong_fraction=0.25, seed=0, strong_images=None):
    """A ``Trainer`` target function for the EM methods.

    ``"em-adapt"``: every image has only its image-level labels (EM-Adapt on the current
    scores). ``"semi"``: a fixed ``strong_fraction`` of the images (or ``strong_images`` of
    them, :func:`strong_subset`) keep their pixel labels, the others get EM-Fixed targets from
    their image-level labels. With ``background=None``
    (MSRC), EM-Adapt gives every present class the foreground fraction.

    Pixels void in the crop's label stay void in every target: that keeps the crop's padding
    out of the loss, and also the ground truth's void pixels (a small leak of pixel-level
    information, documented; on MSRC those are mostly unlabelled boundary zones).

    Returns ``(fn, strong)`` where ``strong`` is the set of image indices with pixel labels.
    """
    if method not in ("em-adapt", "semi"):
        raise ValueError(f"method must be 'em-adapt' or 'semi', got {method!r}")
    n = len(dataset)
    size = int(round(strong_fraction * n)) if strong_images is None else int(strong_images)
    strong = strong_subset(n, size, seed) if method == "semi" else set()
    tags = {}

    def fn(index, image, small_label, scores):
        if index in strong:
            return small_label
        if index not in tags:
            tags[index] = image_tags(dataset[index][1], num_classes)
        out = e_step(method, scores, tags[index] or list(range(num_classes)), background)
        out[small_label == IGNORE_INDEX] = IGNORE_INDEX
        return out

    return fn, strong


class EMTargets:
    """Weak labels re-estimated by an explicit E-step: the EM loop of Papandreou et al.

    ``EMTargets(dataset, method, num_classes)[i] -> (image, current target)``. The images in
    ``strong`` keep their pixel labels; for the others, :meth:`e_step` runs the model on the
    whole image (:func:`minideeplab.predict.predict_scores`, full resolution) and replaces the
    target by EM-Fixed (``method="semi"``: :func:`em_fixed`) or EM-Adapt (``"em-adapt"``:
    :func:`em_adapt`) of those scores under the image's labels (:func:`image_tags`). The
    training loop alternates: an E-step every k iterations, then k M-step iterations of plain
    supervised training on the cached targets. Before the first E-step, a weak image's target is
    all void. Void pixels of the ground truth stay void (as in :func:`em_target_fn`).
    """

    def __init__(self, dataset, method, num_classes, background=0, strong=()):
        if method not in ("em-adapt", "semi"):
            raise ValueError(f"method must be 'em-adapt' or 'semi', got {method!r}")
        self.dataset, self.method, self.num_classes, self.background = dataset, method, int(num_classes), background
        self.strong = {int(i) for i in strong}
        self.weak = [i for i in range(len(dataset)) if i not in self.strong]
        self.targets = {}           # image index -> (H, W) uint8
        self.rounds = 0             # E-steps run so far
        self._tags = {}
        self.class_names = getattr(dataset, "class_names", None)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        image, label = self.dataset[i]
        if i in self.strong:
            return image, label
        target = self.targets.get(i)
        return image, (np.full(label.shape, IGNORE_INDEX, np.uint8) if target is None else target)

    def estimate(self, model, i):
        """The E-step for image ``i``: (H, W) uint8 target from the model's current scores."""
        from .predict import predict_scores

        image, label = self.dataset[i]
        if i not in self._tags:
            self._tags[i] = image_tags(label, self.num_classes)
        out = e_step(self.method, predict_scores(model, image), self._tags[i] or list(range(self.num_classes)),
                     self.background)
        out[np.asarray(label) == IGNORE_INDEX] = IGNORE_INDEX
        return out

    def e_step(self, model, progress=False):
        """Re-estimate every weak image's target with ``model`` (in eval mode, no caches; its
        mode is restored). Returns ``{"round", "images", "changed"}``: the share of the weak
        images' non-void pixels whose target changed (1.0 in the first round)."""
        from tqdm.auto import tqdm

        from .nn import no_grad

        was_training = getattr(model, "training", False)
        model.eval()
        changed = total = 0
        with no_grad():
            for i in tqdm(self.weak, desc=f"E-step {self.rounds + 1}", disable=not progress, leave=False):
                new = self.estimate(model, i)
                valid = new != IGNORE_INDEX
                old = self.targets.get(i)
                changed += int(valid.sum() if old is None else ((new != old) & valid).sum())
                total += int(valid.sum())
                self.targets[i] = new
        if was_training:
            model.train()
        self.rounds += 1
        return {"round": self.rounds, "images": len(self.weak), "changed": changed / max(total, 1)}

    def state(self):
        """The cached targets as arrays (for a checkpoint): ``{"target_<i>": (H, W) uint8}``."""
        return {f"target_{i}": t for i, t in self.targets.items()}

    def load_state(self, arrays, rounds):
        self.targets = {int(k[len("target_"):]): np.asarray(v, np.uint8) for k, v in arrays.items()
                        if k.startswith("target_")}
        self.rounds = int(rounds)
