#!/usr/bin/env python3
"""Closed-loop load generator for bench/kinesis.sh: the same clickstream events, in batches, either
as Kinesis PutRecords on the AWS endpoint (SigV4-signed, as botocore signs them) or as the native
`POST /v1/streams/clickstream/records`. One keep-alive connection per worker process; prints one
JSON line: {"mode", "events", "requests", "seconds", "events_per_s", "errors"}.

Python standard library only, so that both modes pay the same client costs; the signing is done
per request (a fresh X-Amz-Date and signature), the bodies are pre-rendered.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import multiprocessing
import time

EVENT = {
    "event_id": "", "event_type": "page_view", "timestamp": 0, "app_id": "bench-shop",
    "user_id": "u-000123", "session_id": "s-00000000abcd", "page_url": "/products/p-00042",
    "product_id": "p-00042", "price": 49.9, "country_code": "DE", "locale": "de-DE",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
}
BODY_VARIANTS = 8


def events(worker, variant, batch):
    now_ms = int(time.time() * 1000)
    out = []
    for i in range(batch):
        e = dict(EVENT)
        e["event_id"] = f"bench-{worker}-{variant}-{i:06d}-{now_ms}"
        e["timestamp"] = now_ms
        e["user_id"] = f"u-{(i * 7919) % 100000:06d}"
        out.append(json.dumps(e, separators=(",", ":")))
    return out


def kinesis_body(evs):
    records = [{"Data": base64.b64encode(e.encode()).decode(), "PartitionKey": json.loads(e)["user_id"]}
               for e in evs]
    return json.dumps({"StreamName": "clickstream", "Records": records}).encode()


def native_body(evs):
    return ("[" + ",".join(evs) + "]").encode()


def sign(key_id, secret, host, body, region="us-east-1", service="kinesis"):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-target": "Kinesis_20131202.PutRecords",
    }
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["POST", "/", ""] + [f"{k}:{headers[k]}" for k in sorted(headers)]
                          + ["", signed, hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    return headers


def worker(args, index, results):
    host = f"127.0.0.1:{args.port}"
    make = kinesis_body if args.mode == "kinesis" else native_body
    bodies = [make(events(index, v, args.batch)) for v in range(BODY_VARIANTS)]
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
    sent = requests = errors = 0
    n = 0
    start = time.monotonic()  # after the bodies are rendered
    deadline = start + args.duration
    while time.monotonic() < deadline:
        body = bodies[n % BODY_VARIANTS]
        n += 1
        if args.mode == "kinesis":
            headers = sign(args.key_id, args.secret, host, body)
            conn.request("POST", "/", body, headers)
        else:
            conn.request("POST", "/v1/streams/clickstream/records", body,
                         {"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        requests += 1
        if resp.status != 200:
            errors += 1
            continue
        if args.mode == "kinesis":
            failed = json.loads(payload).get("FailedRecordCount", 0)
            errors += 1 if failed else 0
            sent += args.batch - failed
        else:
            sent += args.batch
    results.put((sent, requests, errors, time.monotonic() - start))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mode", choices=["kinesis", "native"], required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key-id", default="")
    p.add_argument("--secret", default="")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--duration", type=float, default=10)
    args = p.parse_args()
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(args, i, results))
             for i in range(args.workers)]
    for proc in procs:
        proc.start()
    totals = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    seconds = max(t[3] for t in totals)
    events_sent = sum(t[0] for t in totals)
    rate = sum(t[0] / t[3] for t in totals)
    print(json.dumps({"mode": args.mode, "batch": args.batch, "workers": args.workers,
                      "events": events_sent, "requests": sum(t[1] for t in totals),
                      "errors": sum(t[2] for t in totals), "seconds": round(seconds, 2),
                      "events_per_s": round(rate)}))


if __name__ == "__main__":
    main()
