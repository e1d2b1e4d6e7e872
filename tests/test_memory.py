"""import minideeplab keeps freed memory in the heap (glibc): the second large array of an
iteration costs no page faults. Measured with the process's minor-fault counter."""
import os
import subprocess
import sys

import pytest

CODE = """
import resource, minideeplab, numpy as np
a = np.ones(1 << 24, np.float32); del a          # 64 MiB, touched, freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(1 << 24, np.float32)                 # the same size again
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env_value):
    env = dict(os.environ, MINIDEEPLAB_KEEP_FREED_MEMORY=env_value)
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_page_faults():
    kept, default = _faults("1"), _faults("0")
    # glibc's default munmaps the freed 64 MiB and faults it in again: 16384 faults of 4 KiB
    # pages, ~500 here (the kernel maps some as 2 MiB pages), at least 32 with 2 MiB pages only
    assert default >= 24, default
    assert kept <= 8, kept


def test_opt_out_and_return_values(monkeypatch):
    from minideeplab import _memory

    monkeypatch.setenv("MINIDEEPLAB_KEEP_FREED_MEMORY", "0")
    assert _memory.apply_default() is False
    monkeypatch.setattr(_memory.sys, "platform", "darwin")
    assert _memory.keep_freed_memory() is False
