"""Files written whole or not at all, ``.npz`` archives that describe themselves, images,
and the one error every reader raises for a file it cannot use.

An archive is ``np.savez`` of named arrays plus, when there is one, a JSON description
stored as a ``uint8`` array under the key ``"__meta__"`` (no pickles). Model files and
training checkpoints both use this one encoding. Checkpoints written before it kept their
description under ``"meta"``; the readers accept both keys, so old files still load.

Errors: a file that is there but is not what it should be (empty, truncated, random bytes,
an image where an archive was expected, an archive without the expected arrays) raises
:class:`FileFormatError`, whose message names the file and what is wrong. A path that
cannot be opened at all raises the usual ``OSError`` (``FileNotFoundError``,
``IsADirectoryError``, ``PermissionError``), not this.
"""
from __future__ import annotations

import io
import json
import os
import re
import tempfile
import time
import warnings

import numpy as np

from .backend import asnumpy

META_KEY = "__meta__"
OLD_META_KEYS = ("meta",)  # checkpoints of earlier versions
TEMP_PREFIX = ".tmp-"
TEMP_NAME = re.compile(r"\.tmp-[a-z0-9_]{8}.")  # TEMP_PREFIX + mkstemp's 8 random characters + the file's name
STALE_AFTER_S = 60.0


class FileFormatError(ValueError):
    """A file that exists but cannot be read as what it should be.

    Raised by every reader of minideeplab (model files, checkpoints, VGG state dicts, MSRC
    annotations, images, downloaded archives). ``str(err)`` is ``"<path>: <what is wrong>"``;
    ``err.path`` and ``err.problem`` hold the two parts. A subclass of ``ValueError``, so
    ``except ValueError`` catches it too.
    """

    def __init__(self, path, problem):
        super().__init__(path, problem)
        self.path, self.problem = os.fspath(path), problem

    def __str__(self):
        return f"{self.path}: {self.problem}"


def open_for_reading(path):
    """``open(path, "rb")``: the usual OSErrors for a path that is missing, a folder or forbidden."""
    return open(os.fspath(path), "rb")


def describe_error(exc):
    """``"<type>: <message>"`` of an exception, for the parenthesis of a FileFormatError."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def file_in_the_way(folder):
    """The path of a file that stops ``folder`` from being created (``folder`` itself or a
    folder above it is a file), or None."""
    above = os.path.abspath(folder)
    while not os.path.lexists(above):
        above = os.path.dirname(above)
    return None if os.path.isdir(above) else above


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    A reader (or a process killed half-way) sees the old file or the new one, never a
    partial one. The file gets the usual permissions (0666 minus the umask). The temporary
    file is ``.tmp-XXXXXXXX<name>`` in the same folder; one left by a killed process is
    removed by :func:`remove_stale_temp_files` when a later run starts writing there.
    Missing folders are created; ``NotADirectoryError`` if a part of the path is a file,
    ``IsADirectoryError`` if ``path`` is a folder.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    in_the_way = file_in_the_way(folder)
    if in_the_way:
        raise NotADirectoryError(f"cannot write {path}: {in_the_way} is a file, not a folder")
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=os.path.basename(path))
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


def remove_stale_temp_files(folder, older_than_s=STALE_AFTER_S):
    """Delete the temporary files that :func:`atomic_write_bytes` of a killed process left in ``folder``.

    Only regular files named like ours (``.tmp-`` + 8 random characters + a name) and not
    modified for ``older_than_s`` seconds are removed: a writer that is alive rewrites its
    temporary within a fraction of that (it is written in one go, then renamed), so a
    concurrent run's file is left alone. Nothing happens if ``folder`` does not exist.
    Returns the names removed.
    """
    folder = os.fspath(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now = time.time()
    for e in entries:
        try:
            if (TEMP_NAME.match(e.name) and e.is_file(follow_symlinks=False)
                    and now - e.stat(follow_symlinks=False).st_mtime > older_than_s):
                os.unlink(e.path)
                removed.append(e.name)
        except FileNotFoundError:  # renamed or removed by its writer meanwhile
            pass
    return removed


def save_npz(path, arrays: dict, meta: dict | None = None, *, compress: bool = False) -> None:
    """``np.savez`` (``np.savez_compressed`` if ``compress``) of host copies of ``arrays`` and,
    if given, the JSON-able ``meta`` (under ``"__meta__"``), written atomically."""
    if META_KEY in arrays or any(k in arrays for k in OLD_META_KEYS):
        raise ValueError(f"array names {(META_KEY,) + OLD_META_KEYS} are reserved for the description")
    host = {k: asnumpy(v) for k, v in arrays.items()}
    if meta is not None:
        host[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **host)
    atomic_write_bytes(path, buf.getvalue())


def _meta_key(files):
    for key in (META_KEY,) + OLD_META_KEYS:
        if key in files:
            return key
    return None


_KNOWN_STARTS = ((b"\x89PNG", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"BM", "BMP image"),
                 (b"GIF8", "GIF image"), (b"MATLAB", "MATLAB file"), (b"\x80", "pickle"))


def _known_format(head):
    """The name of the format whose signature ``head`` starts with, or None."""
    return next((n for sig, n in _KNOWN_STARTS if head.startswith(sig)), None)


def _what_starts(head):
    """``head!r`` and, if the bytes are a known format's signature, its name."""
    name = _known_format(head)
    return f"{head!r} (a {name})" if name else repr(head)


