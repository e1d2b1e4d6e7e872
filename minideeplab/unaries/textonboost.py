"""TextonBoost-style unaries for MSRC-21 (Shotton et al., IJCV 2009): per-pixel features
(texture-layout, colour, location, filter responses) and boosted trees over them.

A pixel i of an image is described by F numbers, in this order (:attr:`TextonBoost.feature_groups`)::

    layout        n_layout   share of texton t in the rectangle r offset from i  (:mod:`.layout`)
    lab           3          CIE L*, a*, b* of i                                  (:func:`.rgb_to_lab`)
    colour_rects  3 R        mean L*, a*, b* in each colour rectangle around i    (:func:`colour_features`)
                             (rectangle 0's L*, a*, b*, then rectangle 1's, ...)
    orientation   9 R'       gradient-orientation shares (8 per rectangle), then  (:mod:`.orientation`)
                             log(1 + mean magnitude) per rectangle, in R' rectangles around i
    location      2          y / H, x / W
    responses     17         the filter bank's responses at i                     (:func:`.filter_bank`)

Boosted trees (:class:`.BoostedTrees`) turn them into one score per class, and softmax into
probabilities, the unaries of the CRF. Walking thousands of trees for every pixel is the
slow part, so the trees run on every ``stride``-th pixel of every ``stride``-th row (1/16 of
the pixels at stride 4) and the scores are interpolated bilinearly in between
(:func:`upsample_bilinear`), as DeepLab upsamples its scores.

Training (:meth:`TextonBoost.fit`) needs scikit-learn (``pip install minideeplab[textonboost]``);
a saved model (one ``.npz`` file) loads and predicts with NumPy and Numba alone.
"""
from __future__ import annotations

import numpy as np

from .._io import FileFormatError, read_npz, save_npz
from .._numba import in_threads
from .._validate import positive_int, real_number, size_pair
from .boost import ARRAYS as TREE_ARRAYS
from .boost import BoostedTrees
from .filterbank import FILTERS, filter_bank, rgb_to_lab
from .layout import layout_features, random_layout_features
from .orientation import BINS, ORIENTATION_RECTS, orientation_features
from .textons import Textons, sample_responses

# (dy0, dx0, dy1, dx1) relative to the pixel: three centred squares (5, 15 and 41 pixels a
# side) and four 30 x 21 bands above, below, left and right of it
COLOUR_RECTS = np.array([(-2, -2, 3, 3), (-7, -7, 8, 8), (-20, -20, 21, 21),
                         (-40, -10, -10, 11), (11, -10, 41, 11), (-10, -40, 11, -10), (-10, 11, 11, 41)], np.int64)
VOID = 255
_OWN_META = ("kind", "num_classes", "num_features", "stride", "params")


