#!/usr/bin/env python3
"""`basin workflow run` end to end (issue 5): an ASL definition runs once against a data
directory, with Basin's task resources behind AWS's ARNs — glue:startJobRun.sync runs an ETL
pipeline, athena:startQueryExecution.sync runs SQL with the rows in the output, lambda:invoke
runs a registered local command — and failures come back as Step Functions names them, as JSON
with a non-zero exit status. No server is involved.

    python3 tests/e2e/test_workflow_run.py --basin build/basin
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOP = os.path.join(REPO, "tests", "data", "ecommerce")

ORDERS_WORKFLOW = {
    "Comment": "Clean the orders, count them, tell a function, decide",
    "StartAt": "CleanOrders",
    "States": {
        "CleanOrders": {
            "Type": "Task",
            "Resource": "arn:aws:states:::glue:startJobRun.sync",
            "Parameters": {"JobName": "orders"},
            "ResultSelector": {"state.$": "$.JobRunState", "written.$": "$.BasinRows.Written"},
            "ResultPath": "$.clean",
            "Next": "CountOrders",
        },
        "CountOrders": {
            "Type": "Task",
            "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
            "Parameters": {"QueryString": "SELECT count(*) AS n FROM processed.orders"},
            "ResultSelector": {
                "header.$": "$.ResultSet.Rows[0].Data[0].VarCharValue",
                "n.$": "States.StringToJson($.ResultSet.Rows[1].Data[0].VarCharValue)",
                "state.$": "$.QueryExecution.Status.State",
            },
            "ResultPath": "$.count",
            "Next": "Notify",
        },
        "Notify": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "notify", "Payload": {"orders.$": "$.count.n"}},
            "ResultSelector": {"reply.$": "$.Payload", "status.$": "$.StatusCode"},
            "ResultPath": "$.notify",
            "Next": "Enough",
        },
        "Enough": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.count.n", "NumericGreaterThan": 0, "Next": "Done"}],
            "Default": "Empty",
        },
        "Empty": {"Type": "Fail", "Error": "NoOrders", "Cause": "processed.orders is empty"},
        "Done": {"Type": "Succeed"},
    },
}

NOTIFY = """import json, sys
event = json.load(sys.stdin)
print(json.dumps({"seen": event["orders"], "by": "notify"}))
"""
FAILING = """import json, sys
json.load(sys.stdin)
print(json.dumps({"errorType": "OrdersTooFew", "errorMessage": "need more"}))
sys.exit(1)
"""
SLOW = "import time; time.sleep(30)\n"


def run_workflow(args, ws, definition, input_json="{}", extra=(), data_dir=None):
    path = os.path.join(ws.root, "definition.asl.json")
    with open(path, "w") as f:
        json.dump(definition, f)
    cmd = [args.basin, "workflow", "run", path, "--input", input_json,
           "--data-dir", data_dir or ws.data_dir, *extra]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    out = proc.stdout.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(out.splitlines()[-1]) if out else None
    except json.JSONDecodeError:
        doc = None
    return proc.returncode, doc, out + proc.stderr.decode("utf-8", "replace")


def one_task(resource, parameters=None, catch=False):
    task = {"Type": "Task", "Resource": resource, "End": True}
    if parameters is not None:
        task["Parameters"] = parameters
    definition = {"StartAt": "T", "States": {"T": task}}
    if catch:
        task.pop("End")
        task["Next"] = "Caught"
        task["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
        definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    return definition


def body(args, ws):
    # Functions for lambda:invoke, registered in <data-dir>/functions.json.
    scripts = {}
    for name, text in {"notify": NOTIFY, "failing": FAILING, "slow": SLOW}.items():
        scripts[name] = os.path.join(ws.root, name + ".py")
        with open(scripts[name], "w") as f:
            f.write(text)
    functions = {"notify": {"command": [sys.executable, scripts["notify"]]},
                 "failing": {"command": [sys.executable, scripts["failing"]]},
                 "slow": {"command": [sys.executable, scripts["slow"]], "timeout_seconds": 1}}
    with open(os.path.join(ws.data_dir, "functions.json"), "w") as f:
        json.dump(functions, f)

    # The shop's orders in raw, loaded by the CLI.
    proc = subprocess.run([args.basin, "ingest", os.path.join(SHOP, "orders_day1.csv"),
                           "--table", "raw.orders", "--data-dir", ws.data_dir],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    check(proc.returncode == 0, f"basin ingest failed: {proc.stdout!r} {proc.stderr!r}")

    # 1. The whole chain: pipeline, SQL, function, choice.
    code, out, text = run_workflow(args, ws, ORDERS_WORKFLOW, '{"run": "e2e"}')
    check(code == 0, f"the orders workflow should succeed (exit {code}): {text}")
    check(out["run"] == "e2e", f"the input is carried through: {out}")
    check(out["clean"]["state"] == "SUCCEEDED" and out["clean"]["written"] > 0,
          f"glue:startJobRun.sync ran the orders pipeline: {out['clean']}")
    expected = h.offline_sql(args.basin, ws.data_dir, "SELECT count(*) FROM processed.orders")
    rows = json.loads(expected.stdout)["rows"]
    check(out["count"] == {"header": "n", "n": rows[0][0], "state": "SUCCEEDED"},
          f"athena:startQueryExecution.sync rows in the output: {out['count']} vs {rows}")
    check(out["notify"] == {"reply": {"seen": rows[0][0], "by": "notify"}, "status": 200},
          f"lambda:invoke passed the payload and returned the function's JSON: {out['notify']}")

    # 2. A function's own error: its errorType is the error, catchable.
    code, out, text = run_workflow(args, ws, one_task(
        "arn:aws:states:::lambda:invoke", {"FunctionName": "failing", "Payload": {}}))
    check(code == 1 and out and out["error"] == "OrdersTooFew",
          f"a failing function's errorType is the execution's error: {text}")
    code, out, text = run_workflow(args, ws, one_task(
        "arn:aws:states:::lambda:invoke", {"FunctionName": "failing", "Payload": {}}, catch=True))
    check(code == 0 and out["error"]["Error"] == "OrdersTooFew",
          f"Catch sees the function's error: {text}")
    # The bare function ARN form calls the same function with the state input as payload.
    code, out, text = run_workflow(
        args, ws, one_task("arn:aws:lambda:us-east-1:000000000000:function:notify"),
        '{"orders": 7}')
    check(code == 0 and out == {"seen": 7, "by": "notify"}, f"function ARN resource: {text}")

    # 3. A function that outlives its timeout.
    code, out, text = run_workflow(args, ws, one_task(
        "arn:aws:states:::lambda:invoke", {"FunctionName": "slow", "Payload": {}}))
    check(code == 1 and out and out["error"] == "Sandbox.Timedout", f"timeout: {text}")

    # 4. A pipeline that does not exist, and SQL that fails.
    code, out, text = run_workflow(args, ws, one_task(
        "arn:aws:states:::glue:startJobRun.sync", {"JobName": "no_such_job"}))
    check(code == 1 and out and out["error"] == "Glue.EntityNotFoundException",
          f"unknown pipeline: {text}")
    code, out, text = run_workflow(args, ws, one_task(
        "arn:aws:states:::athena:startQueryExecution.sync",
        {"QueryString": "SELECT * FROM no_such_table"}))
    check(code == 1 and out and out["error"] == "States.TaskFailed"
          and "no_such_table" in out["cause"], f"failing SQL: {text}")

    # 5. Resources Basin cannot run are refused before anything runs, naming where they are.
    bad = one_task("arn:aws:states:::dynamodb:putItem", {"TableName": "x"})
    code, out, text = run_workflow(args, ws, bad)
    check(code == 2 and out and out["error"] == "States.ValidationError"
          and "/States/T/Resource" in out["cause"], f"unsupported resource: {text}")
    flush = one_task("arn:basin:states:::loader:flush")
    code, out, text = run_workflow(args, ws, flush)
    check(code == 2 and "/States/T/Resource" in (out or {}).get("cause", ""),
          f"a loader flush needs a server: {text}")
    code, out, text = run_workflow(args, ws, {"StartAt": "Nope", "States": {}})
    check(code == 2 and out and out["error"] == "States.ValidationError", f"invalid: {text}")
    code, out, text = run_workflow(args, ws, ORDERS_WORKFLOW, "{not json")
    check(code == 2, f"invalid input JSON: {text}")

    # 6. A definition with no Task needs no data directory and creates none.
    nowhere = os.path.join(ws.root, "never-created")
    passes = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "End": True}}}
    code, out, text = run_workflow(args, ws, passes, '{"a": 2, "b": 40}', data_dir=nowhere)
    check(code == 0 and out == {"sum": 42}, f"pass-only workflow: {text}")
    check(not os.path.exists(nowhere), "a Pass-only workflow created the data directory")

    # 7. The history comes out in GetExecutionHistory's shape.
    history = os.path.join(ws.root, "history.json")
    code, out, text = run_workflow(args, ws, passes, '{"a": 1, "b": 1}',
                                   extra=("--history", history), data_dir=nowhere)
    with open(history) as f:
        events = json.load(f)["events"]
    types = [e["type"] for e in events]
    check(types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
          and "PassStateEntered" in types, f"history event types: {types}")


if __name__ == "__main__":
    h.run_e2e("workflow_run", body, time_limit_s=300)
