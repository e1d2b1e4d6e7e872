"""The Numba kernels run as plain Python too (NUMBA_DISABLE_JIT=1): the same tests, no JIT.

The CRF tests (but for the few that only repeat the kernels on more points), and the Winograd
convolution's twin tests (loop twin and numerical gradients: every transform kernel, forward and
backward), so that coverage sees the kernels.

Each run is a pytest process of its own, and as plain Python it keeps one core busy: the module
starts the selected runs two at a time (the ``nojit`` fixture, longest first), and each test
waits for its own run's outcome."""
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _tests(*names):
    return [os.path.join(HERE, n) for n in names]


RUNS = {  # test -> its run's pytest arguments, longest first (seconds as Python on two cores, 2026-12-05)
    "test_crf_tests_pass_without_jit": _tests("test_crf.py", "test_crf_twins.py") + [  # 85 s
        # (the thread test only repeats the kernels on a large image: 90 s as Python; the 5-d impulse
        # response and the scene against the exact sums repeat them on more points: 57 and 25 of
        # 161 s, while the twin tests run the 5-d lattice of the bilateral kernel)
        "-k", "not same_bits and not unit_gaussian[5] and not lattice_against_exact_on_a_scene"],
    "test_unary_kernel_twin_tests_pass_without_jit": _tests("test_unaries.py", "test_boost.py",  # 49 s
                                                            "test_textonboost.py") + [
        "-k", "not train_unaries_command_writes"],
    "test_winograd_twin_tests_pass_without_jit": _tests("test_nn_ops.py") + [  # 40 s
        # (dilation 12 on a 13x13 map repeats the kernels of dilations 3 and 4: 100 of 138 s as Python)
        "-k", "winograd and (matches_naive or kernel_transform) and not 13-13-12"],
    "test_direct_conv_twin_tests_pass_without_jit": _tests("test_direct_conv.py") + ["-k", "not threads"],  # 23 s
    "test_layer_kernel_twin_tests_pass_without_jit": _tests("test_nn_kernels.py", "test_subnormal.py") + [  # 13 s
        "-k", "not threads and not fused_model"],  # (whole nets: the fusion's logic, no kernel of its own)
    "test_optimizer_kernel_twin_tests_pass_without_jit": _tests("test_optim.py") + ["-k", "fused"],
}


def _deselected(out):
    """How many tests pytest's summary line says it deselected."""
    m = re.search(r"(?<!\d)(\d+) deselected", out)
    return int(m.group(1)) if m else 0


TIMEOUT_S = 900  # a run that hangs is killed (and its test fails) rather than holding up the teardown


def _pytest_without_jit(args):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args,
         "-W", "ignore:overflow encountered:RuntimeWarning"],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(HERE), timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def nojit(request):
    """``nojit(test_name)``: the stdout of that test's run, which passed. The runs of the tests
    selected in this module start at the first call, two at a time (under pytest-xdist, whose
    workers each see every test, a run starts when its test asks for it)."""
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("already running without the JIT")
    pool = ThreadPoolExecutor(max_workers=2)
    runs = {}
    if "PYTEST_XDIST_WORKER" not in os.environ:
        selected = {item.name for item in request.session.items if getattr(item, "module", None) is request.module}
        runs = {name: pool.submit(_pytest_without_jit, args) for name, args in RUNS.items() if name in selected}

    def outcome(name):
        if name not in runs:
            runs[name] = pool.submit(_pytest_without_jit, RUNS[name])
        proc = runs[name].result()
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert " passed" in proc.stdout and "failed" not in proc.stdout
        return proc.stdout

    yield outcome
    pool.shutdown(cancel_futures=True)


@pytest.mark.slow
def test_crf_tests_pass_without_jit(nojit):
    assert _deselected(nojit("test_crf_tests_pass_without_jit")) == 3


@pytest.mark.slow
def test_winograd_twin_tests_pass_without_jit(nojit):
    assert "deselected" in nojit("test_winograd_twin_tests_pass_without_jit")  # the selection matched some tests, not all


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
def test_layer_kernel_twin_tests_pass_without_jit(nojit):
    """Max pooling, the ReLU and the subnormal flush: the kernels as Python against their readable twins."""
    nojit("test_layer_kernel_twin_tests_pass_without_jit")


@pytest.mark.slow
def test_unary_kernel_twin_tests_pass_without_jit(nojit):
    """The classic unaries' kernels (layout and colour rectangles, boosted trees) as Python.
    (The ``train-unaries`` command's end-to-end run only repeats them on MSRC images: 90 of
    134 s as Python; it runs with the JIT in ``test_textonboost.py``.)"""
    assert _deselected(nojit("test_unary_kernel_twin_tests_pass_without_jit")) == 1  # that one test alone


@pytest.mark.slow
def test_direct_conv_twin_tests_pass_without_jit(nojit):
    """The direct convolution's kernels as Python: loop twin, numerical gradients, the layer's dispatch."""
    assert "deselected" in nojit("test_direct_conv_twin_tests_pass_without_jit")


@pytest.mark.slow
def test_optimizer_kernel_twin_tests_pass_without_jit(nojit):
    """The fused SGD and Adam updates as Python against their NumPy twins."""
    nojit("test_optimizer_kernel_twin_tests_pass_without_jit")


def test_every_run_has_its_test():
    """RUNS names exactly the tests that ask for the ``nojit`` fixture."""
    import inspect

    takers = {name for name, f in globals().items()
              if name.startswith("test_") and callable(f) and "nojit" in inspect.signature(f).parameters}
    assert takers == set(RUNS)
