#!/usr/bin/env python3
"""Step Functions end to end (issue 5): a real `basin serve --aws-port 0`, an access key from
`basin keys create`, and the unchanged aws CLI v2 (/usr/bin/aws) creating state machines,
starting executions, following them to SUCCEEDED, reading their history, listing and stopping
them with SigV4, with the AWS exception names for the failures; a Task runs
athena:startQueryExecution.sync against a table of the lake; `basin workflow --endpoint` does the
same as a SigV4 client of the server. Then `basin workflow create|start|describe|history|list|
delete` over the data directory, without a server, answering the same JSON through the same API
code.

    /usr/bin/python3 tests/e2e/test_stepfunctions.py --basin build/basin
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

AWS_CLI = "/usr/bin/aws"
# Basin's own scheduled workflows stay off: only this test's executions run.
SERVE_ARGS = ["--no-schedules"]
CLI_TIMEOUT_S = 60
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOP = os.path.join(REPO, "tests", "data", "ecommerce")
ROLE = "arn:aws:iam::000000000000:role/basin-e2e"

PASS_WAIT_CHOICE = {
    "Comment": "Pass, Wait and Choice",
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Result": {"checked": True}, "ResultPath": "$.prep",
                    "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Decide"},
        "Decide": {"Type": "Choice",
                   "Choices": [{"Variable": "$.n", "NumericGreaterThan": 3, "Next": "Big"}],
                   "Default": "Small"},
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": True},
    },
}

COUNT_ORDERS = {
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "Task",
            "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
            "Parameters": {"QueryString": "SELECT count(*) AS n FROM raw.orders"},
            "ResultSelector": {
                "n.$": "States.StringToJson($.ResultSet.Rows[1].Data[0].VarCharValue)",
                "state.$": "$.QueryExecution.Status.State",
            },
            "End": True,
        },
    },
}

LONG_WAIT = {
    "StartAt": "Sleep",
    "States": {"Sleep": {"Type": "Wait", "Seconds": 3600, "End": True}},
}




class Cli:
    """The aws CLI v2 with its own HOME and credentials, no retries, JSON output."""

    def __init__(self, root, endpoint, key_id, secret):
        self.endpoint = endpoint
        self.env = h.aws_cli_env(root, key_id, secret)

    def run(self, *args):
        return subprocess.run([AWS_CLI, "--endpoint-url", self.endpoint, "--output", "json",
                               "stepfunctions", *args], env=self.env, capture_output=True,
                              text=True, timeout=CLI_TIMEOUT_S)

    def ok(self, *args):
        out = self.run(*args)
        check(out.returncode == 0, f"aws stepfunctions {' '.join(args)} failed: {out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def fails(self, error, *args):
        out = self.run(*args)
        check(out.returncode != 0 and f"({error})" in out.stderr,
              f"aws stepfunctions {' '.join(args)} should fail with {error}: "
              f"exit {out.returncode}, {out.stderr}{out.stdout}")
        return out.stderr


def write_definition(ws, name, definition):
    path = os.path.join(ws.root, name + ".asl.json")
    with open(path, "w") as f:
        json.dump(definition, f)
    return path


def wait_until_done(cli, arn, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        described = cli.ok("describe-execution", "--execution-arn", arn)
        if described["status"] != "RUNNING":
            return described
        check(time.monotonic() < deadline, f"{arn} still RUNNING after {timeout} s")
        time.sleep(0.2)


def event_types(history):
    return [e["type"] for e in history["events"]]


def aws_part(cli, ws, expected_orders):
    """Returns the ARN of the first execution, for the data-directory part."""
    # 1. Pass / Wait / Choice.
    created = cli.ok("create-state-machine", "--name", "pass-wait-choice", "--role-arn", ROLE,
                     "--definition", json.dumps(PASS_WAIT_CHOICE))
    machine = created["stateMachineArn"]
    check(machine.endswith(":stateMachine:pass-wait-choice") and created.get("creationDate"),
          f"create-state-machine: {created}")
    described = cli.ok("describe-state-machine", "--state-machine-arn", machine)
    check(described["name"] == "pass-wait-choice" and described["status"] == "ACTIVE"
          and json.loads(described["definition"]) == PASS_WAIT_CHOICE
          and described["roleArn"] == ROLE and described["type"] == "STANDARD",
          f"describe-state-machine: {described}")

    started = cli.ok("start-execution", "--state-machine-arn", machine, "--name", "first",
                     "--input", json.dumps({"n": 5}))
    execution = started["executionArn"]
    check(execution.endswith(":execution:pass-wait-choice:first") and started.get("startDate"),
          f"start-execution: {started}")
    done = wait_until_done(cli, execution)
    check(done["status"] == "SUCCEEDED", f"the execution should succeed: {done}")
    check(json.loads(done["output"]) == {"n": 5, "prep": {"checked": True}, "size": "big"},
          f"output: {done['output']}")
    check(json.loads(done["input"]) == {"n": 5} and done.get("stopDate"), f"describe: {done}")

    history = cli.ok("get-execution-history", "--execution-arn", execution)
    types = event_types(history)
    check(types == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered",
                    "WaitStateExited", "ChoiceStateEntered", "ChoiceStateExited",
                    "PassStateEntered", "PassStateExited", "ExecutionSucceeded"],
          f"history event types: {types}")
    check([e["id"] for e in history["events"]] == list(range(1, len(types) + 1)),
          f"event ids: {history['events']}")
    backwards = cli.ok("get-execution-history", "--execution-arn", execution, "--reverse-order")
    check(event_types(backwards) == list(reversed(types)), f"reverse order: {backwards}")
    # The CLI pages by itself: one event per page still gives every event.
    paged = cli.ok("get-execution-history", "--execution-arn", execution, "--page-size", "1")
    check(event_types(paged) == types, f"paged history: {event_types(paged)}")

    # A second execution that takes the Default branch, and listing both.
    small = cli.ok("start-execution", "--state-machine-arn", machine, "--name", "second",
                   "--input", json.dumps({"n": 1}))["executionArn"]
    check(json.loads(wait_until_done(cli, small)["output"])["size"] == "small", "Default branch")
    listed = cli.ok("list-executions", "--state-machine-arn", machine)["executions"]
    check([e["name"] for e in listed] == ["second", "first"]
          and all(e["status"] == "SUCCEEDED" for e in listed), f"list-executions: {listed}")
    check(cli.ok("list-executions", "--state-machine-arn", machine, "--status-filter",
                 "RUNNING")["executions"] == [], "no execution is RUNNING")

    # The same name again with another input.
    cli.fails("ExecutionAlreadyExists", "start-execution", "--state-machine-arn", machine,
              "--name", "first", "--input", json.dumps({"n": 6}))
    # Definitions are checked at creation.
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    cli.fails("InvalidDefinition", "create-state-machine", "--name", "broken", "--role-arn", ROLE,
              "--definition", json.dumps(broken))
    cli.fails("StateMachineDoesNotExist", "describe-state-machine", "--state-machine-arn",
              machine.replace("pass-wait-choice", "missing"))
    cli.fails("InvalidArn", "describe-execution", "--execution-arn", "not-an-arn")
    cli.fails("InvalidName", "start-execution", "--state-machine-arn", machine, "--name", "a b")

    # 2. A Task that queries the lake (Athena integration, run by Basin's query engine).
    counting = cli.ok("create-state-machine", "--name", "count-orders", "--role-arn", ROLE,
                      "--definition", json.dumps(COUNT_ORDERS))["stateMachineArn"]
    run = cli.ok("start-execution", "--state-machine-arn", counting)["executionArn"]
    done = wait_until_done(cli, run, timeout=120)
    check(done["status"] == "SUCCEEDED", f"the query task should succeed: {done}")
    check(json.loads(done["output"]) == {"n": expected_orders, "state": "SUCCEEDED"},
          f"the query's rows: {done['output']} (expected {expected_orders} orders)")
    types = event_types(cli.ok("get-execution-history", "--execution-arn", run))
    check(types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                    "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"],
          f"task history: {types}")

    # 3. Stopping a long Wait.
    sleeping = cli.ok("create-state-machine", "--name", "long-wait", "--role-arn", ROLE,
                      "--definition", json.dumps(LONG_WAIT))["stateMachineArn"]
    long_run = cli.ok("start-execution", "--state-machine-arn", sleeping, "--name",
                      "nap")["executionArn"]
    check(cli.ok("describe-execution", "--execution-arn", long_run)["status"] == "RUNNING",
          "the long wait runs")
    stopped = cli.ok("stop-execution", "--execution-arn", long_run, "--error", "Operator.Stop",
                     "--cause", "e2e")
    check(stopped.get("stopDate"), f"stop-execution: {stopped}")
    aborted = wait_until_done(cli, long_run)
    check(aborted["status"] == "ABORTED" and aborted.get("error") == "Operator.Stop"
          and aborted.get("cause") == "e2e", f"after stop-execution: {aborted}")
    deadline = time.monotonic() + 30
    while True:  # the execution thread writes ExecutionAborted when it notices the stop
        types = event_types(cli.ok("get-execution-history", "--execution-arn", long_run))
        if types[-1] == "ExecutionAborted":
            break
        check(time.monotonic() < deadline, f"no ExecutionAborted event: {types}")
        time.sleep(0.2)

    machines = [m["name"] for m in cli.ok("list-state-machines")["stateMachines"]]
    check({"pass-wait-choice", "count-orders", "long-wait"} <= set(machines),
          f"list-state-machines: {machines}")
    cli.ok("delete-state-machine", "--state-machine-arn", sleeping)
    cli.fails("StateMachineDoesNotExist", "describe-state-machine", "--state-machine-arn",
              sleeping)
    return execution


def basin_workflow(args, ws, *argv, expect=0, env=None):
    proc = subprocess.run([args.basin, "workflow", *argv, "--data-dir", ws.data_dir],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
                          env=env)
    check(proc.returncode == expect,
          f"basin workflow {' '.join(argv)}: exit {proc.returncode} (expected {expect}): "
          f"{proc.stdout} {proc.stderr}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise h.HarnessError(f"basin workflow {' '.join(argv)} printed {proc.stdout!r}")


def endpoint_part(args, ws, endpoint, key_id, secret):
    """`basin workflow --endpoint`: the CLI as a SigV4 client of the running server."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION="us-east-1")
    path = write_definition(ws, "remote", PASS_WAIT_CHOICE)
    created = basin_workflow(args, ws, "create", "remote-machine", path, "--endpoint", endpoint,
                             env=env)
    check(created["stateMachineArn"].endswith(":stateMachine:remote-machine"),
          f"create --endpoint: {created}")
    done = basin_workflow(args, ws, "start", "remote-machine", "--name", "over-http", "--input",
                          '{"n": 4}', "--endpoint", endpoint, env=env)
    check(done["status"] == "SUCCEEDED" and json.loads(done["output"])["size"] == "big",
          f"start --endpoint waits for the server's execution: {done}")
    runs = basin_workflow(args, ws, "list", "remote-machine", "--endpoint", endpoint, env=env)
    check([e["name"] for e in runs["executions"]] == ["over-http"], f"list --endpoint: {runs}")
    error = basin_workflow(args, ws, "describe", "no-such-machine", "--endpoint", endpoint,
                           env=env, expect=1)
    check(error["__type"] == "StateMachineDoesNotExist", f"describe --endpoint: {error}")
    wrong = dict(env, AWS_SECRET_ACCESS_KEY="x" * 40)
    error = basin_workflow(args, ws, "list", "--endpoint", endpoint, env=wrong, expect=1)
    check(error["__type"] == "InvalidSignatureException", f"a wrong secret: {error}")


