#!/usr/bin/env python3
"""Event -> queryable freshness: how long after Basin acknowledges an event it shows up in SQL.

A sender posts batches of clickstream events at a steady rate on a keep-alive connection; the
first event of every Nth batch is a probe whose acknowledgement time is recorded. A poller asks
POST /v1/query for the probes not yet seen, every --poll-ms, and stamps each probe with the time
the first answer containing it arrived. The sample is that minus the ack time, an upper bound
that is at most one poll interval plus one query late (both are reported).

Prints one JSON line: samples, p50/p95/max in ms, and the query round-trip times.
Talks to 127.0.0.1 only; every loop is bounded by --timeout.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


def make_event(event_id, rng):
    product = rng.randrange(10000, 99999)
    return {
        "event_id": event_id,
        "event_type": rng.choice(["_page_view", "_click", "_scroll", "add_to_cart"]),
        "timestamp": int(time.time() * 1000),
        "app_id": "shop",
        "user_id": f"u{rng.randrange(100000, 999999)}",
        "session_id": f"{rng.getrandbits(32):08x}-20240501-{rng.randrange(100000, 999999)}",
        "page_url": "https://shop.example.com/product",
        "product_id": f"sku-{product}",
        "price": rng.randrange(5, 200) + 0.99,
        "country_code": "US",
        "locale": "en-US",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) freshness-probe",
    }


class Freshness:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.acked = {}    # probe id -> monotonic ack time
        self.visible = {}  # probe id -> monotonic time of the first answer that contained it
        self.query_ms = []
        self.query_errors = {}
        self.send_errors = {}
        self.sending_done = threading.Event()
        self.deadline = time.monotonic() + args.timeout

    def send_loop(self):
        a = self.args
        rng = random.Random(a.run_id)
        conn = http.client.HTTPConnection(a.host, a.port, timeout=30)
        interval = 1.0 / a.requests_per_s
        next_send = time.monotonic()
        seq = 0
        request = 0
        while len(self.acked) < a.samples and time.monotonic() < self.deadline:
            now = time.monotonic()
            if now < next_send:
                time.sleep(next_send - now)
            next_send += interval
            probe_id = None
            events = []
            for _ in range(a.events_per_request):
                event_id = f"{a.run_id}-{seq:08d}"
                seq += 1
                if probe_id is None and request % a.probe_every == 0:
                    probe_id = event_id
                events.append(make_event(event_id, rng))
            request += 1
            body = json.dumps(events, separators=(",", ":"))
            try:
                conn.request("POST", "/v1/streams/clickstream/records", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                ack = time.monotonic()
                if resp.status == 200:
                    if probe_id is not None:
                        with self.lock:
                            self.acked[probe_id] = ack
                else:
                    self.send_errors[str(resp.status)] = self.send_errors.get(str(resp.status), 0) + 1
            except (OSError, http.client.HTTPException) as e:
                self.send_errors[type(e).__name__] = self.send_errors.get(type(e).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection(a.host, a.port, timeout=30)
                time.sleep(0.05)
        self.sending_done.set()

    def poll_loop(self):
        a = self.args
        conn = http.client.HTTPConnection(a.host, a.port, timeout=30)
        while time.monotonic() < self.deadline:
            with self.lock:
                pending = [i for i in self.acked if i not in self.visible]
                done = self.sending_done.is_set() and not pending
            if done:
                return
            if pending:
                ids = ",".join("'" + i + "'" for i in pending)
                sql = f"SELECT event_id FROM raw.clickstream WHERE event_id IN ({ids})"
                started = time.monotonic()
                try:
                    conn.request("POST", "/v1/query", body=json.dumps({"sql": sql}),
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    answered = time.monotonic()
                    self.query_ms.append((answered - started) * 1000)
                    if resp.status == 200:
                        seen = {row[0] for row in json.loads(data).get("rows", [])}
                        with self.lock:
                            for i in seen:
                                if i in self.acked and i not in self.visible:
                                    self.visible[i] = answered
                    else:
                        # e.g. the table does not exist before the loader's first flush
                        key = str(resp.status)
                        self.query_errors[key] = self.query_errors.get(key, 0) + 1
                except (OSError, http.client.HTTPException, ValueError) as e:
                    key = type(e).__name__
                    self.query_errors[key] = self.query_errors.get(key, 0) + 1
                    conn.close()
                    conn = http.client.HTTPConnection(a.host, a.port, timeout=30)
            time.sleep(a.poll_ms / 1000.0)

    def run(self):
        sender = threading.Thread(target=self.send_loop, daemon=True)
        poller = threading.Thread(target=self.poll_loop, daemon=True)
        started = time.monotonic()
        sender.start()
        poller.start()
        sender.join(self.args.timeout + 5)
        poller.join(self.args.timeout + 5)
        lat = sorted((self.visible[i] - self.acked[i]) * 1000 for i in self.visible)
        q = sorted(self.query_ms)

        def r(v):
            return None if v is None else round(v, 1)

        return {
            "mode": "freshness",
            "run_id": self.args.run_id,
            "requests_per_s": self.args.requests_per_s,
            "events_per_request": self.args.events_per_request,
            "probes_acked": len(self.acked),
            "samples": len(lat),
            "not_visible": len(self.acked) - len(lat),
            "p50_ms": r(percentile(lat, 0.50)),
            "p95_ms": r(percentile(lat, 0.95)),
            "max_ms": r(lat[-1] if lat else None),
            "min_ms": r(lat[0] if lat else None),
            "poll_ms": self.args.poll_ms,
            "query_p50_ms": r(percentile(q, 0.50)),
            "query_max_ms": r(q[-1] if q else None),
            "queries": len(q),
            "query_errors": self.query_errors,
            "send_errors": self.send_errors,
            "elapsed_s": round(time.monotonic() - started, 1),
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--requests-per-s", type=float, default=20)
    ap.add_argument("--events-per-request", type=int, default=50)
    ap.add_argument("--probe-every", type=int, default=4, help="one probe per N requests")
    ap.add_argument("--samples", type=int, default=60, help="probes to send (>= 50 for a p95)")
    ap.add_argument("--poll-ms", type=float, default=100)
    ap.add_argument("--timeout", type=float, default=90, help="give up after this many seconds")
    ap.add_argument("--run-id", default=f"fresh-{os.getpid()}-{int(time.time())}")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("freshness.py: local hosts only")
    result = Freshness(args).run()
    print(json.dumps(result, separators=(",", ":")), flush=True)
    sys.exit(0 if result["samples"] >= min(50, args.samples) else 3)


if __name__ == "__main__":
    main()
