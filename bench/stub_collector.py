#!/usr/bin/env python3
"""A stand-in for Basin's collector, to check basin-loadgen itself (not a benchmark of anything).

Answers POST /v1/streams/<name>/records like Basin does ({"stream":..,"accepted":N,"rejected":[]})
over HTTP/1.1 keep-alive, with asyncio on one thread. Optional faults make the load generator's
error and latency accounting testable:
  --stall-every S --stall-ms M   freeze the whole server for M ms every S seconds (a GC pause or
                                 a slow fsync), which an open-loop generator must charge to every
                                 request scheduled during the freeze;
  --error-every N                answer every Nth request with 503;
  --record-ids FILE              write the event_id of every event answered 200, to compare with
                                 basin-loadgen --verify-acked;
  --validate                     parse every body as JSON / NDJSON and check the required fields;
  --loader-interval-ms N         answer POST /v1/query for "... event_id IN ('a','b')" with the
                                 ids acknowledged before the last simulated flush (every N ms),
                                 to exercise bench/freshness.py.
Listens on 127.0.0.1 only.
"""
import argparse
import asyncio
import gzip
import json
import os
import signal
import time


def parse_events(body: bytes):
    text = body.decode("utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        return json.loads(text)
    if "\n" in text.strip():
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


class Stub:
    def __init__(self, args):
        self.args = args
        self.requests = 0
        self.stalled_until = 0.0
        self.ids_file = open(args.record_ids, "w") if args.record_ids else None
        self.unflushed = []   # ids acknowledged since the last simulated flush
        self.visible = set()  # ids a query can see

    async def flush_loop(self):
        while True:
            await asyncio.sleep(self.args.loader_interval_ms / 1000.0)
            self.visible.update(self.unflushed)
            self.unflushed = []

    def query(self, body):
        sql = json.loads(body)["sql"]
        inside = sql[sql.index("(") + 1:sql.rindex(")")]
        wanted = [x.strip().strip("'") for x in inside.split(",")]
        rows = [[i] for i in wanted if i in self.visible]
        return {"columns": ["event_id"], "rows": rows}

    async def stall_loop(self):
        while True:
            await asyncio.sleep(self.args.stall_every)
            # Blocking on purpose: the whole event loop stops, like a stuck server thread.
            time.sleep(self.args.stall_ms / 1000.0)

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                status, payload = 200, None
                if method == "POST" and target == "/v1/query" and self.args.loader_interval_ms:
                    payload = self.query(body)
                elif method != "POST" or not target.startswith("/v1/streams/"):
                    status, payload = 404, {"error": "not found"}
                elif self.args.error_every and self.requests % self.args.error_every == 0:
                    status, payload = 503, {"error": "injected"}
                else:
                    if headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(body)
                    if self.args.validate or self.ids_file or self.args.loader_interval_ms:
                        events = parse_events(body)
                        for e in events:
                            assert isinstance(e["event_id"], str)
                            assert isinstance(e["event_type"], str)
                            assert isinstance(e["timestamp"], int)
                        n = len(events)
                        if self.ids_file:
                            self.ids_file.write("".join(e["event_id"] + "\n" for e in events))
                        if self.args.loader_interval_ms:
                            self.unflushed.extend(e["event_id"] for e in events)
                    else:
                        n = body.count(b'"event_id"')
                    payload = {"stream": "clickstream", "accepted": n, "rejected": []}
                out = json.dumps(payload, separators=(",", ":")).encode()
                reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(out)}\r\n\r\n".encode() + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--stall-every", type=float, default=0)
    ap.add_argument("--stall-ms", type=float, default=0)
    ap.add_argument("--error-every", type=int, default=0)
    ap.add_argument("--record-ids")
    ap.add_argument("--validate", action="store_true")
    ap.add_argument("--loader-interval-ms", type=float, default=0)
    args = ap.parse_args()
    stub = Stub(args)
    server = await asyncio.start_server(stub.handle, "127.0.0.1", args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, args.port_file)
    print(f"stub_collector listening on 127.0.0.1:{port}", flush=True)
    if args.loader_interval_ms > 0:
        asyncio.ensure_future(stub.flush_loop())
    if args.stall_every > 0 and args.stall_ms > 0:
        asyncio.ensure_future(stub.stall_loop())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Not awaiting wait_closed(): it would wait for idle keep-alive clients to hang up.
    # asyncio.run() cancels the open connection handlers when main() returns.
    server.close()
    if stub.ids_file:
        stub.ids_file.close()
    print(f"stub_collector: {stub.requests} requests", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
