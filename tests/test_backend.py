import numpy as np
import pytest

from minideeplab import backend


def test_numpy_is_the_default():
    assert backend.current() == "numpy" and backend.xp() is np
    assert backend.get_array_module(np.zeros(2)) is np
    with pytest.raises(ValueError, match="name must be one of"):
        backend.use("jax")


def test_import_sets_the_openblas_thread_timeout_unless_the_user_did():
    import os
    import subprocess
    import sys

    code = "import os, minideeplab; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"
    env["OPENBLAS_THREAD_TIMEOUT"] = "20"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "20"
