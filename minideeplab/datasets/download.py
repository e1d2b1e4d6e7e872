"""Download and unpack a dataset archive: resumable, verified, atomic, with a progress bar."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile

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


def fetch(url, path, sha256=None, progress=True, chunk=1 << 16):
    """Download ``url`` to ``path``: resumes a ``path + ".part"`` left by an interrupted run
    (HTTP Range), checks ``sha256`` if given, and renames into place only when complete."""
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
    archive = os.path.join(dest, os.path.basename(url.split("?")[0]) or "archive.zip")
    if not os.path.exists(archive):
        fetch(url, archive, sha256, progress)
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
            raise ValueError(f"{archive} holds no Images/ folder")
        final = os.path.join(dest, os.path.basename(found) if found != tmp else "msrc")
        if os.path.exists(final):
            raise FileExistsError(f"{final} exists already; remove it to unpack again")
        os.replace(found, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not keep_archive:
        os.unlink(archive)
    return final
