#!/usr/bin/env python3
"""ETL pipelines end to end (issue 3): the shop's batch files through raw → processed → curated
over HTTP and `basin pipeline run`, quarantine with rule and reason, a repeated run that changes
nothing, `basin quarantine replay` after a user override widens a rule, and clickstream events
through processed.events into curated.sessions. Every run of ops.pipeline_runs must satisfy
rows_in = rows_out + rows_quarantined + rows_duplicate.

    python3 tests/e2e/test_pipelines.py --basin build/basin
"""

import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOP = os.path.join(REPO, "tests", "data", "ecommerce")
SERVE_ARGS = ["--no-schedules"]

# Tables whose full contents must not change when nothing new arrived.
COMPARED_TABLES = ["processed.orders", "processed.order_items", "processed.products",
                   "processed.customers", "curated.fact_orders", "curated.dim_products",
                   "curated.dim_customers", "quarantine.processed_orders"]


def upload_file(server, table, path):
    with open(path, "rb") as f:
        data = f.read()
    qs = urllib.parse.urlencode({"name": os.path.basename(path)})
    resp = server.request("POST", f"/v1/tables/{table}/files?{qs}", data,
                          {"Content-Type": "text/csv"}, timeout=120)
    check(resp.status == 201, f"upload of {path} to {table}: expected 201, got "
                              f"{resp.describe()}")
    return resp.json()


def run_pipeline(server, name, replay=False, want_status=200):
    path = f"/v1/pipelines/{name}/quarantine/replay" if replay else f"/v1/pipelines/{name}/runs"
    resp = server.request("POST", path, b"", timeout=300)
    check(resp.status == want_status, f"POST {path}: expected {want_status}, got "
                                      f"{resp.describe()}")
    doc = resp.json()
    check(isinstance(doc.get("run"), dict), f"POST {path}: no run record in {resp.describe()}")
    return doc


