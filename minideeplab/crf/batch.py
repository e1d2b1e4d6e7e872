"""The CRF over a folder: images and saved probability maps in, label maps (and Q) out.

``IMAGES_DIR`` holds the images (every file not starting with ``.`` must be one that Pillow
reads); ``PROBS_DIR`` holds one ``NAME.npy`` per image ``NAME.*``: the net's probabilities
``(L, H, W)``, matched to the image by its stem. For each image :func:`crf_file` writes::

    OUT/NAME.png          uint8 label indices (arg max of Q), mode "L" (so L <= 256)
    OUT/colour/NAME.png   the same labels in colour             (colour=True)
    OUT/NAME.npy          Q, (L, H, W) float32                  (save_q=True)

each file atomically (a temporary file and a rename), Q and the colour map before the label
map. A job whose outputs all exist is skipped, so a killed run resumes where it stopped.
:func:`crf_folder` runs the jobs in worker processes, one Numba thread each.

A bad input (no ``NAME.npy`` for an image, ``probs`` whose ``(H, W)`` differs from the
image's, a file that is no image, probabilities that do not sum to one) fails that file
alone: its message is collected in the summary and the other files go on.

On a cluster, map the same per-file function with Dask (not a dependency of minideeplab;
the folders must be on a file system that the workers share, and each Dask worker should
run one thread per process, e.g. ``dask worker SCHEDULER --nworkers 16 --nthreads 1``)::

    from dask.distributed import Client
    from minideeplab.crf.batch import crf_file, find_jobs

    client = Client("scheduler:8786")
    jobs, unmatched = find_jobs("images", "probs")        # (name, image, probs) triples
    futures = client.map(crf_file, [j[1] for j in jobs], [j[2] for j in jobs], out_dir="out", method="dense")
    results = client.gather(futures)                      # [{"name", "status", "error", "seconds"}, ...]
"""
from __future__ import annotations

import inspect
import io
import os
import time

import numpy as np

from .._io import FileFormatError, atomic_write_bytes, read_image
from .dense import dense_crf
from .grid import grid_crf

METHODS = {"dense": dense_crf, "grid": grid_crf}


def find_jobs(images_dir, probs_dir):
    """Match the images to their probability maps by stem.

    Returns
    -------
    jobs : list of ``(name, image_path, probs_path)``, sorted by name; ``probs_path`` is
        ``PROBS_DIR/NAME.npy`` whether or not it exists (:func:`crf_file` reports a missing one)
    unmatched : sorted names of ``.npy`` files in ``probs_dir`` without an image
    """
    for what, d in (("images_dir", images_dir), ("probs_dir", probs_dir)):
        if not os.path.isdir(d):
            raise FileNotFoundError(f"{what} is not a folder: {d}")
    files = sorted(f for f in os.listdir(images_dir)
                   if not f.startswith(".") and os.path.isfile(os.path.join(images_dir, f)))
    stem = lambda f: os.path.splitext(f)[0]  # noqa: E731
    jobs = [(stem(f), os.path.join(images_dir, f), os.path.join(probs_dir, stem(f) + ".npy")) for f in files]
    stems = {name for name, _, _ in jobs}
    unmatched = sorted(stem(f) for f in os.listdir(probs_dir) if f.endswith(".npy") and stem(f) not in stems)
    return jobs, unmatched


def output_paths(name, out_dir, save_q=False, colour=False):
    """The files :func:`crf_file` writes for ``name``, the label map last."""
    paths = []
    if save_q:
        paths.append(os.path.join(out_dir, name + ".npy"))
    if colour:
        paths.append(os.path.join(out_dir, "colour", name + ".png"))
    return paths + [os.path.join(out_dir, name + ".png")]


def check_crf_kwargs(method, crf_kwargs):
    """The CRF function for ``method``; ``TypeError``/``ValueError`` for an unknown method,
    a parameter the method does not take, or a bad value (tried on a 2x2 image)."""
    if method not in METHODS:
        raise ValueError(f"method must be 'dense' or 'grid', got {method!r}")
    fn = METHODS[method]
    allowed = set(inspect.signature(fn).parameters) - {"image", "probs", "return_history"}
    unknown = sorted(set(crf_kwargs) - allowed)
    if unknown:
        raise TypeError(f"the {method} CRF takes no parameter {unknown[0]!r} (it takes {', '.join(sorted(allowed))})")
    values = {k: v for k, v in crf_kwargs.items() if k != "compat"}  # an (L, L) compat needs the files' L
    fn(np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 2), 0.5), **values)  # the function's own checks
    return fn


def _read_probs(path):
    if not os.path.exists(path):
        raise ValueError(f"no probability map {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read {path} as a .npy array: {exc}") from None


