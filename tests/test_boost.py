"""The boosted-tree pixel classifier: hand-computed trees, a loop twin of the Numba kernel,
scikit-learn's own predictions for exported models, and the file format.

Only the export tests need scikit-learn; the rest run with NumPy and Numba alone."""
import copy
import math

import numpy as np
import pytest

from minideeplab import FileFormatError
from minideeplab._io import save_npz
from minideeplab.unaries import BoostedTrees
from minideeplab.unaries.boost import ARRAYS

U32 = 2.0 ** -24  # float32's unit roundoff: rounding a float64 v to float32 moves it by at most U32 * |v|


def hand_trees():
    """Two features, three classes. Tree 0 (class 0), a stump: x1 <= 0.5 ? -1 : 2.
    Tree 1 (class 2), depth 2: x0 <= 0 ? (x1 <= -1 ? 0.5 : -0.5) : (x1 <= 1 ? 1.5 : 3).
    Class 1 has no tree: its score is its baseline."""
    #            0     1     2     3     4     5     6     7     8     9
    feature = [1, -1, -1, 0, 1, 1, -1, -1, -1, -1]
    threshold = [0.5, 0, 0, 0.0, -1.0, 1.0, 0, 0, 0, 0]
    left = [1, -1, -1, 4, 6, 8, -1, -1, -1, -1]
    right = [2, -1, -1, 5, 7, 9, -1, -1, -1, -1]
    value = [0, -1.0, 2.0, 0, 0, 0, 0.5, -0.5, 1.5, 3.0]
    return BoostedTrees(feature, threshold, left, right, value, [0, 3, 10], [0, 2], [0.1, -0.2, 0.3], 2)


def test_hand_trees_score_as_computed_by_hand():
    X = np.array([[0.0, 0.5],     # stump: 0.5 <= 0.5 left (-1); tree 1: x0 <= 0, x1 > -1 (-0.5)
                  [1.0, 2.0],     # 2 > 0.5 (2); x0 > 0, x1 > 1 (3)
                  [-3.0, -1.0],   # -1 <= 0.5 (-1); x0 <= 0, x1 <= -1 (0.5)
                  [0.25, 1.0]])   # 1 > 0.5 (2); x0 > 0, x1 <= 1 (1.5)
    expected = np.array([[0.1 - 1, -0.2, 0.3 - 0.5],
                         [0.1 + 2, -0.2, 0.3 + 3],
                         [0.1 - 1, -0.2, 0.3 + 0.5],
                         [0.1 + 2, -0.2, 0.3 + 1.5]])
    trees = hand_trees()
    assert (trees.num_classes, trees.num_features, trees.num_trees) == (3, 2, 2)
    for x in (X, X.astype(np.float32)):   # every value here is a float32 exactly
        s = trees.predict_scores(x)
        assert s.shape == (4, 3) and s.dtype == np.float32
        np.testing.assert_allclose(s, expected, rtol=U32, atol=0)  # float64 sums rounded once
        p = trees.predict_proba(x)
        for i in range(4):
            z = sum(math.exp(v) for v in expected[i])
            np.testing.assert_allclose(p[i], [math.exp(v) / z for v in expected[i]], rtol=1e-6)


def random_trees(rng, n_trees, L, F, max_depth):
    """Random trees (children after parents, preorder) with thresholds on a 0.1 grid, so
    that features drawn from the same grid often tie with them."""
    feature, threshold, left, right, value, offset = [], [], [], [], [], [0]

    def grow(depth):
        n = len(feature)   # a leaf for now
        feature.append(-1), threshold.append(0.0), left.append(-1), right.append(-1), value.append(0.0)
        if depth < max_depth and rng.random() < 0.7:
            feature[n], threshold[n] = int(rng.integers(F)), rng.integers(-15, 16) / 10
            left[n] = grow(depth + 1)
            right[n] = grow(depth + 1)
        else:
            value[n] = rng.normal()
        return n

    for _ in range(n_trees):
        grow(0)
        offset.append(len(feature))
    return BoostedTrees(feature, threshold, left, right, value, offset, rng.integers(0, L, n_trees),
                        rng.normal(size=L), F)


