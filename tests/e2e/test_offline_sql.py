#!/usr/bin/env python3
"""`basin sql` reads the data dir offline: ingest, stop the server with SIGTERM, then query with
--format json, csv and table, check errors and refused writes, and start the server again to see
the data unchanged.

    python3 tests/e2e/test_offline_sql.py --basin build/basin
"""

import csv
import decimal
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

EVENTS = [
    {"event_id": "off-1", "event_type": "page_view", "timestamp": 1700000000000,
     "user_id": "u-1"},
    {"event_id": "off-2", "event_type": "purchase", "timestamp": "2024-03-10T01:30:00.250+02:00",
     "revenue": 19.99, "currency": "EUR"},
    {"event_id": "off-3", "event_type": "add_to_cart", "timestamp": 1709251200000, "revenue": 5},
    {"event_id": "off-4", "event_type": "search", "timestamp": 1700000000000, "revenue": 0.5,
     "page_title": 'Hats, caps & more, say "hi"'},
    {"event_id": "off-5", "event_type": "click", "timestamp": 1700000000000},
]
LATE = [  # acknowledged after the last flush, right before SIGTERM
    {"event_id": "off-6", "event_type": "click", "timestamp": 1700000000000},
    {"event_id": "off-7", "event_type": "click", "timestamp": 1700000000000},
]
QUERY = ("SELECT event_id, event_type, event_time, revenue FROM raw.clickstream "
         "WHERE event_id BETWEEN 'off-1' AND 'off-5' ORDER BY event_id")
EXPECTED_ROWS = [
    ["off-1", "page_view", "2023-11-14 22:13:20", None],
    ["off-2", "purchase", "2024-03-09 23:30:00.25", "19.99"],
    ["off-3", "add_to_cart", "2024-03-01 00:00:00", "5.00"],
    ["off-4", "search", "2023-11-14 22:13:20", "0.50"],
    ["off-5", "click", "2023-11-14 22:13:20", None],
]


def run_ok(args, ws, sql, fmt):
    proc = h.offline_sql(args.basin, ws.data_dir, sql, fmt)
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    check(proc.returncode == 0, f"`basin sql --format {fmt}` exited with code "
                                f"{proc.returncode} for {sql!r}; stderr: {err[:2000]}")
    return out


def check_json(args, ws):
    out = run_ok(args, ws, QUERY, "json")
    try:
        doc = json.loads(out, parse_float=decimal.Decimal)
    except ValueError as e:
        raise h.TestFailure(f"--format json printed something that is not JSON ({e}): "
                            f"{out[:1000]}")
    check(isinstance(doc, dict), f"--format json: expected an object, got {out[:500]}")
    columns = doc.get("columns")
    want_columns = [{"name": "event_id", "type": "VARCHAR"},
                    {"name": "event_type", "type": "VARCHAR"},
                    {"name": "event_time", "type": "TIMESTAMP"},
                    {"name": "revenue", "type": "DECIMAL(18,2)"}]
    check(columns == want_columns, f"--format json columns: expected {want_columns}, got "
                                   f"{columns}")
    rows = doc.get("rows")
    check(isinstance(rows, list) and len(rows) == len(EXPECTED_ROWS),
          f"--format json: expected {len(EXPECTED_ROWS)} rows, got {rows}")
    for got, want in zip(rows, EXPECTED_ROWS):
        revenue = got[3]
        check(revenue is None or isinstance(revenue, decimal.Decimal),
              f"--format json: revenue must be a JSON number or null, got {revenue!r} in {got}")
        text = [got[0], got[1], got[2], None if revenue is None else str(revenue)]
        check(text == want, f"--format json: expected row {want}, got {got}")
    print("json: ok", flush=True)


