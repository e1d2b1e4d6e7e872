"""One file format: atomic writes, ``.npz`` arrays plus a JSON description under "__meta__"."""
import os

import numpy as np
import pytest

from minideeplab._io import atomic_write_bytes, read_npz, read_npz_meta, save_npz


def test_save_npz_round_trip_with_and_without_a_description(tmp_path):
    arrays = {"a.weight": np.arange(6.0).reshape(2, 3), "velocity/b": np.ones(2, np.float32)}
    save_npz(tmp_path / "m.npz", arrays, {"variant": "x", "width": 0.5})
    back, meta = read_npz(tmp_path / "m.npz")
    assert meta == {"variant": "x", "width": 0.5} == read_npz_meta(tmp_path / "m.npz")
    assert set(back) == set(arrays) and all(np.array_equal(back[k], v) and back[k].dtype == v.dtype
                                            for k, v in arrays.items())
    with np.load(tmp_path / "m.npz") as f:
        assert set(f.files) == set(arrays) | {"__meta__"}
    save_npz(tmp_path / "p.npz", arrays)
    assert read_npz(tmp_path / "p.npz")[1] is None and read_npz_meta(tmp_path / "p.npz") is None
    with pytest.raises(ValueError, match="reserved"):
        save_npz(tmp_path / "q.npz", {"meta": np.zeros(1)})
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "p.npz"]  # no temporary left behind


def test_the_earlier_meta_key_is_read_too(tmp_path):
    np.savez(tmp_path / "old.npz", w=np.zeros(3), meta=np.frombuffer(b'{"iteration": 7}', np.uint8))
    arrays, meta = read_npz(tmp_path / "old.npz")
    assert meta == {"iteration": 7} == read_npz_meta(tmp_path / "old.npz") and list(arrays) == ["w"]


def test_atomic_write_replaces_whole_files_and_cleans_up_on_failure(tmp_path):
    path = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")
    assert path.read_bytes() == b"two" and os.listdir(path.parent) == ["f.bin"]
