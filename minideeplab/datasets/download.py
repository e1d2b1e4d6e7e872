"""Download and unpack a dataset archive: resumable, verified, atomic, with a progress bar."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import urllib.request
import zipfile

from .._io import STALE_AFTER_S, FileFormatError, describe_error, open_for_reading

MSRC_URL = ("http://download.microsoft.com/download/A/1/1/A116CD80-5B79-407E-B5CE-3D5C6ED8B0D5/"
            "msrc_objcategimagedatabase_v2.zip")
MSRC_SHA256 = None
"""Not pinned: the archive could not be fetched from where this library is developed to
compute it. Pass ``sha256=`` to :func:`download` to verify a copy you trust."""


def sha256sum(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url, path, sha256=None, progress=True, chunk=1 << 16, check=None):
    """Download ``url`` to ``path``: resumes a ``path + ".part"`` left by an interrupted run
    (HTTP Range), checks ``sha256`` if given, and renames into place only when complete.

    ``check(part)``, if given, raises if the downloaded bytes are not usable (e.g. an HTML
    error page instead of an archive); the partial file is then removed, so the next call
    downloads afresh instead of failing the same way again.
    """
    from tqdm.auto import tqdm

    part = path + ".part"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(req) as resp:
        status = getattr(resp, "status", 200)
        if have and status != 206:  # the server ignored the range: start again
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total is not None else None
        with open(part, "ab" if have else "wb") as f, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, disable=not progress,
                     desc=os.path.basename(path)) as bar:
            for block in iter(lambda: resp.read(chunk), b""):
                f.write(block)
                bar.update(len(block))
    if sha256 is not None:
        got = sha256sum(part)
        if got != sha256:
            os.unlink(part)
            raise ValueError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}; "
                             "the partial file was removed, run again")
    if check is not None:
        try:
            check(part)
        except BaseException:
            os.unlink(part)
            raise
    os.replace(part, path)
    return path


def download(dest, url=MSRC_URL, sha256=MSRC_SHA256, progress=True, keep_archive=False):
    """Fetch the MSRC v2 archive into ``dest`` and unpack it; returns the folder with ``Images/``.

    Interrupted downloads resume on the next call. The archive is unpacked into a temporary
    folder inside ``dest`` and moved into place in one rename, so ``dest`` never holds a
    half-unpacked dataset.
    """
    dest = os.fspath(dest)
    os.makedirs(dest, exist_ok=True)
    _remove_stale_unpack_folders(dest)
    archive = os.path.join(dest, os.path.basename(url.split("?")[0]) or "archive.zip")
    if os.path.exists(archive):  # kept by an earlier call (keep_archive=True) or put there by hand
        _check_zip(archive, url, f"; remove {archive} to download it again")
    else:
        fetch(url, archive, sha256, progress,
              check=lambda part: _check_zip(part, url, "; it was not kept, check the URL (url=) and run again",
                                            shown=archive))
    tmp = tempfile.mkdtemp(dir=dest, prefix=".unpack-")
    try:
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
        found = None
        for here, dirs, _files in os.walk(tmp):
            if "Images" in dirs:
                found = here
                break
        if found is None:
            raise FileFormatError(archive, f"(from {url}) holds no Images/ folder; is it the MSRC v2 archive?")
        final = os.path.join(dest, os.path.basename(found) if found != tmp else "msrc")
        if os.path.exists(final):
            raise FileExistsError(f"{final} exists already; remove it to unpack again")
        os.replace(found, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not keep_archive:
        os.unlink(archive)
    return final


def _check_zip(path, url, advice, shown=None):
    """FileFormatError (naming ``shown or path`` and ``url``) unless ``path`` is a zip archive
    whose members all pass their CRC check."""
    shown = shown or path
    with open_for_reading(path) as fh:
        head = fh.read(16)
        fh.seek(0)
        try:
            with zipfile.ZipFile(fh) as z:
                bad = z.testzip()
        except Exception as exc:  # BadZipFile, EOFError, OSError(EINVAL), NotImplementedError, ...
            page = " (an HTML page?)" if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")) else ""
            raise FileFormatError(shown, f"downloaded from {url}, is not a zip archive: it starts with "
                                         f"{head!r}{page} ({describe_error(exc)}){advice}") from None
    if bad is not None:
        raise FileFormatError(shown, f"downloaded from {url}, is damaged: member {bad!r} fails its CRC check{advice}")


def _remove_stale_unpack_folders(dest):
    """Remove the ``.unpack-*`` folders that a killed earlier call left in ``dest``: those in
    which nothing was written for ``STALE_AFTER_S`` seconds (a live unpacking writes files
    all the time, so a concurrent call's folder is left alone)."""
    now = time.time()
    for e in os.scandir(dest):
        if e.name.startswith(".unpack-") and e.is_dir(follow_symlinks=False):
            try:
                stale = now - _newest_mtime(e.path) > STALE_AFTER_S
            except FileNotFoundError:  # its own call finished and removed it meanwhile
                continue
            if stale:
                shutil.rmtree(e.path, ignore_errors=True)


def _newest_mtime(folder):
    return max([os.lstat(folder).st_mtime] + [os.lstat(os.path.join(here, n)).st_mtime
                                              for here, dirs, files in os.walk(folder) for n in dirs + files])
