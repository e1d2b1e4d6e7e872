"""Gradient-boosted trees over pixel features: the classifier of TextonBoost's unaries
(Shotton et al., IJCV 2009, boost over texture-layout features; here trained by scikit-learn).

A multi-class ensemble of regression trees gives each class c a score, and softmax makes
them probabilities::

    s_c(x) = baseline[c] + sum over the trees t of class c of leaf_t(x),   p = softmax(s)

where leaf_t(x) is the value of the leaf that x reaches by going left at a node when
x[feature] <= threshold. The trees are plain arrays, one entry per node, the trees one after
another (tree t is nodes ``tree_offset[t]`` .. ``tree_offset[t + 1] - 1``, its root first)::

    feature    int32    the feature a node tests (-1 at leaves)
    threshold  float64  go left when x[feature] <= threshold
    left/right int32    the children's node indices (-1 at leaves)
    value      float64  the leaf's value (0 at inner nodes)

Training needs scikit-learn (``pip install minideeplab[textonboost]``):
:meth:`BoostedTrees.from_sklearn` exports a fitted ``HistGradientBoostingClassifier``.
Prediction needs only NumPy and Numba; the trees are saved as ``.npz`` arrays, no pickles.
"""
from __future__ import annotations

import numpy as np

from .._io import FileFormatError, read_npz, save_npz
from .._numba import in_threads
from .._validate import positive_int

ARRAYS = {"feature": np.int32, "threshold": np.float64, "left": np.int32, "right": np.int32,
          "value": np.float64, "tree_offset": np.int64, "tree_class": np.int32, "baseline": np.float64}
NODE_FIELDS = ("value", "feature_idx", "num_threshold", "left", "right", "is_leaf", "is_categorical")


def _array(a, name, dtype):
    """``a`` as a contiguous ``dtype`` array; TypeError/ValueError naming it if it does not fit."""
    a = np.asarray(a)
    integer = np.issubdtype(dtype, np.integer)
    if a.dtype.kind not in ("iu" if integer else "iuf"):
        raise TypeError(f"{name} must be an {'integer' if integer else 'real-valued'} array, got dtype {a.dtype}")
    if integer and a.size and (a.min() < np.iinfo(dtype).min or a.max() > np.iinfo(dtype).max):
        raise ValueError(f"{name} holds values out of the range of {np.dtype(dtype).name}")
    return np.ascontiguousarray(a, dtype)


