#!/usr/bin/env python3
"""The real AWS Clickstream Web SDK (`@aws/clickstream-web` 0.12.6) in headless Chromium sends to
Basin's collector (`POST /collect` on the main port), and its events land in raw.clickstream.

A test page is served from a second origin (Python's http.server on another port), so the browser
makes credentialed CORS requests with a preflight, as on a real shop. The SDK is bundled from its
npm package (lib-esm/index.js) with esbuild and driven by playwright-core through
tests/e2e/web/drive_clickstream_sdk.mjs. The appIds are registered in a config file
(`clickstream-app = [...]` in [serve]).

    python3 tests/e2e/test_clickstream_sdk.py --basin build/basin

Needs `node`, /usr/bin/chromium and tests/e2e/web/node_modules (scripts/setup.sh installs them).
"""

import base64
import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
CHROMIUM = "/usr/bin/chromium"
APP_ID = "e2e-shop"
UNKNOWN_APP_ID = "e2e-stranger"
PAGE_TITLE = "Trail boots | Basin Shop"
DRIVER_TIMEOUT_S = 150

PAGE_HTML = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{PAGE_TITLE}</title>
<script src="/clickstream-web.js"></script></head>
<body><h1>Trail boots</h1><p>59.90 EUR</p><a href="/shop/cart.html">Cart</a></body>
</html>
"""


def find_node():
    node = shutil.which("node")
    if node is None:
        raise h.HarnessError("node is not installed (scripts/setup.sh installs nodejs)")
    for path in (CHROMIUM, os.path.join(WEB_DIR, "node_modules", ".bin", "esbuild"),
                 os.path.join(WEB_DIR, "node_modules", "@aws", "clickstream-web", "package.json"),
                 os.path.join(WEB_DIR, "node_modules", "playwright-core", "package.json")):
        if not os.path.exists(path):
            raise h.HarnessError(f"{path} is missing: run scripts/setup.sh (chromium, npm ci in "
                                 "tests/e2e/web)")
    return node


def build_site(root):
    """The shop page and the SDK bundle (an IIFE that sets window.ClickstreamAnalytics)."""
    site = os.path.join(root, "site")
    os.makedirs(os.path.join(site, "shop"))
    proc = subprocess.run(
        [os.path.join(WEB_DIR, "node_modules", ".bin", "esbuild"),
         os.path.join(WEB_DIR, "clickstream_entry.js"), "--bundle", "--format=iife",
         "--platform=browser", "--log-level=warning",
         "--outfile=" + os.path.join(site, "clickstream-web.js")],
        cwd=WEB_DIR, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    check(proc.returncode == 0, f"esbuild failed: {proc.stderr.decode(errors='replace')}")
    with open(os.path.join(site, "shop", "boots.html"), "w", encoding="utf-8") as f:
        f.write(PAGE_HTML)
    return site


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_site(site):
    handler = functools.partial(QuietHandler, directory=site)
    server = http.server.ThreadingHTTPServer((h.LOCALHOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def run_driver(node, page_url, endpoint):
    cmd = [node, os.path.join(WEB_DIR, "drive_clickstream_sdk.mjs"), "--page", page_url,
           "--endpoint", endpoint, "--app-id", APP_ID, "--unknown-app-id", UNKNOWN_APP_ID,
           "--chromium", CHROMIUM, "--timeout-ms", "60000"]
    try:
        proc = subprocess.run(cmd, cwd=WEB_DIR, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=DRIVER_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise h.HarnessError(f"the browser driver did not finish within {DRIVER_TIMEOUT_S} s") from e
    stderr = proc.stderr.decode("utf-8", "replace")
    check(proc.returncode == 0, f"the browser driver failed ({proc.returncode}): {stderr[-4000:]}")
    return json.loads(proc.stdout.decode("utf-8"))


def describe_posts(visit):
    return json.dumps([{k: p.get(k) for k in ("status", "failure", "event_types")}
                       for p in visit["posts"]])


def check_visits(result, page_origin):
    known, unknown = result["known"], result["unknown"]
    check(known["initialised"] is True, f"ClickstreamAnalytics.init failed: {known['console']}")
    check(known["settled"], f"the SDK's POSTs did not all finish: {describe_posts(known)}\n"
                            f"console: {known['console'][-20:]}")
    check(known["posts"], "the SDK sent nothing")
    for post in known["posts"]:
        check(post["status"] == 200, f"a POST was not answered 200 (the SDK would retry): "
                                     f"{describe_posts(known)}\nconsole: {known['console'][-20:]}")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(post["url"]).query)
        check(query.get("appId") == [APP_ID] and query.get("platform") == ["Web"],
              f"unexpected SDK URL {post['url']}")
        check(query["hashCode"] == [hashlib.sha256(post["body"].encode()).hexdigest()[:8]],
              f"the SDK's hashCode is not sha256(body)[:8]: {post['url']}")
        check(post["headers"].get("access-control-allow-origin") == page_origin,
              f"ACAO is not the page's origin {page_origin}: {post['headers']}")
        check(post["headers"].get("access-control-allow-credentials") == "true",
              f"no Access-Control-Allow-Credentials: {post['headers']}")
    sent_types = {t for p in known["posts"] for t in p["event_types"]}
    for needed in ("_page_view", "add_to_cart", "purchase"):
        check(needed in sent_types, f"the SDK never sent {needed}: {sorted(sent_types)}")

    check(unknown["posts"], f"the SDK sent nothing for the unknown appId: {unknown['console']}")
    for post in unknown["posts"]:
        check(post["status"] == 403, f"an unknown appId was not answered 403: "
                                     f"{describe_posts(unknown)}")
        check(post["headers"].get("access-control-allow-origin") == page_origin,
              f"the 403 has no CORS headers (the browser would hide it): {post['headers']}")
    # The SDK itself saw the refusal (and will keep the events in its failed cache).
    check(any("403" in line for line in unknown["console"]),
          f"the SDK did not log the 403: {unknown['console'][-10:]}")


def resend_like_a_retry(server, post, page_origin):
    """Sends a captured SDK request again, as the SDK's retries do: same URL, same body."""
    target = urllib.parse.urlsplit(post["url"])
    resp = server.request("POST", f"{target.path}?{target.query}", post["body"].encode(),
                          {"Origin": page_origin,
                           "Content-Type": "application/json; charset=utf-8"})
    check(resp.status == 200, f"a resent SDK request was answered {resp.describe()}")


