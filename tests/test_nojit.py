"""The Numba kernels run as plain Python too (NUMBA_DISABLE_JIT=1): the same tests, no JIT.

The CRF tests (but for the few that only repeat the kernels on more points), and the Winograd
convolution's twin tests (loop twin and numerical gradients: every transform kernel, forward and
backward), so that coverage sees the kernels."""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _deselected(out):
    """How many tests pytest's summary line says it deselected."""
    m = re.search(r"(?<!\d)(\d+) deselected", out)
    return int(m.group(1)) if m else 0


def _pytest_without_jit(*args):
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("already running without the JIT")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args,
         "-W", "ignore:overflow encountered:RuntimeWarning"],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(HERE))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    return proc.stdout


@pytest.mark.slow
def test_crf_tests_pass_without_jit():
    # (the thread test only repeats the kernels on a large image: 90 s as Python; the 5-d impulse
    # response and the scene against the exact sums repeat them on more points: 57 and 25 of 161 s,
    # while the twin tests run the 5-d lattice of the bilateral kernel)
    out = _pytest_without_jit(os.path.join(HERE, "test_crf.py"), os.path.join(HERE, "test_crf_twins.py"), "-k",
                              "not same_bits and not unit_gaussian[5] and not lattice_against_exact_on_a_scene")
    assert _deselected(out) == 3


@pytest.mark.slow
def test_winograd_twin_tests_pass_without_jit():
    # (dilation 12 on a 13x13 map repeats the kernels of dilations 3 and 4: 100 of 138 s as Python)
    out = _pytest_without_jit(os.path.join(HERE, "test_nn_ops.py"), "-k",
                              "winograd and (matches_naive or kernel_transform) and not 13-13-12")
    assert "deselected" in out  # the selection matched some tests, not all


@pytest.mark.slow
def test_kernels_are_cached_on_disk(tmp_path):
    """cache=True: the first process writes the compiled kernels where NUMBA_CACHE_DIR points
    (Numba's fallback for read-only installs is its user-wide cache, ~/.cache/numba)."""
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("no JIT, no cache")
    code = ("import numpy as np; from minideeplab.crf import dense_crf, grid_crf; "
            "img = np.zeros((9, 8, 3), np.uint8); p = np.full((2, 9, 8), 0.5); dense_crf(img, p); grid_crf(img, p)")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=os.path.dirname(HERE))
    cached = {p.name.split(".")[1].split("-")[0] for p in tmp_path.rglob("*.nbi")}
    assert {"embed", "splat_rows", "blur", "fill_columns", "update_rows", "grid_step"} <= cached, cached


@pytest.mark.slow
def test_layer_kernel_twin_tests_pass_without_jit():
    """Max pooling, the ReLU and the subnormal flush: the kernels as Python against their readable twins."""
    _pytest_without_jit(os.path.join(HERE, "test_nn_kernels.py"), os.path.join(HERE, "test_subnormal.py"),
                        "-k", "not threads")


@pytest.mark.slow
def test_texture_layout_kernel_passes_without_jit():
    _pytest_without_jit(os.path.join(HERE, "test_unaries.py"), "-k", "layout")


@pytest.mark.slow
def test_unary_kernel_twin_tests_pass_without_jit():
    """The classic unaries' kernels (layout and colour rectangles, boosted trees) as Python.
    (The ``train-unaries`` command's end-to-end run only repeats them on MSRC images: 90 of
    134 s as Python; it runs with the JIT in ``test_textonboost.py``.)"""
    out = _pytest_without_jit(os.path.join(HERE, "test_unaries.py"), os.path.join(HERE, "test_boost.py"),
                              os.path.join(HERE, "test_textonboost.py"), "-k",
                              "not train_unaries_command_writes")
    assert _deselected(out) == 1  # that one test alone


@pytest.mark.slow
def test_direct_conv_twin_tests_pass_without_jit():
    """The direct convolution's kernels as Python: loop twin, numerical gradients, the layer's dispatch."""
    out = _pytest_without_jit(os.path.join(HERE, "test_direct_conv.py"), "-k", "not threads")
    assert "deselected" in out


@pytest.mark.slow
def test_optimizer_kernel_twin_tests_pass_without_jit():
    """The fused SGD and Adam updates as Python against their NumPy twins."""
    _pytest_without_jit(os.path.join(HERE, "test_optim.py"), "-k", "fused")
