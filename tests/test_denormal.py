"""Flush-to-zero arithmetic (minideeplab.denormal): what the CPU computes, on every thread that
computes for us, and that the command line runs in it and leaves the process as it was."""
import os
import subprocess
import sys

import numpy as np
import pytest

from minideeplab import _numba, denormal

x86_linux = pytest.mark.skipif(not denormal.supported(), reason="FTZ/DAZ of x86-64, set through the C library's fenv")

TINY = np.float32(1e-30)  # normal; TINY * SMALL = 1e-40 is not
SMALL = np.float32(1e-10)


def _product():
    return float(TINY * SMALL)


@pytest.fixture
def flushing():
    assert not denormal.flush_denormal_enabled(), "a test before this one left the mode on"
    assert denormal.set_flush_denormal(True)
    try:
        yield
    finally:
        denormal.set_flush_denormal(False)


@x86_linux
def test_flush_to_zero_and_denormals_are_zero_on_this_thread(flushing):
    subnormal = np.array([1e-40, -3e-39], np.float32)  # stored before: DAZ reads them as zero
    assert denormal.flush_denormal_enabled()
    assert _product() == 0.0  # FTZ: a subnormal result is zero
    assert np.float64(1e-300) * np.float64(1e-10) == 0.0  # float64 too (1e-310 < 2.2e-308)
    assert np.all(subnormal * np.float32(1) == 0)
    assert np.float32(1e-20) * np.float32(1e-10) == np.float32(1e-30)  # normal results stay


@x86_linux
def test_clearing_the_mode_brings_gradual_underflow_back():
    assert denormal.set_flush_denormal(True)
    assert denormal.set_flush_denormal(False)
    assert not denormal.flush_denormal_enabled()
    assert _product() == pytest.approx(1e-40, rel=1e-3)
    assert np.array([1e-40], np.float32)[0] * np.float32(1) > 0


@x86_linux
def test_the_kernel_threads_follow(flushing):
    threads = _numba.get_num_threads()
    _numba.set_num_threads(2)
    try:
        assert denormal.set_flush_denormal(False)
        _numba.side_by_side([_product, _product])  # the pool's thread exists, mode off
        assert denormal.set_flush_denormal(True)
        assert _numba.side_by_side([_product, _product]) == [0.0, 0.0]  # the second ran in the pool
        assert denormal.set_flush_denormal(False)
        here, there = _numba.side_by_side([_product, _product])
        assert here == there == pytest.approx(1e-40, rel=1e-3)
    finally:
        _numba.set_num_threads(threads)


BLAS = """
import sys, numpy as np
from minideeplab import denormal
a = np.full((512, 512), 1e-20, np.float32)
before = np.count_nonzero(a @ a)                 # OpenBLAS's threads have started: mode off
print(denormal.set_flush_denormal(sys.argv[1] == "on"), before, np.count_nonzero(a @ a))
"""


@x86_linux
def test_the_blas_threads_follow():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", BLAS, "on"], env=env, capture_output=True, text=True, check=True)
    ok, before, after = out.stdout.split()
    # every entry is a sum of 1e-40 products: zero only if every thread computing a part flushes
    assert (ok, int(before), int(after)) == ("True", 512 * 512, 0)
    out = subprocess.run([sys.executable, "-c", BLAS, "off"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", str(512 * 512), str(512 * 512)]


@x86_linux
@pytest.mark.parametrize("setting, inside", [(None, True), ("0", False), ("off", False), ("1", True)])
def test_the_command_line_runs_flushed_and_puts_the_mode_back(monkeypatch, capsys, setting, inside):
    from minideeplab import _commands, cli

    if setting is None:
        monkeypatch.delenv("MINIDEEPLAB_FLUSH_DENORMAL", raising=False)
    else:
        monkeypatch.setenv("MINIDEEPLAB_FLUSH_DENORMAL", setting)
    seen = []
    monkeypatch.setattr(_commands, "info", lambda args: seen.append(denormal.flush_denormal_enabled()) or 0)
    assert cli.main(["info"]) == 0
    assert seen == [inside]
    assert not denormal.flush_denormal_enabled()


@x86_linux
def test_the_command_line_leaves_a_mode_already_on(monkeypatch, flushing):
    from minideeplab import _commands, cli

    monkeypatch.delenv("MINIDEEPLAB_FLUSH_DENORMAL", raising=False)
    monkeypatch.setattr(_commands, "info", lambda args: 0)
    assert cli.main(["info"]) == 0
    assert denormal.flush_denormal_enabled()


def test_unsupported_platforms_change_nothing(monkeypatch):
    before = denormal.flush_denormal_enabled()
    monkeypatch.setattr(denormal.platform, "machine", lambda: "arm64")
    assert denormal.supported() is False
    assert denormal.set_flush_denormal(True) is False
    assert denormal.flush_denormal_enabled() is False
    monkeypatch.undo()
    assert denormal.flush_denormal_enabled() == before


@pytest.mark.parametrize("mode", [1, "on", None])
def test_mode_must_be_a_bool(mode):
    with pytest.raises(TypeError, match="mode"):
        denormal.set_flush_denormal(mode)