def send_mobile_variant(server):
    """The Android SDK's form: base64(gzip(json)) with compression=gzip, hash over the base64."""
    event = {"event_type": "_screen_view", "event_id": "android-e2e-1", "app_id": APP_ID,
             "timestamp": 1_719_000_000_000, "platform": "Android", "unique_id": "anon-android",
             "device_id": "android-device", "os_version": "14", "attributes": {"_session_id": "s"}}
    body = base64.b64encode(gzip.compress(json.dumps([event]).encode())).decode()
    query = urllib.parse.urlencode({
        "platform": "Android", "appId": APP_ID, "event_bundle_sequence_id": "1",
        "hashCode": hashlib.sha256(body.encode()).hexdigest()[:8], "compression": "gzip"})
    resp = server.request("POST", f"/collect?{query}", body.encode(),
                          {"Content-Type": "application/json; charset=utf-8"})
    check(resp.status == 200 and resp.json().get("accepted") == 1,
          f"the mobile variant was answered {resp.describe()}")
    bad = server.request("POST", f"/collect?{query.replace('compression=gzip', '')}",
                         body.encode() + b"x", {})
    check(bad.status == 400 and bad.json()["error"]["code"] == "ValidationFailed",
          f"a body that does not match its hashCode was answered {bad.describe()}")


