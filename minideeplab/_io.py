"""Files written whole or not at all, and ``.npz`` archives that describe themselves.

An archive is ``np.savez`` of named arrays plus, when there is one, a JSON description
stored as a ``uint8`` array under the key ``"__meta__"`` (no pickles). Model files and
training checkpoints both use this one encoding. Checkpoints written before it kept their
description under ``"meta"``; the readers accept both keys, so old files still load.
"""
from __future__ import annotations

import io
import json
import os
import tempfile

import numpy as np

from .backend import asnumpy

META_KEY = "__meta__"
OLD_META_KEYS = ("meta",)  # checkpoints of earlier versions


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    A reader (or a process killed half-way) sees the old file or the new one, never a
    partial one. The file gets the usual permissions (0666 minus the umask).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make shared files unreadable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_npz(path, arrays: dict, meta: dict | None = None) -> None:
    """``np.savez`` of host copies of ``arrays`` and, if given, the JSON-able ``meta``
    (under ``"__meta__"``), written atomically."""
    if META_KEY in arrays or any(k in arrays for k in OLD_META_KEYS):
        raise ValueError(f"array names {(META_KEY,) + OLD_META_KEYS} are reserved for the description")
    host = {k: asnumpy(v) for k, v in arrays.items()}
    if meta is not None:
        host[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **host)
    atomic_write_bytes(path, buf.getvalue())


def _meta_key(files):
    for key in (META_KEY,) + OLD_META_KEYS:
        if key in files:
            return key
    return None


def read_npz(path):
    """``(arrays, meta)`` of an archive: a dict name -> array (the description left out)
    and the decoded description, or None if the file has none."""
    with np.load(path, allow_pickle=False) as f:
        key = _meta_key(f.files)
        meta = json.loads(bytes(f[key]).decode()) if key else None
        arrays = {k: f[k] for k in f.files if k != key}
    return arrays, meta


def read_npz_meta(path):
    """The decoded description of an archive (None if it has none), without its arrays."""
    with np.load(path, allow_pickle=False) as f:
        key = _meta_key(f.files)
        return json.loads(bytes(f[key]).decode()) if key else None
