#!/usr/bin/env python3
"""Workflows on the server (issue 5). Basin's own workflows on their schedules: `basin serve` installs the ASL files of
workflows/ as state machines and fires workflows/schedules.json. Here the hourly batch workflow
is moved to a one-time `at(...)` a few seconds after start-up: it must sweep the landing folder
and run the batch pipelines, so that the curated tables fill; after a restart with more files
and a new fire time, the curated tables change again. The executions are in the catalog with
their history (checked through the aws CLI's Step Functions API). And a Distributed Map that
fans out over lake objects and files: its ItemReader lists a zone bucket (s3:listObjectsV2),
reads a CSV and a JSONL object uploaded with `aws s3` (s3:getObject), and reads a curated table's
rows (arn:basin:states:::lake:readTable).

    python3 tests/e2e/test_server_workflows.py --basin build/basin
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOP = os.path.join(REPO, "tests", "data", "ecommerce")
AWS = "/usr/bin/aws"  # Debian's aws CLI v2 (a pyenv shim may come first on PATH)
MACHINE = "basin-batch-hourly"


def land(ws, table, source):
    """Puts a file in lake/landing/<table>/, old enough that the sweep takes it at once."""
    folder = os.path.join(ws.data_dir, "lake", "landing", table)
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, os.path.basename(source))
    shutil.copyfile(source, target)
    past = time.time() - 120
    os.utime(target, (past, past))


def fire_at(seconds_from_now):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=seconds_from_now)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def serve_args(fire_time):
    return ["--schedule", f"{MACHINE}={fire_time}",
            "--schedule", "basin-clickstream-refresh=off"]


def count(server, table):
    return h.query_all(server, f"SELECT count(*) FROM {table}")[0][0]


def facts(server):
    return h.query_all(server, "SELECT * FROM curated.fact_orders ORDER BY ALL")


def wait_for(what, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = predicate()
        if ok:
            return last
        time.sleep(0.5)
    raise h.TestFailure(f"timed out waiting for {what}; last: {last}")


def aws_process(server, service, *argv):
    """Runs `aws <service> ...` against the server's AWS endpoint, JSON out."""
    env = h.aws_cli_env(server.work_dir, server.key_id, server.secret)
    return subprocess.run([AWS, "--endpoint-url", f"http://127.0.0.1:{server.aws_port}",
                           "--output", "json", service, *argv], env=env,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def aws(server, service, *argv):
    """`aws <service> ...` that must succeed; its JSON answer."""
    proc = aws_process(server, service, *argv)
    check(proc.returncode == 0, f"aws {service} {' '.join(argv)} exited {proc.returncode}: "
                                f"{proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout or b"{}")


def aws_states(ws, server, *argv):
    return aws(server, "stepfunctions", *argv)


def start(args, ws, fire_time):
    server = ws.server(args.basin, extra_args=serve_args(fire_time) + [
        "--aws-port-file", os.path.join(ws.root, "aws-port")])
    server.start()
    server.aws_port = h.wait_for_port_file(os.path.join(ws.root, "aws-port"))
    return server


def batch_executions(ws, server):
    arn = f"arn:aws:states:us-east-1:000000000000:stateMachine:{MACHINE}"
    return arn, aws_states(ws, server, "list-executions", "--state-machine-arn", arn)["executions"]


def fan_out(reader, processor_state=None):
    """A Distributed Map (as AWS requires for an ItemReader) that returns what it read."""
    return {
        "StartAt": "Fan", "States": {"Fan": {
            "Type": "Map", "ItemReader": reader, "End": True,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Each",
                "States": {"Each": processor_state or {"Type": "Pass", "End": True}}}}}}


def run_machine(ws, server, name, definition, want="SUCCEEDED"):
    machine = aws_states(ws, server, "create-state-machine", "--name", name, "--definition",
                         json.dumps(definition), "--role-arn",
                         "arn:aws:iam::000000000000:role/e2e")["stateMachineArn"]
    execution = aws_states(ws, server, "start-execution", "--state-machine-arn", machine,
                           "--input", "{}")["executionArn"]

    def ended():
        d = aws_states(ws, server, "describe-execution", "--execution-arn", execution)
        return d["status"] != "RUNNING", d
    d = wait_for(f"execution of {name}", ended, timeout=60)
    check(d["status"] == want, f"{name}: {d}")
    return json.loads(d["output"]) if want == "SUCCEEDED" else d


def check_item_readers(ws, server):
    aws(server, "s3api", "create-bucket", "--bucket", "shop-exports")
    csv_path = os.path.join(ws.root, "visits.csv")
    with open(csv_path, "w", encoding="utf-8") as f:
        f.write('page,visits\n/home,10\n"/cart, checkout",3\n')
    jsonl_path = os.path.join(ws.root, "events.jsonl")
    with open(jsonl_path, "w", encoding="utf-8") as f:
        f.write('{"id": 1}\n\n{"id": 2}\n{"id": 3}\n')
    aws(server, "s3api", "put-object", "--bucket", "shop-exports", "--key", "daily/visits.csv",
        "--body", csv_path)
    aws(server, "s3api", "put-object", "--bucket", "shop-exports", "--key", "daily/events.jsonl",
        "--body", jsonl_path)

    rows = run_machine(ws, server, "read-csv", fan_out({
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket": "shop-exports", "Key": "daily/visits.csv"}}))
    check(rows == [{"page": "/home", "visits": "10"}, {"page": "/cart, checkout", "visits": "3"}],
          f"CSV items: {rows}")
    ids = run_machine(ws, server, "read-jsonl", fan_out(
        {"Resource": "arn:aws:states:::s3:getObject",
         "ReaderConfig": {"InputType": "JSONL", "MaxItems": 2},
         "Parameters": {"Bucket": "shop-exports", "Key": "daily/events.jsonl"}},
        {"Type": "Pass", "Parameters": {"seen.$": "$.id"}, "End": True}))
    check(ids == [{"seen": 1}, {"seen": 2}], f"JSONL items with MaxItems 2: {ids}")

    # Lake objects: the curated zone as a read-only bucket, one item per Parquet file.
    files = run_machine(ws, server, "list-curated", fan_out(
        {"Resource": "arn:aws:states:::s3:listObjectsV2",
         "Parameters": {"Bucket": "curated", "Prefix": "dim_products/"}},
        {"Type": "Pass", "Parameters": {"key.$": "$.Key", "size.$": "$.Size"}, "End": True}))
    check(files and all(f["key"].startswith("dim_products/") and f["key"].endswith(".parquet")
                        and f["size"] > 0 for f in files), f"curated objects: {files}")
    products = run_machine(ws, server, "read-table", fan_out(
        {"Resource": "arn:basin:states:::lake:readTable",
         "Parameters": {"Table": "curated.dim_products"}},
        {"Type": "Pass", "Parameters": {"id.$": "$.product_id"}, "End": True}))
    want = sorted(r[0] for r in h.query_all(server, "SELECT product_id FROM curated.dim_products"))
    check(sorted(p["id"] for p in products) == want, f"table items: {products} vs {want}")

    # Bad input fails the execution with a typed error naming the object and the problem.
    bad_path = os.path.join(ws.root, "bad.csv")
    with open(bad_path, "w", encoding="utf-8") as f:
        f.write("page,visits\n/home,10\n/cart\n")
    aws(server, "s3api", "put-object", "--bucket", "shop-exports", "--key", "daily/bad.csv",
        "--body", bad_path)
    aws(server, "s3api", "put-object", "--bucket", "shop-exports", "--key", "daily/bad.jsonl",
        "--body", csv_path)  # CSV text is not JSON lines
    for name, key, input_type, error, cause in [
            ("ragged-csv", "daily/bad.csv", "CSV", "States.ItemReaderFailed", "row 3 has 1 fields"),
            ("not-jsonl", "daily/bad.jsonl", "JSONL", "States.ItemReaderFailed", "line 1"),
            ("missing-key", "daily/none.csv", "CSV", "S3.NoSuchKey", "")]:
        failed = run_machine(ws, server, name, fan_out({
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": input_type},
            "Parameters": {"Bucket": "shop-exports", "Key": key}}), want="FAILED")
        check(failed.get("error") == error and cause in failed.get("cause", ""),
              f"{name}: expected {error} with {cause!r}: {failed}")

    # A reader Basin cannot run is refused when the machine is created, with its pointer.
    proc = aws_process(server, "stepfunctions", "create-state-machine", "--name", "bad-reader",
                       "--role-arn", "arn:aws:iam::000000000000:role/e2e", "--definition",
                       json.dumps(fan_out({"Resource": "arn:aws:states:::dynamodb:scan",
                                           "Parameters": {"TableName": "t"}})))
    err = proc.stderr.decode(errors="replace")
    check(proc.returncode != 0 and "InvalidDefinition" in err
          and "/States/Fan/ItemReader/Resource" in err, f"unsupported reader: {err}")
    print("Map item readers: ok", flush=True)


def body(args, ws):
    key_id, secret = h.create_access_key(args.basin, ws.data_dir, "e2e")

    # Round 1: day-one files land before the server starts; the schedule fires 4 s after start.
    land(ws, "orders", os.path.join(SHOP, "orders_day1.csv"))
    land(ws, "order_items", os.path.join(SHOP, "order_items.csv"))
    land(ws, "products", os.path.join(SHOP, "products.csv"))
    land(ws, "customers", os.path.join(SHOP, "customers.csv"))
    server = start(args, ws, fire_at(4))
    server.key_id, server.secret = key_id, secret

    machines = aws_states(ws, server, "list-state-machines")["stateMachines"]
    names = sorted(m["name"] for m in machines)
    check(MACHINE in names and "basin-clickstream-refresh" in names,
          f"the default workflows are not installed as state machines: {names}")

    def first_run_done():
        arn, execs = batch_executions(ws, server)
        done = [e for e in execs if e["status"] != "RUNNING"]
        return bool(done), execs
    execs = wait_for("the scheduled batch execution to end", first_run_done)
    check(len(execs) == 1, f"one fire time must start one execution: {execs}")
    check(execs[0]["status"] == "SUCCEEDED", f"the scheduled batch execution: {execs[0]}")
    check(execs[0]["name"].startswith(MACHINE + "-"),
          f"a scheduled execution is named after its schedule and fire time: {execs[0]}")
    fact_rows_1 = count(server, "curated.fact_orders")
    facts_1 = facts(server)
    dim_products = count(server, "curated.dim_products")
    dim_customers = count(server, "curated.dim_customers")
    check(fact_rows_1 > 0 and dim_products > 0 and dim_customers > 0,
          f"the scheduled run must fill the curated tables: fact_orders {fact_rows_1}, "
          f"dim_products {dim_products}, dim_customers {dim_customers}")
    leftover = os.listdir(os.path.join(ws.data_dir, "lake", "landing", "orders"))
    check(leftover == [], f"the sweep must load and remove the landing files: {leftover}")

    # The status page's summary: the latest execution and the schedules with their next run.
    summary = server.request("GET", "/v1/workflows").json()
    batch = [m for m in summary["state_machines"] if m["name"] == MACHINE]
    check(len(batch) == 1 and batch[0]["latest_execution"]["status"] == "SUCCEEDED"
          and batch[0]["latest_execution"]["name"] == execs[0]["name"]
          and batch[0]["running"] == 0, f"GET /v1/workflows: {summary}")
    schedules = {s["name"]: s for s in summary["schedules"]}
    check(schedules[MACHINE]["expression"].startswith("at(") and schedules[MACHINE]["enabled"]
          and schedules[MACHINE]["next_run"] is None
          and not schedules["basin-clickstream-refresh"]["enabled"],
          f"GET /v1/workflows schedules: {summary['schedules']}")

    history = aws_states(ws, server, "get-execution-history", "--execution-arn",
                         execs[0]["executionArn"])["events"]
    types = [e["type"] for e in history]
    check(types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded",
          f"history must start and end the execution: {types[:3]} ... {types[-3:]}")
    check("TaskScheduled" in types and "MapStateStarted" in types,
          f"the sweep task and the pipelines Map must be in the history: {sorted(set(types))}")
    code = server.stop()
    check(code == 0, f"basin serve exited with code {code} after SIGTERM")

    # Round 2: day two lands while the server is down; a restart with a new fire time runs once
    # more, and the curated table changes.
    land(ws, "orders", os.path.join(SHOP, "orders_day2.csv"))
    server.extra_args = serve_args(fire_at(4)) + [
        "--aws-port-file", os.path.join(ws.root, "aws-port")]
    os.unlink(os.path.join(ws.root, "aws-port"))
    server.start()
    server.aws_port = h.wait_for_port_file(os.path.join(ws.root, "aws-port"))

    def second_run_done():
        arn, execs = batch_executions(ws, server)
        done = [e for e in execs if e["status"] != "RUNNING"]
        return len(done) >= 2, execs
    execs = wait_for("the second scheduled execution", second_run_done)
    check(len(execs) == 2 and all(e["status"] == "SUCCEEDED" for e in execs),
          f"two fire times, two successful executions: {execs}")
    # Day two ships ord-1: its order status changes in the curated facts.
    facts_2 = facts(server)
    check(facts_2 != facts_1, f"day two's file must change curated.fact_orders: {facts_1}")
    statuses = {r[0] for r in h.query_all(
        server, "SELECT lower(status) FROM curated.fact_orders WHERE order_id = 'ord-1'")}
    check(statuses == {"shipped"}, f"ord-1 after day two: {statuses}")
    print("scheduled batch workflow: ok", flush=True)
    check_item_readers(ws, server)
    code = server.stop()
    check(code == 0, f"basin serve exited with code {code} after SIGTERM")


if __name__ == "__main__":
    h.run_e2e("server_workflows", body, time_limit_s=300)