def _png_bytes(array, mode=None):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def crf_file(image_path, probs_path, out_dir, *, method="dense", save_q=False, colour=False, palette=None,
             **crf_kwargs):
    """The CRF on one image and its probabilities; writes the outputs listed in the module
    docstring. Never raises for a bad input file: the result says what went wrong.

    Parameters
    ----------
    image_path : an image file (read as RGB uint8, (H, W, 3))
    probs_path : a ``.npy`` file of probabilities, (L, H, W), summing to one over L
    out_dir : output folder (created)
    method : "dense" (:func:`~minideeplab.crf.dense_crf`) or "grid" (:func:`~minideeplab.crf.grid_crf`)
    save_q : also write Q, (L, H, W) float32, as ``OUT/NAME.npy``
    colour : also write ``OUT/colour/NAME.png`` (``palette``: (K, 3) uint8, default VOC's)
    **crf_kwargs : the CRF's parameters (``n_iter``, ``w_bilateral``, ...)

    Returns
    -------
    dict with ``name``, ``status`` ("done", "skipped": the outputs existed, or "failed"),
    ``error`` (one line naming the image file, or None) and ``seconds``
    """
    t0 = time.perf_counter()
    name = os.path.splitext(os.path.basename(image_path))[0]
    paths = output_paths(name, out_dir, save_q, colour)
    result = dict(name=name, status="done", error=None, seconds=0.0)
    if all(os.path.exists(p) for p in paths):
        result["status"] = "skipped"
        return result
    try:
        image = read_image(image_path)
        probs = _read_probs(probs_path)
        if probs.ndim == 3 and probs.shape[0] > 256:
            raise ValueError(f"probs has {probs.shape[0]} labels; label PNGs hold at most 256")
        q = METHODS[method](image, probs, **crf_kwargs)
    except (ValueError, TypeError, OSError) as exc:
        problem = exc.problem if isinstance(exc, FileFormatError) else exc
        result.update(status="failed", error=f"{os.path.basename(image_path)}: {problem}")
        return result
    labels = q.argmax(0).astype(np.uint8)
    if save_q:
        buf = io.BytesIO()
        np.save(buf, q.astype(np.float32, copy=False))
        atomic_write_bytes(paths[0], buf.getvalue())
    if colour:
        from ..viz import colorize

        atomic_write_bytes(paths[-2], _png_bytes(colorize(labels, palette)))
    atomic_write_bytes(paths[-1], _png_bytes(labels, "L"))
    result["seconds"] = time.perf_counter() - t0
    return result


def _worker_setup(denormal_bits):
    """A worker process: one kernel thread, the parent's flush-to-zero bits (a spawned process
    does not inherit them)."""
    from .. import denormal
    from .._numba import set_num_threads

    set_num_threads(1)
    if denormal_bits is not None:
        denormal.set_bits(denormal_bits)


def crf_folder(images_dir, probs_dir, out_dir, *, workers=None, method="dense", save_q=False, colour=False,
               palette=None, progress=True, **crf_kwargs):
    """:func:`crf_file` over every image of ``images_dir``, in ``workers`` processes.

    Parameters
    ----------
    images_dir, probs_dir, out_dir : folders (see the module docstring for the layout)
    workers : processes (default: the CPU count, at most one per job); 1 runs in this
        process with its Numba threads; more run in a process pool, one Numba thread each
        (where the pool spawns its workers, as on macOS and Windows, a script calling this
        needs the usual ``if __name__ == "__main__":`` guard)
    method, save_q, colour, palette, **crf_kwargs : as in :func:`crf_file`; the method and
        the parameters are checked once, before any file is read
    progress : a tqdm progress bar (with the count of failures)

    Returns
    -------
    dict: ``done``, ``skipped`` (lists of names), ``failed`` ({name: message}),
    ``unmatched_probs`` (names of ``.npy`` files without an image) and ``seconds``
    """
    from tqdm.auto import tqdm

    check_crf_kwargs(method, crf_kwargs)
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if save_q and os.path.realpath(out_dir) == os.path.realpath(probs_dir):
        raise ValueError(f"out_dir is probs_dir ({probs_dir}): save_q would overwrite the probabilities with Q")
    t0 = time.perf_counter()
    jobs, unmatched = find_jobs(images_dir, probs_dir)
    options = dict(method=method, save_q=save_q, colour=colour, palette=palette, **crf_kwargs)
    summary = dict(done=[], skipped=[], failed={}, unmatched_probs=unmatched, seconds=0.0)
    files = {}
    for name, image, _ in jobs:
        files.setdefault(name, []).append(os.path.basename(image))
    for name, same in files.items():
        if len(same) > 1:  # their outputs would be the same files
            summary["failed"][name] = f"{', '.join(same)}: images share the name {name!r}"
    jobs = [job for job in jobs if len(files[job[0]]) == 1]
    todo = []
    for job in jobs:  # skip finished ones here, without starting a worker for them
        if all(os.path.exists(p) for p in output_paths(job[0], out_dir, save_q, colour)):
            summary["skipped"].append(job[0])
        else:
            todo.append(job)
    bar = tqdm(total=len(todo), desc=f"{method} CRF", unit="image", disable=not progress)

    def record(r):
        if r["status"] == "failed":
            summary["failed"][r["name"]] = r["error"]
            bar.set_postfix(failed=len(summary["failed"]))
        else:
            summary[r["status"]].append(r["name"])
        bar.update(1)

    workers = min(int(workers), len(todo))
    if workers <= 1:
        for _, image, probs in todo:
            record(crf_file(image, probs, out_dir, **options))
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from .. import denormal

        with ProcessPoolExecutor(workers, initializer=_worker_setup, initargs=(denormal.get_bits(),)) as pool:
            futures = [pool.submit(crf_file, image, probs, out_dir, **options) for _, image, probs in todo]
            for f in as_completed(futures):
                record(f.result())
    bar.close()
    summary["done"].sort()
    summary["skipped"].sort()
    summary["failed"] = dict(sorted(summary["failed"].items()))
    summary["seconds"] = time.perf_counter() - t0
    return summary