def basin_cli(args, *argv, timeout=300):
    proc = subprocess.run([args.basin, *argv], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def rows(server, sql):
    return h.query_all(server, sql)


def snapshot_tables(server):
    out = {}
    for t in COMPARED_TABLES:
        doc = h.query(server, f"SELECT * FROM {t} ORDER BY ALL", max_rows=100000)
        out[t] = (doc["columns"], doc["rows"])
    return out


def check_run_accounting(server, min_runs):
    runs = rows(server, "SELECT run_id, pipeline, kind, status, rows_in, rows_out, "
                        "rows_quarantined, rows_duplicate FROM ops.pipeline_runs ORDER BY run_id")
    check(len(runs) >= min_runs, f"ops.pipeline_runs holds {len(runs)} runs, expected at least "
                                 f"{min_runs}: {runs}")
    for r in runs:
        run_id, pipeline, kind, status, rin, rout, rq, rd = r
        check(rin == rout + rq + rd, f"run {run_id} of {pipeline} ({kind}, {status}): rows_in "
                                     f"{rin} != rows_out {rout} + rows_quarantined {rq} + "
                                     f"rows_duplicate {rd}")
    return runs


def quarantined_orders(server):
    got = rows(server, "SELECT json_extract_string(record, '$.order_id') AS order_id, rule, "
                       "reason, pipeline, source_table FROM quarantine.processed_orders "
                       "ORDER BY order_id")
    return got


def check_batch_chain(args, ws, server):
    for table, name in [("raw.orders", "orders_day1.csv"), ("raw.order_items", "order_items.csv"),
                        ("raw.products", "products.csv"), ("raw.customers", "customers.csv")]:
        upload_file(server, table, os.path.join(SHOP, name))

    resp = server.request("GET", "/v1/pipelines")
    check(resp.status == 200, f"GET /v1/pipelines: {resp.describe()}")
    names = [p["name"] for p in resp.json()["pipelines"]]
    for n in ["orders", "order_items", "products", "customers", "fact_orders", "events",
              "sessions"]:
        check(n in names, f"GET /v1/pipelines does not list {n}: {names}")
    check(names.index("orders") < names.index("fact_orders")
          and names.index("events") < names.index("sessions"),
          f"GET /v1/pipelines is not in run order: {names}")

    doc = run_pipeline(server, "orders")
    run = doc["run"]
    check(run.get("status") == "succeeded" and run.get("kind") == "run",
          f"orders run: {doc}")
    check((run.get("rows_in"), run.get("rows_out"), run.get("rows_quarantined"),
           run.get("rows_duplicate")) == (11, 4, 6, 1),
          f"orders run over orders_day1.csv: expected rows in/out/quarantined/duplicate "
          f"11/4/6/1, got {run}")
    check(isinstance(doc.get("quality"), list) and len(doc["quality"]) == 6
          and all(q.get("outcome") == "pass" for q in doc["quality"]),
          f"orders quality results: {doc.get('quality')}")
    got = rows(server, "SELECT order_id, customer_id, CAST(order_time AS VARCHAR), status, "
                       "currency, CAST(total_amount AS VARCHAR), shipping_country, channel, "
                       "CAST(dt AS VARCHAR) FROM processed.orders ORDER BY order_id")
    want = [["ord-1", "cust-2", "2026-03-02 12:03:01", "paid", "EUR", "45.50", "DE", "web",
             "2026-03-02"],
            ["ord-2", "cust-3", "2026-03-02 15:03:00", "paid", "USD", "21.99", "US", "app",
             "2026-03-02"],
            ["ord-7", "cust-1", "2026-03-01 10:00:00", "placed", "EUR", "9.00", None, None,
             "2026-03-01"],
            ["ord-9", "cust-4", "2026-03-02 08:30:00", "delivered", "EUR", "11.00", "FR", "web",
             "2026-03-02"]]
    check(got == want, f"processed.orders after the first run:\n got {got}\nwant {want}")
    q = quarantined_orders(server)
    check([(r[0], r[1]) for r in q] == [("ord-13", "regex"), ("ord-3", "required"),
                                        ("ord-4", "cast"), ("ord-5", "range"),
                                        ("ord-6", "allowed_values"), ("ord-8", "cast")],
          f"quarantine.processed_orders (order_id, rule): {q}")
    reasons = {r[0]: r[2] for r in q}
    for oid, start in [("ord-3", "customer_id"), ("ord-4", "order_time"),
                       ("ord-5", "total_amount"), ("ord-6", "status"), ("ord-8", "total_amount"),
                       ("ord-13", "currency")]:
        check(reasons[oid].startswith(start), f"quarantine reason of {oid} should start with "
                                              f"the column {start}: {reasons[oid]!r}")
    check("teleported" in reasons["ord-6"], f"reason of ord-6: {reasons['ord-6']!r}")
    doc = h.query(server, "SELECT * FROM quarantine.processed_orders")
    names = [c["name"] for c in doc["columns"]]
    for col in ["record", "rule", "reason", "run_id", "quarantined_at", "pipeline",
                "source_table", "dt"]:
        check(col in names, f"quarantine.processed_orders lacks column {col}: {names}")
    check(len(doc["rows"]) == 6, f"SELECT * FROM quarantine.processed_orders: {doc['rows']}")
    check(all(r[3] == "orders" and r[4] == "raw.orders" for r in q),
          f"quarantine rows must name pipeline orders and source raw.orders: {q}")

    # The rest of the chain with the CLI, beside the running server, on the same data dir.
    rc, out, err = basin_cli(args, "pipeline", "run", "--data-dir", ws.data_dir)
    check(rc == 0, f"`basin pipeline run` exited {rc}\nstdout: {out}\nstderr: {err}")
    for n in ["order_items", "products", "customers", "fact_orders", "dim_products",
              "dim_customers"]:
        check(n in out + err, f"`basin pipeline run` printed no line for {n}: {out} {err}")
    facts = rows(server, "SELECT order_id, line_no, product_id, quantity, "
                         "CAST(net_amount AS VARCHAR) FROM curated.fact_orders "
                         "ORDER BY order_id, line_no")
    check(facts == [["ord-1", 1, "sku-1", 2, "40.00"], ["ord-1", 2, "sku-2", 1, "5.50"],
                    ["ord-2", 1, "sku-1", 1, "21.99"], ["ord-9", 1, "sku-3", 3, "11.00"]],
          f"curated.fact_orders: {facts}")
    n_products = rows(server, "SELECT count(*) FROM curated.dim_products")[0][0]
    n_customers = rows(server, "SELECT count(*) FROM curated.dim_customers")[0][0]
    check(n_products > 0 and n_customers > 0,
          f"curated dims are empty: {n_products} products, {n_customers} customers")

    # A second run finds nothing new and changes nothing.
    before = snapshot_tables(server)
    doc = run_pipeline(server, "orders")
    check(doc["run"].get("status") == "nothing_new", f"second orders run: {doc}")
    rc, out, err = basin_cli(args, "pipeline", "run", "--data-dir", ws.data_dir)
    check(rc == 0, f"second `basin pipeline run` exited {rc}: {out} {err}")
    after = snapshot_tables(server)
    for t in COMPARED_TABLES:
        check(before[t] == after[t], f"{t} changed on a run with nothing new:\nbefore "
                                     f"{before[t]}\nafter {after[t]}")
    statuses = rows(server, "SELECT pipeline, status FROM ops.pipeline_runs WHERE pipeline IN "
                            "('orders','order_items','products','customers') ORDER BY started_at")
    check(statuses[-4:] and all(s == "nothing_new" for _, s in statuses[-4:]),
          f"the repeated runs should be nothing_new: {statuses}")

    # A later export of ord-1 replaces it (merge on order_id).
    upload_file(server, "raw.orders", os.path.join(SHOP, "orders_day2.csv"))
    doc = run_pipeline(server, "orders")
    check(doc["run"].get("status") == "succeeded" and doc["run"].get("rows_in") == 1,
          f"orders run over orders_day2.csv: {doc}")
    status = rows(server, "SELECT status, count(*) OVER () FROM processed.orders "
                          "WHERE order_id = 'ord-1'")
    check(status == [["shipped", 1]], f"ord-1 after its later export: {status}")

    resp = server.request("POST", "/v1/pipelines/no_such_pipeline/runs", b"")
    check(resp.status == 404 and resp.json().get("error", {}).get("code") == "PipelineNotFound",
          f"run of an unknown pipeline: {resp.describe()}")
    resp = server.request("GET", "/v1/pipelines/orders/runs?limit=2")
    check(resp.status == 200 and len(resp.json().get("runs", [])) == 2,
          f"GET /v1/pipelines/orders/runs?limit=2: {resp.describe()}")
    listed = resp.json()["runs"]
    check(listed[0]["started_at"] >= listed[1]["started_at"],
          f"runs are not newest first: {listed}")
    check_run_accounting(server, 10)
    print("batch chain: ok", flush=True)


def check_replay(args, ws, server):
    # The user widens the status rule (and the quality rule that checks it) in an override.
    with open(os.path.join(REPO, "pipelines", "orders.pipeline.json"), encoding="utf-8") as f:
        spec = json.load(f)
    for rule in spec["cleaning"]:
        if rule["rule"] == "allowed_values" and rule["column"] == "status":
            rule["values"].append("teleported")
    for q in spec["quality"]:
        q["rule"] = q["rule"].replace('"returned"]', '"returned","teleported"]')
    user_dir = os.path.join(ws.data_dir, "pipelines")
    os.makedirs(user_dir, exist_ok=True)
    with open(os.path.join(user_dir, "orders.pipeline.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)

    rc, out, err = basin_cli(args, "quarantine", "replay", "processed.orders",
                             "--data-dir", ws.data_dir)
    check(rc == 0, f"`basin quarantine replay processed.orders` exited {rc}\n{out}\n{err}")
    got = rows(server, "SELECT order_id, status FROM processed.orders WHERE order_id = 'ord-6'")
    check(got == [["ord-6", "teleported"]], f"ord-6 did not reach processed.orders after the "
                                            f"replay with the widened rule: {got}")
    q = quarantined_orders(server)
    ids = [r[0] for r in q]
    check("ord-6" not in ids, f"ord-6 is still in quarantine after its replay succeeded: {q}")
    check(sorted(ids) == ["ord-13", "ord-3", "ord-4", "ord-5", "ord-8"],
          f"the rows that still fail must stay quarantined once each: {q}")
    replay = rows(server, "SELECT kind, status, rows_in, rows_out, rows_quarantined FROM "
                          "ops.pipeline_runs WHERE pipeline = 'orders' AND kind = 'replay'")
    check(replay == [["replay", "succeeded", 6, 1, 5]], f"the replay's run record: {replay}")
    check_run_accounting(server, 11)
    print("quarantine replay: ok", flush=True)


def event(eid, etype, ts, visitor, **extra):
    e = {"event_id": eid, "event_type": etype, "timestamp": ts, "anonymous_id": visitor,
         "page_url": "https://shop.example.com/p/" + eid}
    e.update(extra)
    return e


def check_sessions(args, ws, server):
    events = [
        event("s-a1", "page_view", "2026-11-20T10:00:00Z", "e2e-visitor-a"),
        event("s-a2", "product_view", "2026-11-20T10:05:00Z", "e2e-visitor-a",
              product_id="sku-1"),
        # 31 minutes later: a new session.
        event("s-a3", "page_view", "2026-11-20T10:36:00Z", "e2e-visitor-a"),
        event("s-a4", "purchase", "2026-11-20T10:40:00Z", "e2e-visitor-a", revenue=12.5,
              currency="eur"),
        event("s-b1", "page_view", "2026-11-20T10:00:00Z", "e2e-visitor-b"),
        # exactly 30 minutes later: the same session.
        event("s-b2", "page_view", "2026-11-20T10:30:00Z", "e2e-visitor-b"),
    ]
    h.check_ack(h.post_events(server, events), len(events))
    # A retried event is not counted twice.
    h.post_events(server, [events[0]])
    h.flush(server)
    doc = run_pipeline(server, "events")
    check(doc["run"].get("status") == "succeeded" and doc["run"].get("rows_out") == 6,
          f"events run: {doc}")
    got = rows(server, "SELECT event_id, event_type, anonymous_id, currency, "
                       "CAST(dt AS VARCHAR) FROM processed.events ORDER BY event_id")
    check([r[0] for r in got] == ["s-a1", "s-a2", "s-a3", "s-a4", "s-b1", "s-b2"],
          f"processed.events: {got}")
    check(got[3][3] == "EUR" and got[0][4] == "2026-11-20", f"processed.events typing: {got}")
    doc = run_pipeline(server, "sessions")
    check(doc["run"].get("status") == "succeeded", f"sessions run: {doc}")
    got = rows(server, "SELECT anonymous_id, CAST(start_time AS VARCHAR), "
                       "CAST(end_time AS VARCHAR), events, converted, "
                       "CAST(revenue AS VARCHAR) FROM curated.sessions "
                       "ORDER BY anonymous_id, start_time")
    want = [["e2e-visitor-a", "2026-11-20 10:00:00", "2026-11-20 10:05:00", 2, False, "0.00"],
            ["e2e-visitor-a", "2026-11-20 10:36:00", "2026-11-20 10:40:00", 2, True, "12.50"],
            ["e2e-visitor-b", "2026-11-20 10:00:00", "2026-11-20 10:30:00", 2, False, "0.00"]]
    check(got == want, f"curated.sessions (a 31-minute gap splits, 30 minutes does not):\n"
                       f" got {got}\nwant {want}")
    ids = rows(server, "SELECT count(DISTINCT session_id) FROM curated.sessions")[0][0]
    check(ids == 3, f"session ids are not distinct: {ids} of 3")
    doc = run_pipeline(server, "sessions")
    check(doc["run"].get("status") == "nothing_new", f"second sessions run: {doc}")
    check_run_accounting(server, 14)
    print("clickstream sessions: ok", flush=True)


def body(args, ws):
    server = ws.server(args.basin, extra_args=SERVE_ARGS)
    server.start()
    check_batch_chain(args, ws, server)
    check_replay(args, ws, server)
    check_sessions(args, ws, server)
    code = server.stop()
    check(code == 0, f"basin serve exited with code {code} after SIGTERM")
    # After a restart (which reads the user override) the accounting still holds.
    server.start()
    # Over HTTP, with the override loaded: the rows that still fail are quarantined again under
    # the replay's run, once each.
    doc = run_pipeline(server, "orders", replay=True)
    run = doc["run"]
    check((run.get("kind"), run.get("status"), run.get("rows_in"), run.get("rows_out"),
           run.get("rows_quarantined")) == ("replay", "succeeded", 5, 0, 5),
          f"HTTP quarantine replay of the 5 rows that still fail: {doc}")
    q = quarantined_orders(server)
    check(sorted(r[0] for r in q) == ["ord-13", "ord-3", "ord-4", "ord-5", "ord-8"],
          f"quarantine after a replay where every row fails again: {q}")
    check(len({r[0] for r in rows(server, "SELECT run_id FROM quarantine.processed_orders")})
          == 1 and rows(server, "SELECT DISTINCT run_id FROM quarantine.processed_orders")[0][0]
          == run["run_id"], "re-quarantined rows must carry the replay's run id")
    check_run_accounting(server, 15)
    code = server.stop()
    check(code == 0, f"basin serve exited with code {code} after SIGTERM")


if __name__ == "__main__":
    h.run_e2e("pipelines", body, time_limit_s=240)
