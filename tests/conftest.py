import os

import numpy as np
import pytest

from minideeplab.backend import gpu_available
from minideeplab.datasets.msrc import detect_layout

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")
MSRC_DIR = os.environ.get("MINIDEEPLAB_MSRC", os.path.join(SHARED, "data", "msrc"))
# for tests that read MSRC-21 (through minideeplab.datasets.MSRC): skipped without the data
needs_msrc = pytest.mark.skipif(detect_layout(MSRC_DIR) is None, reason=f"MSRC data not found at {MSRC_DIR}")


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and CuPy")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
