"""Flush-to-zero arithmetic (minideeplab.denormal): what the CPU computes, on every thread that
computes for us, and that the command line runs in it and leaves the process as it was."""
import os
import subprocess
import sys

import numba
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
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two kernel threads")
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
import ctypes, sys, numpy as np
from minideeplab import denormal
a = np.full((512, 512), 1e-20, np.float32)
counts = [np.count_nonzero(a @ a)]               # OpenBLAS's threads have started: mode off
libm, env = denormal._libm(), denormal._FEnv()   # this thread only, as a bare fesetenv
libm.fegetenv(ctypes.byref(env)); env.mxcsr |= denormal.BITS; libm.fesetenv(ctypes.byref(env))
counts.append(np.count_nonzero(a @ a))           # the workers' share still computed in microcode
ok = denormal.set_flush_denormal(True)
counts.append(np.count_nonzero(a @ a))
print(ok, *counts)
"""


@x86_linux
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="OpenBLAS runs one thread on one CPU")
def test_the_blas_threads_follow():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", BLAS], env=env, capture_output=True, text=True, check=True)
    ok, before, this_thread, all_threads = out.stdout.split()
    # every entry is a sum of 1e-40 products: zero only where the thread computing it flushes
    assert ok == "True" and int(before) == 512 * 512
    assert 0 < int(this_thread) < 512 * 512  # the premise: the workers compute part of the product
    assert int(all_threads) == 0


ALREADY_ON = BLAS.split("ok = ")[0] + """
from minideeplab import _commands, cli               # this thread on, the workers off
_commands.info = lambda args: print(np.count_nonzero(a @ a)) or 0
cli.main(["info"])
"""


@x86_linux
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="OpenBLAS runs one thread on one CPU")
def test_the_command_line_brings_the_workers_along_when_this_thread_is_already_on():
    """As after torch.set_flush_denormal(True), which sets the calling thread only."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    env.pop("MINIDEEPLAB_FLUSH_DENORMAL", None)
    out = subprocess.run([sys.executable, "-c", ALREADY_ON], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0"]


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
@pytest.mark.parametrize("error, status", [(ValueError("bad"), 2), (BrokenPipeError(), 1),
                                           (SystemExit(3), None), (KeyboardInterrupt(), None)])
def test_the_command_line_puts_the_mode_back_on_every_way_out(monkeypatch, capfd, error, status):
    from minideeplab import _commands, cli

    monkeypatch.delenv("MINIDEEPLAB_FLUSH_DENORMAL", raising=False)

    def fail(args):
        assert denormal.flush_denormal_enabled()
        raise error

    monkeypatch.setattr(_commands, "info", fail)
    stdout = os.dup(1)  # the broken-pipe path points stdout at /dev/null
    try:
        if status is None:
            with pytest.raises(type(error)):
                cli.main(["info"])
        else:
            assert cli.main(["info"]) == status
    finally:
        os.dup2(stdout, 1)
        os.close(stdout)
    assert denormal.get_bits() == 0


@x86_linux
def test_the_command_line_puts_back_the_very_bits_it_found(monkeypatch):
    from minideeplab import _commands, cli

    monkeypatch.delenv("MINIDEEPLAB_FLUSH_DENORMAL", raising=False)
    monkeypatch.setattr(_commands, "info", lambda args: 0)
    assert denormal.set_bits(denormal.FTZ)  # half on, as another library may leave it
    try:
        assert cli.main(["info"]) == 0
        assert denormal.get_bits() == denormal.FTZ
    finally:
        denormal.set_bits(0)


def test_the_command_line_refuses_an_unclear_setting(monkeypatch, capsys):
    from minideeplab import _commands, cli

    monkeypatch.setenv("MINIDEEPLAB_FLUSH_DENORMAL", "O")
    monkeypatch.setattr(_commands, "info", lambda args: 0)
    assert cli.main(["info"]) == 2
    assert "MINIDEEPLAB_FLUSH_DENORMAL must be 0 or 1" in capsys.readouterr().err


WORKER = """
from minideeplab import denormal
from minideeplab.crf.batch import _worker_setup
_worker_setup(denormal.BITS)
print(denormal.get_bits() == denormal.BITS)
"""


@x86_linux
def test_crf_folder_workers_take_the_parents_bits():
    out = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True"]


@x86_linux
@pytest.mark.parametrize("setting, inside", [(None, denormal.BITS), ("0", 0)])
def test_the_training_commands_train_in_the_commands_mode(monkeypatch, tmp_path, setting, inside):
    """``train`` (and ``demo``) leave the mode to main(): MINIDEEPLAB_FLUSH_DENORMAL=0 trains
    with gradual underflow, not in Trainer.fit's own default."""
    from minideeplab import cli
    from minideeplab.train import Trainer

    if setting is None:
        monkeypatch.delenv("MINIDEEPLAB_FLUSH_DENORMAL", raising=False)
    else:
        monkeypatch.setenv("MINIDEEPLAB_FLUSH_DENORMAL", setting)
    seen = []
    def fake_fit(self, *args):  # what the training loop would compute in
        seen.append(denormal.get_bits())
        self.log.append({"iter": 1, "loss": 1.0, "lr": 0.0})
        return [1.0]

    monkeypatch.setattr(Trainer, "_fit", fake_fit)
    assert cli.main(["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "4",
                     "--max-iter", "2", "--quiet", "--out", str(tmp_path)]) == 0
    assert seen == [inside]
    assert denormal.get_bits() == 0


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


@pytest.mark.parametrize("bits", [True, 1 << 3, -1, 0.0, "FTZ"])
def test_bits_must_be_ftz_and_daz_only(bits):
    with pytest.raises(ValueError, match="bits must be a subset of FTZ"):
        denormal.set_bits(bits)


@pytest.mark.parametrize("enabled", [1, "yes", None])
def test_flushing_enabled_must_be_a_bool(enabled):
    with pytest.raises(TypeError, match="enabled must be True or False"):
        with denormal.flushing(enabled):
            pass
