"""The download helper against a local archive served on 127.0.0.1 (with HTTP Range)."""
import hashlib
import http.server
import io
import os
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from minideeplab.datasets.download import download, fetch


def _archive():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        img = io.BytesIO()
        Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(img, format="BMP")
        z.writestr("MSRC_ObjCategImageDatabase_v2/Images/1_1_s.bmp", img.getvalue())
        z.writestr("MSRC_ObjCategImageDatabase_v2/GroundTruth/1_1_s_GT.bmp", img.getvalue())
        z.writestr("MSRC_ObjCategImageDatabase_v2/padding.bin", os.urandom(200_000))
    return buf.getvalue()


@pytest.fixture
def server():
    data = _archive()
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            rng = self.headers.get("Range")
            seen.append(rng)
            start = int(rng.split("=")[1].rstrip("-")) if rng else 0
            self.send_response(206 if rng else 200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/msrc.zip", data, seen
    httpd.shutdown()


def test_resumes_verifies_and_unpacks_atomically(server, tmp_path):
    url, data, seen = server
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "msrc.zip.part").write_bytes(data[:1000])  # an interrupted earlier run
    root = download(tmp_path, url, sha256=sha, progress=False)
    assert seen == ["bytes=1000-"]  # only the rest was requested
    assert os.path.isfile(os.path.join(root, "Images", "1_1_s.bmp"))
    assert sorted(os.listdir(tmp_path)) == ["MSRC_ObjCategImageDatabase_v2"]  # no .part, no temp, no zip


def test_bad_checksum_leaves_nothing(server, tmp_path):
    url, data, _ = server
    with pytest.raises(ValueError, match="checksum mismatch"):
        fetch(url, str(tmp_path / "a.zip"), sha256="0" * 64, progress=False)
    assert os.listdir(tmp_path) == []
