#!/usr/bin/env python3
"""Batch files end to end (issue 3): uploads over HTTP, `basin ingest` on the CLI, the landing
folder, bad input, and a kill -9 in the middle of a big upload.

    python3 tests/e2e/test_batch_ingest.py --basin build/basin
"""

import hashlib
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

SERVE_ARGS = ["--no-schedules"]
ONE_MIB = 1 << 20


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def upload(server, table, name, body, timeout=300, **params):
    qs = urllib.parse.urlencode({"name": name, **params})
    return server.request("POST", f"/v1/tables/{table}/files?{qs}", body,
                          {"Content-Type": "application/octet-stream"}, timeout=timeout)


def upload_raw_query(server, table, raw_query, body):
    """An upload whose query string is sent exactly as given (for %00 and friends)."""
    return server.request("POST", f"/v1/tables/{table}/files?{raw_query}", body,
                          {"Content-Type": "application/octet-stream"})


def error_code(resp):
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def expect_error(resp, status, code, what):
    check(resp.status == status and error_code(resp) == code,
          f"{what}: expected {status} {code}, got {resp.describe(600)}")
    return resp.json()["error"]["message"]


def cols_of(report):
    return {c["name"]: c["table_type"] for c in report.get("columns", [])}


def table_exists(server, table):
    resp = server.request("GET", f"/v1/tables/{table}")
    return resp.status == 200


def count(server, table):
    if not table_exists(server, table):
        return 0
    return h.query(server, f"SELECT count(*) FROM {table}")["rows"][0][0]


def batch_loads(server, table):
    """(status, original_name, rows_loaded, error) of every ops.batch_loads row of the table
    (none while no load has ever committed, before the table exists)."""
    if not table_exists(server, "ops.batch_loads"):
        return []
    rows = h.query_all(server, "SELECT status, original_name, rows_loaded, error FROM "
                               f"ops.batch_loads WHERE table_name = '{table}' "
                               "ORDER BY loaded_at, original_name")
    return rows