def check_csv(args, ws):
    out = run_ok(args, ws, QUERY, "csv")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    check(rows and rows[0] == ["event_id", "event_type", "event_time", "revenue"],
          f"--format csv: expected the header event_id,event_type,event_time,revenue; got "
          f"{out[:500]!r}")
    body = rows[1:]
    check(len(body) == len(EXPECTED_ROWS), f"--format csv: expected {len(EXPECTED_ROWS)} rows, "
                                           f"got {out[:1500]!r}")
    for got, want in zip(body, EXPECTED_ROWS):
        # NULL's spelling in CSV is not in the contract: only non-null values are compared.
        check(got[:3] == want[:3] and (want[3] is None or got[3] == want[3]),
              f"--format csv: expected row {want}, got {got}")
    # Quoting: a field with a comma and quotes survives the round trip.
    out = run_ok(args, ws, "SELECT event_id, page_title FROM raw.clickstream "
                           "WHERE event_id = 'off-4'", "csv")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    check(rows == [["event_id", "page_title"], ["off-4", 'Hats, caps & more, say "hi"']],
          f"--format csv quoting: got {out!r}")
    check('"Hats, caps & more, say ""hi"""' in out, f"--format csv: expected RFC 4180 quoting, "
                                                   f"got {out!r}")
    print("csv: ok", flush=True)


def check_table(args, ws):
    for fmt in ("table", None):
        out = run_ok(args, ws, QUERY, fmt)
        label = f"--format {fmt}" if fmt else "(no --format)"
        for word in ["event_id", "event_type", "event_time", "revenue", "19.99", "5.00",
                     "0.50", "2024-03-09 23:30:00.25", *[r[0] for r in EXPECTED_ROWS]]:
            check(word in out, f"{label}: expected {word!r} in the output:\n{out[:3000]}")
        if fmt == "table":
            lines = [ln for ln in out.splitlines() if "off-" in ln]
            check(len(lines) == len(EXPECTED_ROWS),
                  f"{label}: expected one line per row ({len(EXPECTED_ROWS)}), got:\n"
                  f"{out[:3000]}")
    print("table: ok", flush=True)


def check_failures(args, ws):
    proc = h.offline_sql(args.basin, ws.data_dir, "SELEC 1", "json")
    check(proc.returncode != 0, "`basin sql` exited 0 for invalid SQL (SELEC 1)")
    check(proc.stderr.strip() != b"", "`basin sql` printed no error message for invalid SQL")
    proc = h.offline_sql(args.basin, ws.data_dir, "SELECT * FROM raw.no_such_table", "json")
    check(proc.returncode != 0, "`basin sql` exited 0 for an unknown table")
    proc = h.offline_sql(args.basin, ws.data_dir, "CREATE TABLE t AS SELECT 1 AS a", "json")
    check(proc.returncode != 0, "`basin sql` ran a write (CREATE TABLE); writes must be refused")
    print("errors: ok", flush=True)


def count_offline(args, ws) -> int:
    out = run_ok(args, ws, "SELECT count(*) AS n FROM raw.clickstream", "json")
    return json.loads(out)["rows"][0][0]


def body(args, ws):
    server = ws.server(args.basin)
    server.start()
    h.check_ack(h.post_events(server, EVENTS), len(EVENTS))
    h.flush(server)
    # While the server runs, the offline path sees what a flush made queryable.
    n_running = count_offline(args, ws)
    check(n_running == len(EVENTS), f"`basin sql` beside a running server counted {n_running} "
                                    f"rows, expected {len(EVENTS)}")
    h.check_ack(h.post_events(server, LATE), len(LATE))
    rc = server.stop()
    check(rc == 0, f"basin serve exited with code {rc} after SIGTERM (expected 0)")

    check_json(args, ws)
    check_csv(args, ws)
    check_table(args, ws)
    check_failures(args, ws)

    # Graceful shutdown flushes: events acknowledged after the last flush are queryable offline.
    n = count_offline(args, ws)
    check(n == len(EVENTS) + len(LATE),
          f"after SIGTERM `basin sql` counts {n} rows, expected {len(EVENTS) + len(LATE)}: "
          "events acknowledged before a graceful shutdown are not queryable offline (the "
          "contract's SIGTERM = stop accepting, flush)")

    # The server starts again on the same dir, with the same data and nothing more.
    server.start()
    h.flush(server)
    rows = h.query(server, "SELECT event_id FROM raw.clickstream ORDER BY event_id")["rows"]
    want = sorted(e["event_id"] for e in EVENTS + LATE)
    check([r[0] for r in rows] == want, f"after the offline queries the server sees {rows}, "
                                        f"expected {want}")
    rc = server.stop()
    check(rc == 0, f"basin serve exited with code {rc} after SIGTERM (expected 0)")


if __name__ == "__main__":
    h.run_e2e("offline_sql", body, time_limit_s=180)
