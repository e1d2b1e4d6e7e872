"""The CRF kernels run as plain Python too (NUMBA_DISABLE_JIT=1): the same tests, no JIT."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.slow
def test_crf_tests_pass_without_jit():
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("already running without the JIT")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(HERE, "test_crf.py"),
         "-W", "ignore:overflow encountered:RuntimeWarning"],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(HERE))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