def _read(path, with_arrays):
    with open_for_reading(path) as fh:
        head = fh.read(8)
        fh.seek(0)
        if not head:
            raise FileFormatError(path, "the file is empty (0 bytes), not an .npz archive")
        if head.startswith(b"\x93NUMPY"):
            raise FileFormatError(path, "holds one .npy array, not an .npz archive of named arrays")
        if not head.startswith(b"PK"):  # np.load would call anything else a pickle
            raise FileFormatError(path, f"not an .npz archive: it starts with {_what_starts(head)}, "
                                        "a zip archive with b'PK'")
        try:
            f = np.load(fh, allow_pickle=False)
        except Exception as exc:  # numpy and zipfile raise a dozen types for broken bytes
            raise FileFormatError(path, f"a truncated or damaged .npz archive ({describe_error(exc)})") from exc
        with f:
            try:
                key = _meta_key(f.files)
                meta = json.loads(bytes(f[key]).decode()) if key else None
                arrays = {k: f[k] for k in f.files if k != key} if with_arrays else None
            except Exception as exc:  # a damaged member (CRC, zlib, header, EOF), pickled arrays, bad JSON
                raise FileFormatError(path, f"cannot read its arrays, damaged or not saved by np.savez "
                                            f"({describe_error(exc)})") from exc
    if meta is not None and not isinstance(meta, dict):
        raise FileFormatError(path, f"its description ({key}) is a JSON {type(meta).__name__}, not an object")
    return arrays, meta


def read_npz(path):
    """``(arrays, meta)`` of an archive: a dict name -> array (the description left out)
    and the decoded description, or None if the file has none.

    Raises :class:`FileFormatError` if the file is not a readable archive (empty,
    truncated, damaged, not a zip, a bare ``.npy``, pickled objects, a description that
    is not a JSON object), ``OSError`` if it cannot be opened.
    """
    return _read(path, with_arrays=True)


def read_npz_meta(path):
    """The decoded description of an archive (None if it has none), without its arrays;
    errors as :func:`read_npz`."""
    return _read(path, with_arrays=False)[1]


def read_image(path):
    """An image file as ``(H, W, 3)`` uint8 RGB (any mode PIL reads is converted).

    Raises :class:`FileFormatError` if the file is not an image PIL can decode (empty,
    truncated, text, ...) or declares more pixels than PIL's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``; the warning PIL gives above half of it counts too),
    ``OSError`` if it cannot be opened.
    """
    from PIL import Image

    with open_for_reading(path) as fh:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(fh) as im:
                    return np.asarray(im.convert("RGB"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise FileFormatError(path, f"refused, a possible decompression bomb ({exc})") from None
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ...
            fh.seek(0)
            head = fh.read(8)
            if not head:
                raise FileFormatError(path, "the file is empty (0 bytes), not an image") from None
            known = _known_format(head)
            unidentified = isinstance(exc, Image.UnidentifiedImageError)
            if unidentified and known is None:
                raise FileFormatError(path, f"not an image in a format PIL reads (PNG, JPEG, BMP, ...): it starts "
                                            f"with {_what_starts(head)}") from None
            why = "PIL cannot identify it" if unidentified else describe_error(exc)
            raise FileFormatError(path, f"a truncated or damaged {known or 'image'} ({why})") from exc
