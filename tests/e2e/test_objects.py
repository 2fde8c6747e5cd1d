#!/usr/bin/env python3
"""Objects end to end (issue 3): `POST /v1/objects` and `basin ingest object` store files
content-addressed and describe them in raw.objects (content type, image size, text statistics,
product link), once per distinct content.

    python3 tests/e2e/test_objects.py --basin build/basin
"""

import hashlib
import os
import struct
import subprocess
import sys
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

SERVE_ARGS = ["--no-schedules"]


def png(width, height, seed=0):
    """A real, decodable RGB PNG."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes(((x * 7 + y * 13 + seed) % 256) for x in range(width * 3))
                   for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def gif(width, height):
    return (b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00"
            + b"\x00\x00\x00\xff\xff\xff" + b",\x00\x00\x00\x00" + struct.pack("<HH", width, height)
            + b"\x00\x02\x02\x44\x01\x00;")


def post_object(server, data, name, **params):
    qs = urllib.parse.urlencode({"name": name, **params})
    return server.request("POST", f"/v1/objects?{qs}", data,
                          {"Content-Type": "application/octet-stream"})


def error_code(resp):
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def body(args, ws):
    server = ws.server(args.basin, extra_args=SERVE_ARGS)
    server.start()

    image = png(7, 5)
    sha = hashlib.sha256(image).hexdigest()
    resp = post_object(server, image, "product_p1.png")
    check(resp.status == 201, f"POST /v1/objects with a PNG: expected 201, got {resp.describe()}")
    doc = resp.json()
    check(doc.get("content_type") == "image/png" and doc.get("image_format") == "png"
          and doc.get("width") == 7 and doc.get("height") == 5,
          f"PNG description: {doc}")
    check(doc.get("sha256") == sha and doc.get("object_key") == f"sha256/{sha}"
          and doc.get("duplicate") is False and doc.get("size_bytes") == len(image)
          and doc.get("product_id") == "p1", f"PNG object: {doc}")
    blob = os.path.join(ws.data_dir, "lake", "raw", "objects", sha[:2], sha)
    check(os.path.isfile(blob), f"the blob is not stored at {blob}")
    with open(blob, "rb") as f:
        check(f.read() == image, "the stored blob differs from the uploaded bytes")

    resp = post_object(server, image, "other-name.png")
    check(resp.status == 200 and resp.json().get("duplicate") is True
          and resp.json().get("object_key") == f"sha256/{sha}",
          f"the same bytes again: expected 200 duplicate, got {resp.describe()}")
    got = h.query(server, "SELECT object_key, original_name, product_id, content_type, width, "
                          "height, source FROM raw.objects")["rows"]
    check(got == [[f"sha256/{sha}", "product_p1.png", "p1", "image/png", 7, 5, "upload"]],
          f"raw.objects after a duplicate upload: {got}")

    resp = post_object(server, b"", "empty.txt")
    check(resp.status == 400 and error_code(resp) == "EmptyInput",
          f"an empty object: {resp.describe()}")
    for raw_name in ["..%2F..%2Fetc%2Fpasswd", "a%00b.png", "a%0Ab.png"]:
        resp = server.request("POST", f"/v1/objects?name={raw_name}", b"hello")
        check(resp.status == 400 and error_code(resp) == "InvalidArgument",
              f"object name {raw_name!r}: expected 400 InvalidArgument, got {resp.describe()}")
    resp = post_object(server, png(3, 3, seed=1), "photo.png", product_id="sku-9")
    check(resp.status == 201 and resp.json().get("product_id") == "sku-9",
          f"an explicit product_id: {resp.describe()}")

    # The CLI, beside the running server, on several kinds of files.
    folder = os.path.join(ws.root, "objects", "products")
    os.makedirs(folder)
    files = {
        "sku-2.gif": gif(4, 3),
        "notes.txt": "Größe: M\nFarbe: rot\nzwei Zeilen\n".encode(),
        "manual.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n",
        "copy.png": image,  # the same bytes as product_p1.png: no second row
    }
    paths = []
    for name, data in files.items():
        p = os.path.join(folder, name)
        with open(p, "wb") as f:
            f.write(data)
        paths.append(p)
    proc = subprocess.run([args.basin, "ingest", "object", *paths, "--data-dir", ws.data_dir],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    check(proc.returncode == 0, f"`basin ingest object` exited {proc.returncode}: {out}")
    got = h.query(server, "SELECT original_name, content_type, image_format, width, height, "
                          "text_encoding, line_count, word_count, product_id, source "
                          "FROM raw.objects ORDER BY original_name")["rows"]
    by_name = {r[0]: r[1:] for r in got}
    check(len(got) == 5, f"raw.objects should hold 5 distinct contents: {got}")
    check("copy.png" not in by_name, f"a duplicate content got a second row: {got}")
    check(by_name.get("sku-2.gif") == ["image/gif", "gif", 4, 3, None, None, None, "sku-2",
                                       "cli"], f"GIF row: {by_name.get('sku-2.gif')}")
    check(by_name.get("notes.txt") == ["text/plain", None, None, None, "utf-8", 3, 6, "notes",
                                       "cli"], f"text row: {by_name.get('notes.txt')}")
    check(by_name.get("manual.pdf", [None])[0] == "application/pdf"
          and by_name["manual.pdf"][4] is None,
          f"PDF row: {by_name.get('manual.pdf')}")
    proc = subprocess.run([args.basin, "ingest", "object", os.path.join(folder, "missing.bin"),
                           "--data-dir", ws.data_dir], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=120)
    check(proc.returncode != 0, "`basin ingest object` of a missing file exited 0")
    n = h.query(server, "SELECT count(*) FROM raw.objects")["rows"][0][0]
    check(n == 5, f"a failed object ingest changed raw.objects: {n} rows")
    code = server.stop()
    check(code == 0, f"basin serve exited with code {code} after SIGTERM")


if __name__ == "__main__":
    h.run_e2e("objects", body, time_limit_s=120)