class BoostedTrees:
    """Trees of a multi-class boosted ensemble as arrays (see the module docstring).

    Parameters: feature, threshold, left, right, value (M,) per node; tree_offset (T + 1,);
    tree_class (T,) the class each tree scores; baseline (L,) the scores before any tree,
    L >= 2; num_features F. Every child comes after its parent and inside its tree, so each
    walk from a root ends at a leaf.
    """

    def __init__(self, feature, threshold, left, right, value, tree_offset, tree_class, baseline, num_features):
        given = (feature, threshold, left, right, value, tree_offset, tree_class, baseline)
        for (name, dtype), a in zip(ARRAYS.items(), given):
            setattr(self, name, _array(a, name, dtype))
        self.num_features = positive_int(num_features, "num_features")
        self._check()

    def _check(self):
        M, off, L = self.feature.shape[0], self.tree_offset, self.baseline.shape[0]
        for name in ("feature", "threshold", "left", "right", "value"):
            if getattr(self, name).shape != (M,) or M == 0:
                raise ValueError(f"{name} must have feature's shape (M,), M >= 1, got {getattr(self, name).shape}")
        if self.baseline.ndim != 1 or L < 2 or not np.all(np.isfinite(self.baseline)):
            raise ValueError(f"baseline must be (L,) finite with L >= 2 classes, got shape {self.baseline.shape}")
        if off.ndim != 1 or off.size < 2 or off[0] != 0 or off[-1] != M or np.any(np.diff(off) < 1):
            raise ValueError(f"tree_offset must rise strictly from 0 to the node count {M}, got {off}")
        if self.tree_class.shape != (off.size - 1,) or np.any((self.tree_class < 0) | (self.tree_class >= L)):
            raise ValueError(f"tree_class must be ({off.size - 1},) classes in [0, {L}), got {self.tree_class}")
        if np.any(np.isnan(self.threshold)) or not np.all(np.isfinite(self.value)):
            raise ValueError("threshold must not be NaN and value must be finite")
        node, end = np.arange(M), np.repeat(off[1:], np.diff(off))
        leaf, inner = self.left == -1, self.left >= 0
        if np.any(~leaf & ~inner) or np.any(self.right[leaf] != -1) or np.any(self.feature[leaf] != -1):
            raise ValueError("left must be -1 (a leaf, with right and feature -1 too) or a node index")
        for name in ("left", "right"):
            child = getattr(self, name)[inner]
            if np.any(child <= node[inner]) or np.any(child >= end[inner]):
                raise ValueError(f"{name}: a child must come after its parent, inside its tree")
        if np.any(self.feature[inner] < 0) or np.any(self.feature[inner] >= self.num_features):
            raise ValueError(f"feature must be in [0, num_features = {self.num_features}) at inner nodes")

    @property
    def num_classes(self):
        return self.baseline.shape[0]

    @property
    def num_trees(self):
        return self.tree_class.shape[0]

    def predict_scores(self, X):
        """The scores s(x) of each sample: X (N, F) real -> (N, L) float32.

        Each score is summed in float64 (sklearn's order: baseline, then the trees in turn)
        and rounded once to float32. X must be finite (NaN and infinities raise ValueError).
        """
        from ._boost_kernels import tree_scores

        X = self._check_X(X)
        out = np.empty((X.shape[0], self.num_classes), np.float32)
        arrays = [getattr(self, k) for k in ARRAYS]
        in_threads(lambda a, b: tree_scores(X, *arrays, out, a, b), X.shape[0], min_rows=2048)
        return out

    def predict_proba(self, X):
        """softmax of :meth:`predict_scores` over the classes: (N, L) float32, rows summing to 1."""
        s = self.predict_scores(X).astype(np.float64)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def _check_X(self, X):
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X must be a real-valued numeric array, got dtype {X.dtype}")
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ValueError(f"X must have shape (N, {self.num_features}), got {X.shape}")
        X = np.ascontiguousarray(X, X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values")
        return X

    @classmethod
    def from_sklearn(cls, clf):
        """Export a fitted ``sklearn.ensemble.HistGradientBoostingClassifier`` (numeric features).

        Reads its private ``_predictors`` (iterations x classes of trees) and
        ``_baseline_prediction``; ValueError if they are not laid out as this code expects.
        Multi-class: one tree per class and iteration. Binary (one tree per iteration scoring
        the logit of class 1): class 0's score is 0, class 1's the logit, so that softmax gives
        sklearn's probabilities. Class c here is ``clf.classes_[c]``.
        """
        import sklearn
        from sklearn.ensemble import HistGradientBoostingClassifier

        if not isinstance(clf, HistGradientBoostingClassifier):
            raise TypeError(f"clf must be a HistGradientBoostingClassifier, got {type(clf).__name__}")
        if not hasattr(clf, "_predictors"):
            raise ValueError("clf is not fitted")
        categorical = getattr(clf, "is_categorical_", None)
        if (categorical is not None and np.any(categorical)) or getattr(clf, "_preprocessor", None) is not None:
            raise ValueError("clf has categorical features; only numeric features are exported")
        try:
            K, L = clf.n_trees_per_iteration_, len(clf.classes_)
            base = np.asarray(clf._baseline_prediction, np.float64).reshape(-1)
            if base.size != K or not (K == L >= 3 or (K == 1 and L == 2)):
                raise ValueError(f"{K} trees per iteration and a baseline of {base.size} for {L} classes")
            if not clf._predictors or any(len(it) != K for it in clf._predictors):
                raise ValueError(f"the iterations do not hold {K} trees each")
            offset, parts = [0], []
            for tree in (t for it in clf._predictors for t in it):
                parts.append(_sklearn_nodes(tree, offset[-1]))
                offset.append(offset[-1] + len(parts[-1][0]))
            tree_class = np.tile(np.arange(K) if K > 1 else [1], len(clf._predictors))
            baseline = base if K > 1 else np.array([0.0, base[0]])
            return cls(*(np.concatenate(p) for p in zip(*parts)), offset, tree_class, baseline, clf.n_features_in_)
        except (AttributeError, ValueError, TypeError) as exc:
            raise ValueError(f"clf: {exc}; the private tree layout of sklearn {sklearn.__version__} is not "
                             "the one from_sklearn reads (written against sklearn 1.9)") from exc

    def save(self, path):
        """Write the arrays and ``num_features`` to ``path`` (``.npz``, atomically)."""
        meta = {"kind": "BoostedTrees", "num_features": self.num_features}
        save_npz(path, {k: getattr(self, k) for k in ARRAYS}, meta)

    @classmethod
    def load(cls, path):
        """The trees written by :meth:`save`; :class:`~minideeplab.FileFormatError` for any other file."""
        arrays, meta = read_npz(path)
        if not isinstance(meta, dict) or meta.get("kind") != "BoostedTrees":
            raise FileFormatError(path, "is not a BoostedTrees file (no description of kind 'BoostedTrees')")
        missing = [k for k in ARRAYS if k not in arrays]
        if missing:
            raise FileFormatError(path, f"lacks the arrays {missing}")
        try:
            return cls(*(arrays[k] for k in ARRAYS), meta.get("num_features"))
        except (ValueError, TypeError) as exc:
            raise FileFormatError(path, f"its arrays are not valid trees ({exc})") from exc


def _sklearn_nodes(tree, first):
    """feature, threshold, left, right, value of an sklearn ``TreePredictor`` whose root will
    be node ``first`` (its ``nodes`` record array: children are indices in the tree)."""
    nodes = getattr(tree, "nodes", None)
    if not set(NODE_FIELDS) <= set(getattr(getattr(nodes, "dtype", None), "names", None) or ()):
        raise ValueError(f"a tree's nodes lack some of the fields {NODE_FIELDS}")
    if np.any(nodes["is_categorical"]):
        raise ValueError("a tree has a categorical split")
    leaf = nodes["is_leaf"].astype(bool)
    return (np.where(leaf, -1, nodes["feature_idx"]), np.where(leaf, 0.0, nodes["num_threshold"]),
            np.where(leaf, -1, nodes["left"].astype(np.int64) + first),
            np.where(leaf, -1, nodes["right"].astype(np.int64) + first), np.where(leaf, nodes["value"], 0.0))
