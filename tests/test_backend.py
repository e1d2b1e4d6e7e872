import numpy as np
import pytest

from minideeplab import backend, nn
from minideeplab.models import DeepLab


def test_numpy_is_the_default():
    assert backend.current() == "numpy" and backend.xp() is np
    assert backend.get_array_module(np.zeros(2)) is np
    with pytest.raises(ValueError, match="name must be one of"):
        backend.use("jax")


@pytest.mark.gpu
def test_cupy_path_matches_numpy():
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 17, 17)).astype(np.float32)
    m = DeepLab("DeepLab-MSc-LargeFOV", 4, width=1 / 16, seed=0).eval()
    ref = m.forward(x)
    dref = m.backward(np.ones_like(ref))
    gref = {k: v.copy() for k, v in m.grads.items()}
    m.to(cupy)
    out = m.forward(cupy.asarray(x))
    assert backend.get_array_module(out) is cupy
    assert np.allclose(cupy.asnumpy(out), ref, rtol=1e-4, atol=1e-5)
    dx = m.backward(cupy.ones_like(out))
    assert np.allclose(cupy.asnumpy(dx), dref, rtol=1e-4, atol=1e-5)
    for k, v in m.grads.items():
        assert np.allclose(cupy.asnumpy(v), gref[k], rtol=1e-3, atol=1e-5), k
    loss, cache = nn.softmax_cross_entropy_forward(out, cupy.zeros((2, 3, 3), dtype=cupy.int64))
    assert np.isfinite(loss)


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