def basin_cli(args, *argv, timeout=300):
    proc = subprocess.run([args.basin, *argv], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ----------------------------------------------------------------------------------------------
# 1. upload, idempotency, schema evolution, incompatible file
# ----------------------------------------------------------------------------------------------


def check_uploads(args, ws, server):
    table = "raw.e2e_items"
    first = b"id,name,price\n1,apple,3\n2,pear,4\n3,plum,5\n"
    resp = upload(server, table, "items-1.csv", first)
    check(resp.status == 201, f"first upload: expected 201, got {resp.describe()}")
    rep = resp.json()
    check(rep.get("already_loaded") is False and rep.get("rows_loaded") == 3
          and rep.get("table") == table and rep.get("original_name") == "items-1.csv"
          and rep.get("format") == "csv" and rep.get("encoding") == "utf-8",
          f"first upload: unexpected load report {rep}")
    cols = cols_of(rep)
    check(cols == {"id": "BIGINT", "name": "VARCHAR", "price": "BIGINT"},
          f"first upload: inferred columns {cols}")
    check(count(server, table) == 3, f"after the first upload {table} holds "
                                     f"{count(server, table)} rows, expected 3")

    resp = upload(server, table, "items-1-again.csv", first)
    check(resp.status == 200 and resp.json().get("already_loaded") is True,
          f"same bytes again: expected 200 already_loaded, got {resp.describe()}")
    check(count(server, table) == 3, "the same file uploaded twice added rows: "
                                     f"{count(server, table)} rows, expected 3")

    evolved = b"id,name,price,color\n4,kiwi,2.5,green\n"
    resp = upload(server, table, "items-2.csv", evolved)
    check(resp.status == 201, f"file with a new column: expected 201, got {resp.describe()}")
    rep = resp.json()
    check(rep.get("columns_added") == ["color"], f"new column: columns_added {rep}")
    widened = rep.get("columns_widened") or []
    check(len(widened) == 1 and widened[0].split()[0] == "price",
          f"2.5 in a BIGINT column: expected price widened, got {rep}")
    check(cols_of(rep).get("price") == "DOUBLE", f"price should now be DOUBLE: {rep}")
    rows = h.query(server, f"SELECT id, name, price, color FROM {table} ORDER BY id")["rows"]
    check(rows == [[1, "apple", 3.0, None], [2, "pear", 4.0, None], [3, "plum", 5.0, None],
                   [4, "kiwi", 2.5, "green"]], f"rows after schema evolution: {rows}")

    bad = b"id,name,price\n5,fig,6\nsix,grape,7\n"
    resp = upload(server, table, "items-bad.csv", bad)
    msg = expect_error(resp, 422, "SchemaIncompatible", "text in a numeric column")
    check("'id'" in msg, f"SchemaIncompatible must name the column 'id': {msg!r}")
    check(count(server, table) == 4, f"a rejected file added rows: {count(server, table)}")
    rejected_dir = os.path.join(ws.data_dir, "lake", "raw", "_rejected", "e2e_items")
    kept = sorted(os.listdir(rejected_dir)) if os.path.isdir(rejected_dir) else []
    data_files = [f for f in kept if not f.endswith(".error.json")]
    check(len(data_files) == 1 and data_files[0].endswith("-items-bad.csv"),
          f"the rejected file must be kept under lake/raw/_rejected/e2e_items/, found {kept}")
    with open(os.path.join(rejected_dir, data_files[0]), "rb") as f:
        check(f.read() == bad, "the kept rejected file differs from what was sent")
    check(data_files[0] + ".error.json" in kept, f"no .error.json beside the rejected file: "
                                                 f"{kept}")
    loads = batch_loads(server, table)
    statuses = [(r[0], r[1], r[2]) for r in loads]
    check(statuses == [("loaded", "items-1.csv", 3), ("loaded", "items-2.csv", 1),
                       ("rejected", "items-bad.csv", 0)],
          f"ops.batch_loads for {table}: {loads}")
    print("uploads: ok", flush=True)


# ----------------------------------------------------------------------------------------------
# 2. bad input over HTTP and the CLI
# ----------------------------------------------------------------------------------------------


def check_bad_input(args, ws, server):
    table = "raw.e2e_bad"
    good = b"k,v\n1,one\n"
    resp = upload(server, table, "good.csv", good)
    check(resp.status == 201, f"good file: {resp.describe()}")

    def unchanged(what):
        n = count(server, table)
        check(n == 1, f"after {what} {table} holds {n} rows, expected 1 (something was loaded)")
        loads = batch_loads(server, table)
        check(len(loads) == 1, f"after {what} ops.batch_loads has {len(loads)} rows for {table}, "
                               f"expected 1: {loads}")

    with open("/bin/true", "rb") as f:
        binary = f.read()
    expect_error(upload(server, table, "true.csv", binary[:256 * 1024]), 415,
                 "UnsupportedMediaType", "ELF bytes sent as CSV")
    unchanged("a binary upload")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    expect_error(upload(server, table, "img.csv", png), 415, "UnsupportedMediaType",
                 "PNG bytes sent as CSV")
    unchanged("a PNG upload")
    expect_error(upload(server, table, "empty.csv", b""), 400, "EmptyInput", "zero bytes")
    unchanged("an empty upload")
    expect_error(upload(server, table, "header.csv", b"k,v\n"), 400, "EmptyInput",
                 "a header-only CSV")
    unchanged("a header-only upload")
    line = b"1," + b"x" * 61 + b"\n"
    big = b"k,v\n" + line * (2 * ONE_MIB // len(line) + 1)
    check(len(big) > 2 * ONE_MIB, "test bug: big body too small")
    expect_error(upload(server, table, "big.csv", big), 413, "PayloadTooLarge",
                 "a 2 MiB upload with --max-upload-bytes 1 MiB")
    unchanged("a too-large upload")
    for raw_query, what in [("name=..", "name '..'"), ("name=a%2Fb.csv", "name with '/'"),
                            ("name=a/b.csv", "name with a raw '/'"),
                            ("name=..%2F..%2Fetc%2Fpasswd", "name '../../etc/passwd'"),
                            ("name=a%00b.csv", "name with NUL"),
                            ("name=a%0Ab.csv", "name with a newline"),
                            ("name=x.csv&encoding=utf-16", "unknown encoding"),
                            ("name=x.csv&format=xml", "unknown format")]:
        expect_error(upload_raw_query(server, table, raw_query, b"k,v\n2,two\n"), 400,
                     "InvalidArgument", what)
        unchanged(what)
    for bad_table in ["raw.Bad", "raw._files", "processed.x", "raw.a..b"]:
        resp = upload(server, bad_table, "x.csv", b"k,v\n2,two\n")
        check(resp.status in (400, 404), f"upload to table {bad_table!r}: expected 400/404, "
                                         f"got {resp.describe()}")
    msg = expect_error(upload(server, table, "latin.csv", b"k,v\n3,caf\xe9\n", encoding="utf-8"),
                       400, "InvalidTextEncoding", "Latin-1 bytes with encoding=utf-8")
    check("line 2" in msg, f"InvalidTextEncoding should name line 2: {msg!r}")
    unchanged("invalid UTF-8")
    lake_tmp = os.path.join(ws.data_dir, "lake", "_tmp", "batch")
    leftovers = os.listdir(lake_tmp) if os.path.isdir(lake_tmp) else []
    check(leftovers == [], f"refused uploads left files in lake/_tmp/batch: {leftovers}")

    # The CLI, beside the running server, on the same data dir.
    tmp = os.path.join(ws.root, "cli")
    latin = write_file(os.path.join(tmp, "people.csv"),
                       "id,name,city\n1,José,Málaga\n2,Jürgen Müller,Köln\n".encode("latin-1"))
    utf8 = write_file(os.path.join(tmp, "more.csv"), "id,name,city\n3,Zoë,Zürich\n".encode())
    rc, out, err = basin_cli(args, "ingest", latin, utf8, "--table", "raw.e2e_people",
                             "--data-dir", ws.data_dir)
    check(rc == 0, f"`basin ingest` of two good files exited {rc}; stdout {out!r} stderr {err!r}")
    lines = (out + err).splitlines()
    people = [ln for ln in lines if "people.csv" in ln]
    more = [ln for ln in lines if "more.csv" in ln]
    check(len(people) == 1 and "loaded" in people[0] and "2 rows" in people[0]
          and "latin-1" in people[0] and "raw.e2e_people" in people[0],
          f"`basin ingest`: expected one summary line for people.csv saying loaded, 2 rows, "
          f"latin-1: {lines}")
    check(len(more) == 1 and "1 rows" in more[0] and "utf-8" in more[0],
          f"`basin ingest`: expected one summary line for more.csv: {lines}")
    rows = h.query(server, "SELECT id, name, city FROM raw.e2e_people ORDER BY id")["rows"]
    check(rows == [[1, "José", "Málaga"], [2, "Jürgen Müller", "Köln"], [3, "Zoë", "Zürich"]],
          f"Latin-1 text was not converted right: {rows}")
    loads = h.query(server, "SELECT original_name, source, encoding FROM ops.batch_loads WHERE "
                            "table_name = 'raw.e2e_people' ORDER BY original_name")["rows"]
    check(loads == [["more.csv", "cli", "utf-8"], ["people.csv", "cli", "latin-1"]],
          f"ops.batch_loads of the CLI loads: {loads}")

    rc, out, err = basin_cli(args, "ingest", latin, "--table", "raw.e2e_people",
                             "--data-dir", ws.data_dir)
    check(rc == 0, f"`basin ingest` of an already loaded file exited {rc} (not an error): "
                   f"{out!r} {err!r}")
    check("already loaded" in out + err, f"re-ingest should say already loaded: {out!r} "
                                         f"{err!r}")
    empty = write_file(os.path.join(tmp, "empty.csv"), b"")
    elf = write_file(os.path.join(tmp, "true.csv"), binary[:65536])
    rc, out, err = basin_cli(args, "ingest", empty, elf, "--table", "raw.e2e_people",
                             "--data-dir", ws.data_dir)
    check(rc == 1, f"`basin ingest` of an empty and a binary file exited {rc}, expected 1: "
                   f"{out!r} {err!r}")
    text = out + err
    failed = [ln for ln in text.splitlines() if "failed" in ln]
    check(len(failed) == 2 and "EmptyInput" in text and "UnsupportedMediaType" in text,
          f"`basin ingest` should print one failure line each, naming EmptyInput and "
          f"UnsupportedMediaType: {text!r}")
    rc, out, err = basin_cli(args, "ingest", os.path.join(tmp, "nope.csv"), "--table",
                             "raw.e2e_people", "--data-dir", ws.data_dir)
    check(rc != 0, f"`basin ingest` of a missing file exited 0: {out!r} {err!r}")
    rc, out, err = basin_cli(args, "ingest", utf8, "--table", "processed.people",
                             "--data-dir", ws.data_dir)
    check(rc != 0, f"`basin ingest --table processed.people` exited 0: {out!r} {err!r}")
    n = count(server, "raw.e2e_people")
    check(n == 3, f"after the failed CLI loads raw.e2e_people holds {n} rows, expected 3")
    print("bad input and CLI: ok", flush=True)


# ----------------------------------------------------------------------------------------------
# 3. landing folder
# ----------------------------------------------------------------------------------------------


def land(ws, table_name, file_name, data):
    folder = os.path.join(ws.data_dir, "lake", "landing", table_name)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, "." + file_name + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
    old = time.time() - 3600
    os.utime(tmp, (old, old))
    final = os.path.join(folder, file_name)
    os.rename(tmp, final)
    return final


def sweep(server):
    resp = server.request("POST", "/v1/admin/landing-sweep", b"", timeout=300)
    check(resp.status == 200, f"landing-sweep answered {resp.describe()}")
    return resp.json()


def check_landing(args, ws, server):
    good = land(ws, "e2e_landed", "day1.csv", b"sku,qty\na,1\nb,2\nc,3\n")
    young_folder = os.path.join(ws.data_dir, "lake", "landing", "e2e_landed")
    doc = sweep(server)
    check(not os.path.exists(good), f"the loaded landing file is still there; sweep said {doc}")
    rows = h.query(server, "SELECT sku, qty FROM raw.e2e_landed ORDER BY sku")["rows"]
    check(rows == [["a", 1], ["b", 2], ["c", 3]], f"landed rows: {rows}")
    src = h.query(server, "SELECT source, original_name FROM ops.batch_loads WHERE "
                          "table_name = 'raw.e2e_landed'")["rows"]
    check(src == [["landing", "day1.csv"]], f"ops.batch_loads of a landed file: {src}")

    bad = land(ws, "e2e_landed", "day2.csv", b"sku,qty\nd,four\n")
    doc = sweep(server)
    check(not os.path.exists(bad), f"the rejected landing file is still in place; sweep: {doc}")
    rej = os.path.join(young_folder, "_rejected")
    check(os.path.isfile(os.path.join(rej, "day2.csv")),
          f"rejected landing file not under landing/e2e_landed/_rejected/: "
          f"{os.listdir(rej) if os.path.isdir(rej) else 'no _rejected folder'}")
    err_path = os.path.join(rej, "day2.csv.error.json")
    check(os.path.isfile(err_path), f"no day2.csv.error.json in {os.listdir(rej)}")
    with open(err_path, encoding="utf-8") as f:
        err = json.load(f)
    check(err.get("code") == "SchemaIncompatible" and "qty" in err.get("message", ""),
          f"error.json of the rejected landing file: {err}")
    check(count(server, "raw.e2e_landed") == 3, "a rejected landing file added rows")

    # A file still being written (fresh mtime) is left for the next sweep.
    fresh = os.path.join(young_folder, "day3.csv")
    with open(fresh, "wb") as f:
        f.write(b"sku,qty\ne,5\n")
    sweep(server)
    check(os.path.exists(fresh), "a landing file modified just now was taken before it settled")
    check(count(server, "raw.e2e_landed") == 3, "an unsettled landing file was loaded")
    old = time.time() - 3600
    os.utime(fresh, (old, old))
    sweep(server)
    check(not os.path.exists(fresh) and count(server, "raw.e2e_landed") == 4,
          "a settled landing file was not loaded by the next sweep")
    print("landing: ok", flush=True)


# ----------------------------------------------------------------------------------------------
# 6. kill -9 during a big upload
# ----------------------------------------------------------------------------------------------


def big_csv(path, rows):
    with open(path, "wb") as f:
        f.write(b"order_id,customer_id,amount,status,note\n")
        chunk = []
        for i in range(rows):
            chunk.append(f"o{i},c{i % 9973},{i % 1000}.{i % 100:02d},paid,"
                         f"note number {i} for the crash test\n")
            if len(chunk) == 50000:
                f.write("".join(chunk).encode())
                chunk = []
        f.write("".join(chunk).encode())


def crash_cycle(server, data_dir, table, body, rows, delay_s, strict=True):
    """Sends `body` to `table`, SIGKILLs the server `delay_s` after the last byte went out (and
    before any answer), restarts it and checks all-or-nothing, then re-sends and checks the file
    is loaded exactly once. Returns the load's duration in seconds (from the report). Not
    `strict`: an answer that came before the kill is allowed (a faster machine than the delay
    was measured on); then every row must survive the kill."""
    # The request goes out on a raw socket so that the kill lands after the last byte is sent
    # and before any answer.
    head = (f"POST /v1/tables/{table}/files?name=big.csv HTTP/1.1\r\n"
            f"Host: {h.LOCALHOST}:{server.port}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock = socket.create_connection((h.LOCALHOST, server.port), timeout=120)
    sent_at = time.monotonic()
    sock.sendall(head + body)
    sent_s = time.monotonic() - sent_at
    time.sleep(delay_s)
    readable, _, _ = select.select([sock], [], [], 0)
    check(not readable or not strict,
          f"the server answered the big upload within {delay_s:.1f} s of receiving it; the "
          "kill would not land mid-load (make the file bigger)")
    rc = server.kill()
    answered = sock.recv(65536) if readable else b""
    sock.close()
    print(f"crash: sent {len(body) / ONE_MIB:.0f} MiB to {table} in {sent_s:.1f} s, killed the "
          f"server (status {rc}) {delay_s:.1f} s later, "
          + (f"after it answered {answered[:12]!r}" if readable else "before any answer"),
          flush=True)
    server.start()
    n = count(server, table)
    print(f"crash: after the restart {table} holds {n} rows", flush=True)
    check(n in (0, rows), f"after kill -9 during the upload {table} holds {n} rows: neither all "
                          f"({rows}) nor none")
    if answered.startswith(b"HTTP/1.1 201"):
        check(n == rows, f"the upload was answered 201 before the kill, but after the restart "
                         f"{table} holds {n} rows, expected {rows}")
    if n:
        loads = batch_loads(server, table)
        check(len(loads) == 1, f"ops.batch_loads after the crash: {loads}")
    else:
        check(batch_loads(server, table) == [], "ops.batch_loads lists a load whose rows are "
                                                "not in the table")
    resp = upload(server, table, "big.csv", body, timeout=600)
    want = 200 if n else 201
    check(resp.status == want, f"re-sending the file after the crash: expected {want}, got "
                               f"{resp.describe(500)}")
    n2 = count(server, table)
    check(n2 == rows, f"after re-sending {table} holds {n2} rows, expected {rows}")
    distinct = h.query(server, f"SELECT count(DISTINCT order_id) FROM {table}")["rows"][0][0]
    check(distinct == rows, f"{distinct} distinct order ids of {rows}: rows loaded twice")
    loads = batch_loads(server, table)
    check(len(loads) == 1 and loads[0][0] == "loaded" and loads[0][2] == rows,
          f"ops.batch_loads after re-sending: {loads}")
    # Nothing the crashed load wrote is left behind once the server has restarted.
    name = table.split(".", 1)[1]
    raw_folder = os.path.join(data_dir, "lake", "raw", name)
    parquet = [f for f in os.listdir(raw_folder) if f.endswith(".parquet")]
    check(len(parquet) == 1, f"raw/{name} holds {parquet}: orphans of the crashed load")
    sha = hashlib.sha256(body).hexdigest()
    kept = sorted(os.listdir(os.path.join(data_dir, "lake", "raw", "_files", name)))
    check(kept == [f"{sha}.csv"], f"raw/_files/{name} holds {kept}, expected only {sha}.csv")
    return resp.json().get("duration_ms", 0) / 1000.0


def check_kill_during_upload(args, ws):
    data_dir = os.path.join(ws.root, "crash-data")
    work = os.path.join(ws.root, "crash")
    os.makedirs(work, exist_ok=True)
    server = h.BasinServer(args.basin, data_dir, work, extra_args=SERVE_ARGS)
    ws.servers.append(server)
    rows = 1_000_000
    path = os.path.join(ws.root, "big.csv")
    big_csv(path, rows)
    with open(path, "rb") as f:
        body = f.read()
    os.unlink(path)
    print(f"crash: generated {len(body) / ONE_MIB:.0f} MiB, {rows} rows", flush=True)
    server.start()
    # Early in the load (hashing, keeping the original, DuckDB reading) ...
    duration = crash_cycle(server, data_dir, "raw.e2e_big", body, rows, 0.5)
    # ... and about halfway through it, as long as the first load took.
    crash_cycle(server, data_dir, "raw.e2e_big2", body, rows, max(0.5, duration * 0.5),
                strict=False)
    code = server.stop()
    check(code == 0, f"server exited {code} after SIGTERM")
    print("kill -9 during upload: ok", flush=True)


def body(args, ws):
    server = ws.server(args.basin, extra_args=SERVE_ARGS + ["--max-upload-bytes", str(ONE_MIB)])
    server.start()
    check_uploads(args, ws, server)
    check_bad_input(args, ws, server)
    check_landing(args, ws, server)
    code = server.stop()
    check(code == 0, f"basin serve exited with code {code} after SIGTERM")
    check_kill_during_upload(args, ws)


if __name__ == "__main__":
    h.run_e2e("batch_ingest", body, time_limit_s=240)