def scores_twin(trees, X):
    """The decision function as it reads: start from the baseline, walk each tree from its
    root to a leaf (left when x <= threshold), add the leaf's value to the tree's class."""
    out = np.zeros((X.shape[0], trees.num_classes))
    for i in range(X.shape[0]):
        s = [float(b) for b in trees.baseline]
        for t in range(trees.num_trees):
            n = trees.tree_offset[t]
            while trees.left[n] != -1:
                n = trees.left[n] if X[i, trees.feature[n]] <= trees.threshold[n] else trees.right[n]
            s[trees.tree_class[t]] += trees.value[n]
        out[i] = s
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_matches_the_loop_twin(rng, dtype):
    trees = random_trees(rng, n_trees=40, L=5, F=6, max_depth=4)
    assert np.sum(trees.left >= 0) > 100   # trees with some depth
    X = (rng.integers(-16, 17, size=(5000, 6)) / 10).astype(dtype)  # >= 2048 rows: more than one thread block
    got = trees.predict_scores(X)
    # the same float64 additions in the same order, rounded once to float32: equal bits
    np.testing.assert_array_equal(got, scores_twin(trees, X).astype(np.float32))


def test_bad_X_is_named():
    trees = hand_trees()
    for bad, err in [(np.zeros(2), ValueError), (np.zeros((3, 5)), ValueError),
                     (np.array([[0.0, np.nan]]), ValueError), (np.array([[np.inf, 0.0]]), ValueError),
                     (np.array([["a", "b"]]), TypeError), (np.array([[1 + 1j, 0]]), TypeError)]:
        with pytest.raises(err, match="X"):
            trees.predict_scores(bad)
    ints = np.array([[0, 1], [1, -2]])
    np.testing.assert_array_equal(trees.predict_scores(ints), trees.predict_scores(ints.astype(np.float64)))


def test_invalid_trees_are_refused():
    t = hand_trees()
    a = {k: getattr(t, k).copy() for k in ARRAYS}

    def make(**change):
        return BoostedTrees(**dict(a, **change), num_features=2)

    with pytest.raises(ValueError, match="left"):
        make(left=np.where(np.arange(10) == 3, 3, a["left"]))   # a node its own child: a walk would loop
    with pytest.raises(ValueError, match="right"):
        make(right=np.where(np.arange(10) == 0, 5, a["right"]))  # a child in the next tree
    with pytest.raises(ValueError, match="tree_class"):
        make(tree_class=[0, 3])
    with pytest.raises(ValueError, match="feature"):
        make(feature=np.where(np.arange(10) == 0, 2, a["feature"]))
    with pytest.raises(ValueError, match="tree_offset"):
        make(tree_offset=[0, 3, 9])
    with pytest.raises(TypeError, match="left"):
        make(left=a["left"].astype(np.float64))


def test_save_load_round_trip(tmp_path, rng):
    trees = random_trees(rng, n_trees=12, L=4, F=3, max_depth=3)
    path = tmp_path / "trees.npz"
    trees.save(path)
    back = BoostedTrees.load(path)
    for k in ARRAYS:
        assert getattr(back, k).dtype == getattr(trees, k).dtype
        np.testing.assert_array_equal(getattr(back, k), getattr(trees, k))
    assert back.num_features == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["trees.npz"]
    X = rng.normal(size=(50, 3))
    np.testing.assert_array_equal(back.predict_scores(X), trees.predict_scores(X))


def test_load_refuses_other_files(tmp_path):
    t = hand_trees()
    arrays = {k: getattr(t, k) for k in ARRAYS}
    (tmp_path / "noise.npz").write_bytes(b"not an archive at all")
    save_npz(tmp_path / "model.npz", {"w": np.zeros(3)}, {"variant": "largefov"})
    save_npz(tmp_path / "short.npz", {k: v for k, v in arrays.items() if k != "value"},
             {"kind": "BoostedTrees", "num_features": 2})
    save_npz(tmp_path / "loop.npz", dict(arrays, left=np.where(np.arange(10) == 0, 0, t.left)),
             {"kind": "BoostedTrees", "num_features": 2})
    for name, what in [("noise", "not an .npz"), ("model", "not a BoostedTrees"), ("short", "lacks"),
                       ("loop", "not valid trees")]:
        with pytest.raises(FileFormatError, match=what) as e:
            BoostedTrees.load(tmp_path / f"{name}.npz")
        assert e.value.path.endswith(f"{name}.npz")
    with pytest.raises(FileNotFoundError):
        BoostedTrees.load(tmp_path / "missing.npz")