def preflights_answered(server):
    text = server.request("GET", "/metrics").text
    total = 0.0
    for line in text.splitlines():
        if (line.startswith("basin_http_requests_total{") and 'method="OPTIONS"' in line
                and 'status="204"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def as_json(value):
    return json.loads(value) if isinstance(value, str) else value


def check_lake(server, result, page_url):
    known = result["known"]
    rows = h.query(server, "SELECT count(*), count(DISTINCT event_id) FROM raw.clickstream "
                           "WHERE app_id = 'e2e-stranger' OR event_type = 'stranger_event'")["rows"]
    check(rows == [[0, 0]], f"events of an unknown appId reached the lake: {rows}")

    sent_ids = {i for p in known["posts"] for i in p["event_ids"]}
    doc = h.query(server,
                  "SELECT event_id, event_type, app_id, user_id, anonymous_id, device_id, "
                  "session_id, page_url, page_title, product_id, items, revenue, currency, "
                  "platform, locale, user_agent, client_ip, source, attributes, user_attributes "
                  "FROM raw.clickstream WHERE platform = 'Web' ORDER BY event_time, event_id")
    cols = doc["columns"]
    names = [c["name"] if isinstance(c, dict) else c for c in cols]
    rows = [dict(zip(names, r)) for r in doc["rows"]]
    got_ids = [r["event_id"] for r in rows]
    check(len(got_ids) == len(set(got_ids)), f"duplicate event ids in the lake: {got_ids}")
    check(set(got_ids) == sent_ids, f"lake ids {sorted(got_ids)} != sent ids {sorted(sent_ids)}")

    for r in rows:
        check(r["source"] == "clickstream-sdk", f"source is {r['source']!r}: {r}")
        check(r["app_id"] == APP_ID, f"app_id is {r['app_id']!r}")
        check(r["user_agent"] == known["user_agent"],
              f"user_agent {r['user_agent']!r} is not the browser's {known['user_agent']!r}")
        check(r["client_ip"] == h.LOCALHOST, f"client_ip is {r['client_ip']!r}")
        check(r["anonymous_id"] and r["device_id"] and r["session_id"],
              f"anonymous_id/device_id/session_id missing: {r}")
        check(r["page_url"] == page_url, f"page_url {r['page_url']!r} != {page_url!r}")
        check(r["page_title"] == PAGE_TITLE, f"page_title {r['page_title']!r}")
        check(r["locale"], f"no locale: {r}")
        attributes = as_json(r["attributes"])
        check(attributes.get("sdk_name") == "aws-solution-clickstream-sdk"
              and attributes.get("sdk_version") == "0.12.6",
              f"SDK fields missing from attributes: {attributes}")
        check(attributes.get("shop_version") == "e2e-1",
              f"the global attribute is missing: {attributes}")
        check("upload_timestamp" in attributes and "event_bundle_sequence_id" in attributes,
              f"request parameters missing from attributes: {attributes}")

    by_type = {}
    for r in rows:
        by_type.setdefault(r["event_type"], []).append(r)
    check(len(by_type.get("_page_view", [])) == 1, f"page views: {by_type.get('_page_view')}")
    for name, value, extra in (("add_to_cart", 59.9, ("coupon", "SPRING")),
                               ("purchase", 68.9, ("order_id", "o-1001"))):
        check(len(by_type.get(name, [])) == 1, f"{name} rows: {by_type.get(name)}")
        r = by_type[name][0]
        check(r["user_id"] == "user-e2e-42", f"{name} user_id {r['user_id']!r}")
        check(r["product_id"] == "sku-42", f"{name} product_id {r['product_id']!r}")
        check(r["currency"] == "EUR", f"{name} currency {r['currency']!r}")
        check(abs(float(r["revenue"]) - value) < 1e-9, f"{name} revenue {r['revenue']!r}")
        items = as_json(r["items"])
        check([i.get("id") for i in items] == ["sku-42", "sku-7"]
              and items[0].get("name") == "Trail boots", f"{name} items {items}")
        attributes = as_json(r["attributes"])
        check(attributes.get(extra[0]) == extra[1], f"{name} attributes {attributes}")
        for mapped in ("_value", "_currency", "_session_id", "_page_url", "_page_title"):
            check(mapped not in attributes, f"{name}: mapped {mapped} repeated in attributes")
        user = as_json(r["user_attributes"])
        check(user.get("_user_id", {}).get("value") == "user-e2e-42",
              f"{name} user_attributes {user}")
    # The SDK sends the full user profile (setUserAttributes) only on _profile_set.
    profiles = [as_json(r["user_attributes"]) for r in by_type.get("_profile_set", [])]
    check(any(p.get("tier", {}).get("value") == "gold" and p.get("age", {}).get("value") == 33
              for p in profiles), f"no _profile_set with the user attributes: {profiles}")
    # One visitor: every event shares the device and the anonymous id.
    check(len({r["device_id"] for r in rows}) == 1 and len({r["anonymous_id"] for r in rows}) == 1,
          "one browser should have one device_id and one unique_id")

    android = h.query(server, "SELECT platform, anonymous_id, source FROM raw.clickstream "
                              "WHERE event_id = 'android-e2e-1'")["rows"]
    check(android == [["Android", "anon-android", "clickstream-sdk"]],
          f"the mobile variant's row: {android}")


def body(args, ws):
    node = find_node()
    site = build_site(ws.root)
    web = serve_site(site)
    try:
        config = os.path.join(ws.root, "basin.toml")
        with open(config, "w") as f:
            f.write("[serve]\n" f'clickstream-app = ["{APP_ID}", "e2e-second-app"]\n')
        server = ws.server(args.basin, extra_args=[
            "--config", config, "--no-schedules",
            "--loader-interval-ms", "200"])
        server.start()
        page_origin = f"http://{h.LOCALHOST}:{web.server_address[1]}"
        page_url = f"{page_origin}/shop/boots.html"
        endpoint = f"http://{h.LOCALHOST}:{server.port}/collect"
        check(page_origin != f"http://{h.LOCALHOST}:{server.port}", "page and collector share a port")

        result = run_driver(node, page_url, endpoint)
        check_visits(result, page_origin)
        check(preflights_answered(server) >= 1,
              "no CORS preflight was answered 204 (the browser must have sent one)")

        # SDK retries resend the same request: the lake keeps one row per event_id.
        purchase_post = next(p for p in result["known"]["posts"]
                             if "purchase" in p["event_types"])
        resend_like_a_retry(server, purchase_post, page_origin)
        send_mobile_variant(server)

        h.flush(server)
        check_lake(server, result, page_url)
        check(server.stop() == 0, "basin serve did not stop cleanly")
    finally:
        web.shutdown()
        web.server_close()


if __name__ == "__main__":
    h.run_e2e("clickstream_sdk", body, time_limit_s=180)