def beside_server_part(args, ws):
    """`basin workflow --data-dir` while the server runs: it defines and reads, but the server
    alone runs executions (workflows.lock), so starting one points at the server's endpoint."""
    listed = basin_workflow(args, ws, "list")
    check("pass-wait-choice" in {m["name"] for m in listed["stateMachines"]},
          f"list beside the server: {listed}")
    error = basin_workflow(args, ws, "start", "pass-wait-choice", "--name", "beside",
                           expect=1)
    check(error["__type"] == "ServiceUnavailable" and "aws stepfunctions" in error["message"],
          f"start beside the server: {error}")
    runs = basin_workflow(args, ws, "list", "pass-wait-choice")["executions"]
    check("beside" not in [e["name"] for e in runs], f"nothing was started: {runs}")


def local_part(args, ws, expected_orders, first_execution):
    """The same API over the data directory, without a server."""
    # What the server made is there.
    listed = basin_workflow(args, ws, "list")
    check({"pass-wait-choice", "count-orders"} <= {m["name"] for m in listed["stateMachines"]},
          f"basin workflow list: {listed}")
    history_of_first = basin_workflow(args, ws, "history", first_execution)
    check(event_types(history_of_first)[-1] == "ExecutionSucceeded"
          and isinstance(history_of_first["events"][0]["timestamp"], float),
          f"history over the data dir: {history_of_first}")

    path = write_definition(ws, "local", PASS_WAIT_CHOICE)
    created = basin_workflow(args, ws, "create", "local-machine", path)
    machine = created["stateMachineArn"]
    check(machine.endswith(":stateMachine:local-machine"), f"basin workflow create: {created}")
    described = basin_workflow(args, ws, "describe", "local-machine")
    check(described["name"] == "local-machine" and described["roleArn"].startswith("arn:aws:iam:"),
          f"basin workflow describe (machine): {described}")

    done = basin_workflow(args, ws, "start", "local-machine", "--name", "cli-run", "--input",
                          '{"n": 9}')
    check(done["status"] == "SUCCEEDED" and json.loads(done["output"])["size"] == "big",
          f"basin workflow start waits and describes: {done}")
    execution = done["executionArn"]
    again = basin_workflow(args, ws, "describe", execution)
    check(again["status"] == "SUCCEEDED" and again["executionArn"] == execution,
          f"basin workflow describe (execution): {again}")
    types = event_types(basin_workflow(args, ws, "history", execution))
    check(types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
          and "WaitStateEntered" in types, f"basin workflow history: {types}")
    runs = basin_workflow(args, ws, "list", "local-machine")["executions"]
    check([e["name"] for e in runs] == ["cli-run"], f"basin workflow list MACHINE: {runs}")

    # The Athena task over the data directory.
    counted = basin_workflow(args, ws, "start", "count-orders")
    check(json.loads(counted["output"]) == {"n": expected_orders, "state": "SUCCEEDED"},
          f"the query task over the data dir: {counted}")

    # Failures: the AWS error JSON and exit 1.
    error = basin_workflow(args, ws, "start", "local-machine", "--name", "cli-run", "--input",
                           '{"n": 1}', expect=1)
    check(error["__type"] == "ExecutionAlreadyExists", f"duplicate name: {error}")
    broken = write_definition(ws, "broken", {"StartAt": "Nope", "States": {}})
    error = basin_workflow(args, ws, "create", "broken", broken, expect=1)
    check(error["__type"] == "InvalidDefinition", f"invalid definition: {error}")
    failing = write_definition(ws, "failing", {
        "StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "on purpose"}}})
    basin_workflow(args, ws, "create", "failing", failing)
    failed = basin_workflow(args, ws, "start", "failing", expect=1)
    check(failed["status"] == "FAILED" and failed["error"] == "Nope", f"a failed run: {failed}")

    # A `basin workflow start` that is still waiting holds the data directory's workflows: a
    # server started meanwhile refuses to start as a bystander (it must run the schedules and
    # resume executions), and says why.
    sleeper = write_definition(ws, "sleeper", LONG_WAIT)
    basin_workflow(args, ws, "create", "sleeper", sleeper)
    holder = subprocess.Popen([args.basin, "workflow", "start", "sleeper", "--name", "holding",
                               "--data-dir", ws.data_dir], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        holding = False
        while not holding and holder.poll() is None and time.monotonic() < deadline:
            runs = basin_workflow(args, ws, "list", "sleeper")["executions"]
            holding = any(e["name"] == "holding" for e in runs)
            if not holding:
                time.sleep(0.2)
        # `list` never takes the lock, so it cannot make the holder a bystander that exits.
        check(holding and holder.poll() is None,
              f"basin workflow start holds the lock: running={holder.poll() is None}")
        refused = subprocess.run([args.basin, "serve", "--data-dir", ws.data_dir, "--port", "0",
                                  "--aws-port", "0", "--no-schedules"],
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=60)
        check(refused.returncode != 0 and "workflows.lock" in refused.stdout + refused.stderr,
              f"serve beside a running `basin workflow start`: exit {refused.returncode}, "
              f"{(refused.stdout + refused.stderr)[-600:]}")
    finally:
        holder.kill()
        holder.wait(timeout=30)

    basin_workflow(args, ws, "delete", "local-machine")
    error = basin_workflow(args, ws, "describe", "local-machine", expect=1)
    check(error["__type"] == "StateMachineDoesNotExist", f"after delete: {error}")


def body(args, ws):
    key_id, secret = h.create_access_key(args.basin, ws.data_dir, "alice")
    proc = subprocess.run([args.basin, "ingest", os.path.join(SHOP, "orders_day1.csv"),
                           "--table", "raw.orders", "--data-dir", ws.data_dir],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    check(proc.returncode == 0, f"basin ingest failed: {proc.stdout!r} {proc.stderr!r}")
    counted = h.offline_sql(args.basin, ws.data_dir, "SELECT count(*) FROM raw.orders")
    expected_orders = json.loads(counted.stdout)["rows"][0][0]
    check(expected_orders > 0, f"raw.orders has rows: {counted.stdout}")

    aws_port_file = os.path.join(ws.root, "aws-port")
    server = ws.server(args.basin, extra_args=SERVE_ARGS + ["--aws-port", "0", "--aws-port-file",
                                                            aws_port_file])
    server.start()
    endpoint = f"http://127.0.0.1:{h.wait_for_port_file(aws_port_file)}"
    first_execution = aws_part(Cli(ws.root, endpoint, key_id, secret), ws, expected_orders)
    endpoint_part(args, ws, endpoint, key_id, secret)
    beside_server_part(args, ws)
    check(server.stop() == 0, "basin serve did not stop cleanly")

    local_part(args, ws, expected_orders, first_execution)


if __name__ == "__main__":
    h.run_e2e("stepfunctions", body, time_limit_s=300)