# --- export from scikit-learn ---------------------------------------------------------------

@pytest.fixture
def sklearn_one_thread():
    """Skips without scikit-learn; runs its OpenMP loops in one thread (on a busy machine the
    idle threads of a small fit spin for seconds)."""
    pytest.importorskip("sklearn")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def fitted(rng, n_classes, **kw):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = rng.normal(size=(600, 6))
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] + 0.5 * X[:, 2] > 0.3)  # 4 classes
    y = y % n_classes
    flip = rng.random(600) < 0.1
    y[flip] = rng.integers(0, n_classes, flip.sum())
    clf = HistGradientBoostingClassifier(max_iter=20, random_state=0, early_stopping=False, **kw).fit(X, y)
    return clf, rng.normal(size=(300, 6))


def with_root_ties(clf, X):
    """X plus one row per tree whose root feature equals the root's threshold exactly."""
    ties, above = [], []
    for k, tree in enumerate(t for it in clf._predictors for t in it):
        root = tree.nodes[0]
        if not root["is_leaf"]:
            row, f = X[k % len(X)].copy(), root["feature_idx"]
            row[f] = root["num_threshold"]
            ties.append(row.copy())
            row[f] = np.nextafter(row[f], np.inf)
            above.append(row)
    # the ties matter: one ulp above the thresholds, sklearn's scores change
    assert np.any(clf.decision_function(np.array(ties)) != clf.decision_function(np.array(above)))
    return np.concatenate([X, ties])


def assert_matches_sklearn(trees, clf, X):
    ref = clf.decision_function(X)
    ref = ref if ref.ndim == 2 else np.column_stack([np.zeros_like(ref), ref])
    # sklearn's float64 sums (baseline, then the trees in turn), rounded once to float32
    np.testing.assert_allclose(trees.predict_scores(X), ref, rtol=U32, atol=0)
    # scores off by at most U32 * max|s| move a softmax probability by at most twice that,
    # and rounding it to float32 by U32 more
    np.testing.assert_allclose(trees.predict_proba(X), clf.predict_proba(X), rtol=0,
                               atol=2 * U32 * np.abs(ref).max() + U32)


def test_export_multiclass_matches_sklearn(rng, sklearn_one_thread):
    clf, X = fitted(rng, 4)
    trees = BoostedTrees.from_sklearn(clf)
    assert (trees.num_classes, trees.num_features, trees.num_trees) == (4, 6, 80)
    X = with_root_ties(clf, X)
    assert_matches_sklearn(trees, clf, X)
    assert_matches_sklearn(trees, clf, X.astype(np.float32))   # sklearn compares float32 X in float64 too


def test_export_binary_matches_sklearn(rng, sklearn_one_thread):
    clf, X = fitted(rng, 2)
    trees = BoostedTrees.from_sklearn(clf)
    assert (trees.num_classes, trees.num_trees) == (2, 20) and np.all(trees.tree_class == 1)
    X = with_root_ties(clf, X)
    assert np.all(trees.predict_scores(X)[:, 0] == 0)   # softmax([0, logit]) = sigmoid(logit)
    assert_matches_sklearn(trees, clf, X)


def test_export_refuses_what_it_cannot_read(rng, sklearn_one_thread):
    from numpy.lib import recfunctions
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    with pytest.raises(ValueError, match="not fitted"):
        BoostedTrees.from_sklearn(HistGradientBoostingClassifier())
    with pytest.raises(TypeError, match="clf"):
        BoostedTrees.from_sklearn(HistGradientBoostingRegressor())
    X = np.column_stack([rng.integers(0, 3, 200), rng.normal(size=200)])
    cat = HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]).fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="categorical"):
        BoostedTrees.from_sklearn(cat)
    clf, _ = fitted(rng, 4)
    changed = copy.deepcopy(clf)    # a later sklearn that renames a node field
    tree = changed._predictors[0][0]
    tree.nodes = recfunctions.rename_fields(tree.nodes, {"num_threshold": "threshold"})
    with pytest.raises(ValueError, match="private tree layout"):
        BoostedTrees.from_sklearn(changed)
    changed = copy.deepcopy(clf)    # ... or lays out the baseline differently
    changed._baseline_prediction = np.zeros((1, 3))
    with pytest.raises(ValueError, match="private tree layout"):
        BoostedTrees.from_sklearn(changed)