def _rects(rects, name):
    """``rects`` as (R, 4) int64 rectangles (dy0, dx0, dy1, dx1) with dy1 > dy0 and dx1 > dx0."""
    r = np.asarray(rects)
    if r.ndim != 2 or r.shape[1] != 4 or r.shape[0] == 0:
        raise ValueError(f"{name} must have shape (R, 4), R >= 1, got {r.shape}")
    if not np.issubdtype(r.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {r.dtype}")
    if np.any(r[:, 2] <= r[:, 0]) or np.any(r[:, 3] <= r[:, 1]):
        raise ValueError(f"{name}: every rectangle needs dy1 > dy0 and dx1 > dx0")
    return np.ascontiguousarray(r, np.int64)


def check_uint8_image(image, name="image"):
    """``image`` must be an (H, W, 3) uint8 RGB array (TypeError/ValueError naming it)."""
    from ..datasets.transforms import check_image

    check_image(image, name)
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 RGB, got dtype {image.dtype}")
    return image


def colour_features(lab, rects=COLOUR_RECTS):
    """The mean colour in rectangles around every pixel, from integral images.

    Feature ``r * C + c`` at (y, x) is the mean of channel c over the pixels of rectangle
    ``rects[r] = (dy0, dx0, dy1, dx1)`` offset from (y, x) (rows y + dy0 .. y + dy1 - 1, columns
    alike), clipped to the image: a mean over the pixels inside. Where all of its rows (or
    columns) fall outside, the nearest row (column) of the image stands in for them.

    Parameters
    ----------
    lab : (H, W, C) real, e.g. CIE Lab from :func:`.rgb_to_lab`
    rects : (R, 4) int rectangles, dy1 > dy0 and dx1 > dx0

    Returns
    -------
    (H, W, R * C) float32
    """
    from ._colour_kernels import rect_means

    x = np.asarray(lab)
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0 or x.dtype.kind not in "iuf":
        raise ValueError(f"lab must be a non-empty (H, W, C) real array, got shape {x.shape}, dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError("lab contains NaN or infinite values")
    rects = _rects(rects, "rects")
    H, W, C = x.shape
    integral = np.zeros((C, H + 1, W + 1), np.float64)
    integral[:, 1:, 1:] = x.transpose(2, 0, 1).astype(np.float64).cumsum(axis=1).cumsum(axis=2)  # sums in float64
    out = np.empty((H, W, rects.shape[0] * C), np.float32)
    in_threads(lambda a, b: rect_means(integral, rects, out, a, b), rects.shape[0], min_rows=2)
    return out


def location_features(H, W):
    """(H, W, 2) float32: y / H and x / W of every pixel."""
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([yy / H, xx / W], axis=-1).astype(np.float32)


def pixel_features(image, textons, layout_rects, layout_textons, colour_rects=COLOUR_RECTS,
                   orientation_rects=ORIENTATION_RECTS):
    """The features of every pixel, in the order of the module docstring: (H, W, F) float32
    with F = len(layout_rects) + 3 + 3 * len(colour_rects) + 9 * len(orientation_rects) + 2 + 17
    (``orientation_rects=None``: no orientation features). Arguments as :class:`TextonBoost`
    holds them; ``image`` is checked, the rest is not."""
    image = check_uint8_image(image)
    H, W, _ = image.shape
    responses = filter_bank(image)
    lab = rgb_to_lab(image)
    parts = [layout_features(textons.assign(responses), layout_rects, layout_textons), lab,
             colour_features(lab, colour_rects)]
    if orientation_rects is not None:
        parts.append(orientation_features(lab[..., 0], orientation_rects))
    return np.concatenate(parts + [location_features(H, W), responses], axis=-1)


def upsample_bilinear(grid, stride, size):
    """Scores on a grid to every pixel: (C, h, w) -> (C, H, W) float32.

    ``grid[:, i, j]`` belongs to pixel (i * stride, j * stride). A pixel between grid points
    gets the bilinear interpolation of the four around it, with weights from
    u = y / stride - floor(y / stride) and v alike; pixels past the last grid row (column)
    take its values. Needs h = ceil(H / stride) and w = ceil(W / stride).
    """
    g = np.asarray(grid, np.float32)
    s = positive_int(stride, "stride")
    H, W = size_pair(size, "size")
    if g.ndim != 3 or g.shape[1:] != (-(-H // s), -(-W // s)):
        raise ValueError(f"grid must be (C, ceil(H / stride), ceil(W / stride)) = "
                         f"(C, {-(-H // s)}, {-(-W // s)}), got {g.shape}")

    def axis(n, m):   # lower grid index, upper grid index, weight of the upper one
        lo = np.arange(n) // s
        return lo, np.minimum(lo + 1, m - 1), ((np.arange(n) % s) / s).astype(np.float32)

    y0, y1, u = axis(H, g.shape[1])
    x0, x1, v = axis(W, g.shape[2])
    rows = g[:, y0] * (1 - u)[:, None] + g[:, y1] * u[:, None]          # (C, H, w)
    return rows[:, :, x0] * (1 - v) + rows[:, :, x1] * v


class TextonBoost:
    """A TextonBoost-style pixel classifier: features (module docstring) and boosted trees.

    Parameters
    ----------
    textons : a fitted :class:`.Textons` over the 17 filter-bank responses (K centres)
    layout_rects, layout_textons : (n_layout, 4) rectangles and (n_layout,) textons in [0, K)
    trees : :class:`.BoostedTrees` over the F features, scoring the classes ``classes``
    classes : (C,) distinct labels in [0, num_classes), the one each tree class stands for;
        labels never seen in training get probability 0
    num_classes : L, the number of labels predicted
    colour_rects : (R, 4) colour rectangles (default :data:`COLOUR_RECTS`)
    orientation_rects : (R', 4) orientation rectangles (default
        :data:`.orientation.ORIENTATION_RECTS`), or None for a model without them
    stride : the trees run on every ``stride``-th pixel (:meth:`predict_proba`)
    params : the hyper-parameters of :meth:`fit`, kept for the record (JSON-able dict)
    meta : anything else to keep with the model (JSON-able dict), e.g. the CRF parameters that
        ``minideeplab tune-crf`` chose for these unaries (``dense_crf``, ``grid_crf``)
    """

    def __init__(self, textons, layout_rects, layout_textons, trees, classes, num_classes,
                 colour_rects=COLOUR_RECTS, stride=4, params=None, orientation_rects=ORIENTATION_RECTS, meta=None):
        if not isinstance(textons, Textons):
            raise TypeError(f"textons must be a Textons, got {type(textons).__name__}")
        D = len(FILTERS)
        if textons.centers.ndim != 2 or textons.centers.shape[1] != D or textons.mean.shape != (D,) \
                or textons.scale.shape != (D,):
            raise ValueError(f"textons must have centers (K, {D}), mean and scale ({D},), got "
                             f"{textons.centers.shape}, {textons.mean.shape}, {textons.scale.shape}")
        if not all(np.all(np.isfinite(a)) for a in (textons.centers, textons.mean, textons.scale)) \
                or np.any(textons.scale <= 0):
            raise ValueError("textons must be finite, with positive scale")
        self.textons = textons
        self.layout_rects = _rects(layout_rects, "layout_rects")
        t, n = np.asarray(layout_textons), self.layout_rects.shape[0]
        if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"layout_textons must be ({n},) integers, got {t.shape} {t.dtype}")
        if np.any((t < 0) | (t >= textons.k)):
            raise ValueError(f"layout_textons must be textons in [0, {textons.k})")
        self.layout_textons = t.astype(np.int64)
        self.colour_rects = _rects(colour_rects, "colour_rects")
        self.orientation_rects = None if orientation_rects is None else _rects(orientation_rects, "orientation_rects")
        self.num_classes = positive_int(num_classes, "num_classes", 2)
        if not isinstance(trees, BoostedTrees):
            raise TypeError(f"trees must be a BoostedTrees, got {type(trees).__name__}")
        if trees.num_features != self.num_features:
            raise ValueError(f"trees must read {self.num_features} features, they read {trees.num_features}")
        self.trees = trees
        c = np.asarray(classes)
        if c.shape != (trees.num_classes,) or not np.issubdtype(c.dtype, np.integer) \
                or np.any((c < 0) | (c >= self.num_classes)) or len(np.unique(c)) != c.size:
            raise ValueError(f"classes must be {trees.num_classes} distinct labels in [0, {self.num_classes}), "
                             f"got {c!r}")
        self.classes = c.astype(np.int64)
        self.stride = positive_int(stride, "stride")
        self.params = dict(params or {})
        self.meta = dict(meta or {})
        clash = set(self.meta) & set(_OWN_META)
        if clash:
            raise ValueError(f"meta must not hold the keys {sorted(clash)} (the file's own description)")

    @property
    def feature_groups(self):
        """``{name: slice}`` of the feature vector, in order (module docstring)."""
        sizes = [("layout", self.layout_rects.shape[0]), ("lab", 3), ("colour_rects", 3 * self.colour_rects.shape[0]),
                 ("orientation", self._n_orientation), ("location", 2), ("responses", len(FILTERS))]
        sizes = [(name, n) for name, n in sizes if n]      # no orientation group in older models
        bounds = np.cumsum([0] + [n for _, n in sizes])
        return {name: slice(int(a), int(b)) for (name, _), a, b in zip(sizes, bounds[:-1], bounds[1:])}

    @property
    def _n_orientation(self):
        return 0 if self.orientation_rects is None else (BINS + 1) * self.orientation_rects.shape[0]

    @property
    def num_features(self):
        return self.layout_rects.shape[0] + 3 + 3 * self.colour_rects.shape[0] + self._n_orientation + 2 + len(FILTERS)

    def features(self, image):
        """The features of every pixel: image (H, W, 3) uint8 -> (H, W, F) float32, in the
        order of :attr:`feature_groups`."""
        return pixel_features(image, self.textons, self.layout_rects, self.layout_textons, self.colour_rects,
                              self.orientation_rects)

    def predict_proba(self, image, stride=None):
        """Class probabilities of every pixel: image (H, W, 3) uint8 -> (L, H, W) float32.

        The trees score every ``stride``-th pixel (default: the model's); the scores are
        interpolated bilinearly to every pixel (:func:`upsample_bilinear`) and softmax over
        the trained classes turns them into probabilities (0 for classes never trained on).
        ``stride=1`` scores every pixel.
        """
        s = self.stride if stride is None else positive_int(stride, "stride")
        f = self.features(image)
        H, W, F = f.shape
        grid = np.ascontiguousarray(f[::s, ::s])
        h, w = grid.shape[:2]
        scores = self.trees.predict_scores(grid.reshape(h * w, F)).reshape(h, w, -1).transpose(2, 0, 1)
        scores = upsample_bilinear(scores, s, (H, W)).astype(np.float64)
        e = np.exp(scores - scores.max(axis=0, keepdims=True))
        out = np.zeros((self.num_classes, H, W), np.float32)
        out[self.classes] = e / e.sum(axis=0, keepdims=True)
        return out

    # --- training ---------------------------------------------------------------------------

    @classmethod
    def fit(cls, dataset, *, num_classes=None, images=None, k=400, n_layout=300, colour_rects=COLOUR_RECTS,
            orientation_rects=ORIENTATION_RECTS, responses_per_image=300, kmeans_iters=20, sample_stride=8, max_iter=300, learning_rate=0.1,
            max_leaf_nodes=31, min_samples_leaf=20, l2_regularization=1.0, class_weight=None, stride=4, seed=0,
            progress=True):
        """Train on ``dataset[i] -> (image (H, W, 3) uint8, label (H, W) int)`` (255: void).

        1. Textons: ``responses_per_image`` random pixels' filter responses from each image,
           k-means with ``k`` centres (``kmeans_iters`` Lloyd steps).
        2. ``n_layout`` random (rectangle, texton) pairs (:func:`.random_layout_features`).
        3. Training pixels: every ``sample_stride``-th pixel of every ``sample_stride``-th
           row (a random offset per image), void left out; their features (a tqdm bar).
        4. scikit-learn's ``HistGradientBoostingClassifier`` (``max_iter`` boosting rounds of
           one tree per class with at most ``max_leaf_nodes`` leaves, ``learning_rate``,
           ``min_samples_leaf``, ``l2_regularization``, ``class_weight``; no early stopping,
           ``random_state=seed``), exported to :class:`.BoostedTrees`. Keep
           ``l2_regularization`` > 0: a leaf's value is -sum(gradients) / (sum(hessians) + l2),
           and once a class's probabilities near 0 or 1 the hessians p (1 - p) vanish; with
           l2 = 0 the leaf values of a 21-class fit on MSRC grow without bound after a few
           dozen rounds and the accuracy falls.

        Everything random comes from ``seed``. ``images``: the indices to use (default all);
        ``num_classes``: default ``dataset.num_classes``. Labels must be < num_classes or 255.
        Memory: the samples' features in float32, and scikit-learn's float64 copy of them.
        Returns the fitted :class:`TextonBoost`.
        """
        from sklearn.ensemble import HistGradientBoostingClassifier
        from tqdm.auto import tqdm

        if num_classes is None:
            num_classes = getattr(dataset, "num_classes", None)
            if num_classes is None:
                raise ValueError("num_classes must be given for a dataset without a num_classes attribute")
        num_classes = positive_int(num_classes, "num_classes", 2)
        if num_classes >= VOID:
            raise ValueError(f"num_classes must be < {VOID} (255 marks void), got {num_classes}")
        images = list(range(len(dataset))) if images is None else [int(i) for i in images]
        if not images:
            raise ValueError("images must name at least one image of the dataset")
        params = dict(k=positive_int(k, "k"), n_layout=positive_int(n_layout, "n_layout"),
                      responses_per_image=positive_int(responses_per_image, "responses_per_image"),
                      kmeans_iters=positive_int(kmeans_iters, "kmeans_iters"),
                      sample_stride=positive_int(sample_stride, "sample_stride"),
                      max_iter=positive_int(max_iter, "max_iter"),
                      learning_rate=real_number(learning_rate, "learning_rate", 0.0, low_open=True),
                      max_leaf_nodes=positive_int(max_leaf_nodes, "max_leaf_nodes", 2),
                      min_samples_leaf=positive_int(min_samples_leaf, "min_samples_leaf"),
                      l2_regularization=real_number(l2_regularization, "l2_regularization", 0.0),
                      class_weight=class_weight, seed=int(seed), n_images=len(images))
        if class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {class_weight!r}")
        colour_rects = _rects(colour_rects, "colour_rects")
        if orientation_rects is not None:
            orientation_rects = _rects(orientation_rects, "orientation_rects")
        rng = np.random.default_rng(seed)

        def pair(i):
            image, label = dataset[i]
            check_uint8_image(image, f"dataset[{i}]'s image")
            label = np.asarray(label)
            if label.shape != image.shape[:2] or not np.issubdtype(label.dtype, np.integer):
                raise ValueError(f"dataset[{i}]'s label must be an {image.shape[:2]} integer map, "
                                 f"got {label.shape} {label.dtype}")
            if np.any((label < 0) | ((label >= num_classes) & (label != VOID))):
                raise ValueError(f"dataset[{i}]'s label holds values outside [0, {num_classes}) and {VOID} (void)")
            return image, label

        samples = [sample_responses([filter_bank(pair(i)[0])], params["responses_per_image"], rng)
                   for i in tqdm(images, desc="textons: filter responses", disable=not progress)]
        textons = Textons.fit(np.concatenate(samples), k=params["k"], seed=seed, iters=params["kmeans_iters"])
        layout_rects, layout_textons = random_layout_features(params["n_layout"], params["k"], rng)

        X, y, s = [], [], params["sample_stride"]
        for i in tqdm(images, desc="features", disable=not progress):
            image, label = pair(i)
            oy, ox = rng.integers(0, s, size=2)
            keep = label[oy::s, ox::s] != VOID
            f = pixel_features(image, textons, layout_rects, layout_textons, colour_rects, orientation_rects)
            X.append(f[oy::s, ox::s][keep])
            y.append(label[oy::s, ox::s][keep])
        X, y = np.concatenate(X), np.concatenate(y).astype(np.int64)
        if len(np.unique(y)) < 2:
            raise ValueError("the training pixels hold fewer than 2 classes")
        clf = HistGradientBoostingClassifier(
            max_iter=params["max_iter"], learning_rate=params["learning_rate"],
            max_leaf_nodes=params["max_leaf_nodes"], min_samples_leaf=params["min_samples_leaf"],
            l2_regularization=params["l2_regularization"], class_weight=class_weight, early_stopping=False,
            random_state=seed).fit(X, y)
        params["n_samples"] = int(len(y))
        return cls(textons, layout_rects, layout_textons, BoostedTrees.from_sklearn(clf), clf.classes_, num_classes,
                   colour_rects, stride, params, orientation_rects)

    # --- files ------------------------------------------------------------------------------

    def save(self, path):
        """One compressed ``.npz`` file (atomically): the textons, the layout, colour and orientation
        rectangles, the classes, the trees' arrays (``trees_<name>``) and a JSON description. (The
        trees' thresholds repeat a few thousand histogram bin edges: zip keeps them at a third.)"""
        arrays = dict(self.textons.state(), layout_rects=self.layout_rects, layout_textons=self.layout_textons,
                      colour_rects=self.colour_rects, classes=self.classes,
                      **({} if self.orientation_rects is None else {"orientation_rects": self.orientation_rects}),
                      **{f"trees_{k}": getattr(self.trees, k) for k in TREE_ARRAYS})
        meta = dict(self.meta, kind="TextonBoost", num_classes=self.num_classes, num_features=self.num_features,
                    stride=self.stride, params=self.params)
        save_npz(path, arrays, meta, compress=True)

    @classmethod
    def load(cls, path):
        """The model written by :meth:`save`; :class:`~minideeplab.FileFormatError` for any other file."""
        arrays, meta = read_npz(path)
        if not isinstance(meta, dict) or meta.get("kind") != "TextonBoost":
            raise FileFormatError(path, "is not a TextonBoost file (no description of kind 'TextonBoost')")
        names = ["texton_mean", "texton_scale", "texton_centers", "layout_rects", "layout_textons", "colour_rects",
                 "classes"] + [f"trees_{k}" for k in TREE_ARRAYS]
        missing = [k for k in names if k not in arrays]
        if missing:
            raise FileFormatError(path, f"lacks the arrays {missing}")
        try:
            textons = Textons(arrays["texton_mean"], arrays["texton_scale"], arrays["texton_centers"])
            trees = BoostedTrees(*(arrays[f"trees_{k}"] for k in TREE_ARRAYS), meta.get("num_features"))
            return cls(textons, arrays["layout_rects"], arrays["layout_textons"], trees, arrays["classes"],
                       meta.get("num_classes"), arrays["colour_rects"], meta.get("stride"), meta.get("params"),
                       arrays.get("orientation_rects"),  # None: a model saved before orientation features
                       {k: v for k, v in meta.items() if k not in _OWN_META})
        except (ValueError, TypeError) as exc:
            raise FileFormatError(path, f"does not hold a valid TextonBoost model ({exc})") from exc
