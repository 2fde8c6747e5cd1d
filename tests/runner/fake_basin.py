#!/usr/bin/env python3
"""A tiny stand-in for `basin`, used by test_runner_selftest.py (and to dry-run the end-to-end
programs) to exercise server lifecycles (port file, /healthz, SIGTERM, SIGKILL, restart) and the
checks without the real binary. It implements a sliver of the contract and knows a handful of
fixed SQL texts; it is not a model of Basin.

Acknowledged events are fsync'd to <data>/log.jsonl before the 200; a flush rewrites
<data>/lake.jsonl atomically with the deduplicated union.

Fault injection (environment), to prove that the tests catch what they should:
  FAKE_BASIN_TERM_EXIT=N     exit with N on SIGTERM
  FAKE_BASIN_BAD_COUNT=1     the count query answers one too many
  FAKE_BASIN_FAULT=ack_early acknowledge before writing (and write 0.3 s later): loses on kill
  FAKE_BASIN_FAULT=dup       flush does not deduplicate
"""

import argparse
import gzip
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT = os.environ.get("FAKE_BASIN_FAULT", "")


def lake_path(data_dir):
    return os.path.join(data_dir, "lake.jsonl")


def log_path(data_dir):
    return os.path.join(data_dir, "log.jsonl")


def read_ids(path):
    ids = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    ids.append(json.loads(line)["event_id"])
                except ValueError:
                    pass  # a torn last line (killed while writing): never acknowledged
    except FileNotFoundError:
        pass
    return ids


def run_sql(data_dir, sql):
    """(status, document) for the few statements the fake knows."""
    sql = " ".join(sql.split())
    lake = read_ids(lake_path(data_dir))
    if sql in ("SELECT count(*) AS n FROM raw.clickstream", "SELECT count(*) FROM raw.clickstream"):
        n = len(lake) + (1 if os.environ.get("FAKE_BASIN_BAD_COUNT") else 0)
        return 200, {"columns": [{"name": "n", "type": "BIGINT"}], "rows": [[n]]}
    if sql == "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM raw.clickstream":
        return 200, {"columns": [{"name": "n", "type": "BIGINT"}, {"name": "d", "type": "BIGINT"}],
                     "rows": [[len(lake), len(set(lake))]]}
    m = re.fullmatch(r"SELECT event_id, count\(\*\) AS n FROM raw\.clickstream WHERE event_id "
                     r"LIKE '([A-Za-z0-9]+)-%' GROUP BY event_id", sql)
    if m:
        counts = {}
        for i in lake:
            if i.startswith(m.group(1) + "-"):
                counts[i] = counts.get(i, 0) + 1
        return 200, {"columns": [{"name": "event_id", "type": "VARCHAR"},
                                 {"name": "n", "type": "BIGINT"}],
                     "rows": [[k, v] for k, v in counts.items()]}
    if sql == "SELECT event_id FROM raw.clickstream ORDER BY 1":
        return 200, {"columns": [{"name": "event_id", "type": "VARCHAR"}],
                     "rows": [[i] for i in sorted(set(lake))]}
    if sql == "SELECT 1.50::DECIMAL(4,2) AS d, NULL AS x, '' AS e, true AS b":
        return 200, {"columns": [{"name": "d", "type": "DECIMAL(4,2)"},
                                 {"name": "x", "type": "INTEGER"},
                                 {"name": "e", "type": "VARCHAR"},
                                 {"name": "b", "type": "BOOLEAN"}],
                     "rows": [["@1.50@", None, "", True]]}
    if sql.upper().startswith("CREATE"):
        return 403, {"error": {"code": "AccessDenied", "message": "writes are refused"}}
    return 400, {"error": {"code": "SqlError", "message": f"Parser Error: cannot run {sql}"}}


def encode(doc):
    # Lets the fake answer an exact number: "@1.50@" becomes the JSON number 1.50.
    return json.dumps(doc).replace('"@', "").replace('@"', "").encode()


def append_log(server, events):
    with server.lock, open(log_path(server.data_dir), "a", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
        f.flush()
        os.fsync(f.fileno())


def flush_lake(server):
    with server.lock:
        lake = read_ids(lake_path(server.data_dir))
        have = set(lake)
        for i in read_ids(log_path(server.data_dir)):
            if FAULT == "dup" or i not in have:
                have.add(i)
                lake.append(i)
        tmp = lake_path(server.data_dir) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for i in lake:
                f.write(json.dumps({"event_id": i}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, lake_path(server.data_dir))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, doc):
        body = encode(doc)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.reply(status, {"error": {"code": code, "message": message}})

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, {"status": "ok"})
        else:
            self.error(404, "RouteNotFound", self.path)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length > 10 << 20:
            self.error(413, "PayloadTooLarge", "body over 10 MiB")
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if self.path == "/v1/streams/clickstream/records":
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            try:
                if self.headers.get("Content-Type") == "application/x-ndjson":
                    events = [json.loads(x) for x in body.decode().split("\n") if x.strip()]
                else:
                    doc = json.loads(body)
                    events = doc if isinstance(doc, list) else [doc]
            except ValueError:
                return self.error(400, "MalformedJson", "bad JSON")
            accepted, rejected = [], []
            for i, e in enumerate(events):
                if isinstance(e, dict) and isinstance(e.get("event_id"), str):
                    accepted.append(e)
                else:
                    rejected.append({"index": i, "code": "ValidationFailed", "reason": "bad"})
            if FAULT == "ack_early":
                threading.Timer(0.3, append_log, args=(self.server, accepted)).start()
            else:
                append_log(self.server, accepted)
            return self.reply(200, {"stream": "clickstream", "accepted": len(accepted),
                                    "rejected": rejected})
        if self.path.startswith("/v1/streams/"):
            return self.error(404, "StreamNotFound", "no such stream")
        if self.path == "/v1/admin/flush":
            flush_lake(self.server)
            return self.reply(200, {"flushed": True})
        if self.path == "/v1/query":
            status, doc = run_sql(self.server.data_dir, json.loads(body)["sql"])
            return self.reply(status, doc)
        self.error(404, "RouteNotFound", self.path)


def serve(args):
    os.makedirs(args.data_dir, exist_ok=True)
    server = ThreadingHTTPServer((args.address, args.port), Handler)
    server.daemon_threads = True
    server.data_dir = args.data_dir
    server.lock = threading.Lock()

    def on_term(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{server.server_address[1]}\n")
        os.replace(tmp, args.port_file)
    server.serve_forever()
    server.server_close()
    time.sleep(0.1)  # let handlers that already fsync'd finish answering
    flush_lake(server)
    return int(os.environ.get("FAKE_BASIN_TERM_EXIT", "0"))


def sql(args):
    status, doc = run_sql(args.data_dir, args.sql)
    if status != 200:
        print(doc["error"]["message"], file=sys.stderr)
        return 1
    sys.stdout.write(encode(doc).decode() + "\n")
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--data-dir", required=True)
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--address", default="127.0.0.1")
    s.add_argument("--port-file")
    s.add_argument("--aws-port", type=int, default=4566)  # accepted like basin's, not served
    s.add_argument("--log-level", default="info")
    s.add_argument("--loader-interval-ms", type=int, default=1000)
    s.add_argument("--no-fsync", action="store_true")
    q = sub.add_parser("sql")
    q.add_argument("--data-dir", required=True)
    q.add_argument("--format", default="table")
    q.add_argument("sql")
    args = parser.parse_args()
    return serve(args) if args.cmd == "serve" else sql(args)


if __name__ == "__main__":
    sys.exit(main())
