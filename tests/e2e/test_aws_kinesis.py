#!/usr/bin/env python3
"""Kinesis over the AWS endpoint end to end (issue 4): a real `basin serve --aws-port 0`, an access
key from `basin keys create`, and unchanged AWS clients (the aws CLI v2 at /usr/bin/aws, boto3)
creating, describing, writing and reading streams with SigV4; events put to `clickstream` land
in raw.clickstream; a wrong secret, an unknown key and a skewed clock are refused with the AWS
error names.

    /usr/bin/python3 tests/e2e/test_aws_kinesis.py --basin build/basin
"""

import base64
import datetime
import json
import os
import subprocess
import sys
import time
import types
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

AWS_CLI = "/usr/bin/aws"
SERVE_ARGS = ["--no-schedules"]
CLI_TIMEOUT_S = 60




class Cli:
    """The aws CLI v2 with its own HOME and credentials, no retries, JSON output."""

    def __init__(self, root, endpoint, key_id, secret):
        self.endpoint = endpoint
        self.env = h.aws_cli_env(root, key_id, secret)

    def run(self, *args, secret=None, key_id=None):
        env = dict(self.env)
        if secret is not None:
            env["AWS_SECRET_ACCESS_KEY"] = secret
        if key_id is not None:
            env["AWS_ACCESS_KEY_ID"] = key_id
        return subprocess.run([AWS_CLI, "--endpoint-url", self.endpoint, "--output", "json",
                               "kinesis", *args], env=env, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S)

    def ok(self, *args):
        out = self.run(*args)
        check(out.returncode == 0, f"aws kinesis {' '.join(args)} failed: {out.stderr}")
        return json.loads(out.stdout) if out.stdout.strip() else {}


def boto_client(endpoint, key_id, secret):
    import boto3
    from botocore.config import Config
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}, connect_timeout=10,
                                      read_timeout=60))


def read_all(client, stream, shard_ids):
    """Every record of the stream from TRIM_HORIZON, as (partition key, data bytes)."""
    records = []
    for shard_id in shard_ids:
        it = client.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            got = client.get_records(ShardIterator=it, Limit=10000)
            records += [(r["PartitionKey"], r["Data"], r["SequenceNumber"])
                        for r in got["Records"]]
            if not got["Records"]:
                break
            it = got["NextShardIterator"]
    return records


def cli_part(cli, basin, ws):
    # Not "orders": its table raw.orders is the batch table (test_kinesis_streams_to_lake.py).
    cli.ok("create-stream", "--stream-name", "order-events", "--shard-count", "2")
    listed = cli.ok("list-streams")
    check("order-events" in listed["StreamNames"] and "clickstream" in listed["StreamNames"],
          f"list-streams: {listed}")
    summary = cli.ok("describe-stream-summary",
                     "--stream-name", "order-events")["StreamDescriptionSummary"]
    check(summary["StreamName"] == "order-events" and summary["StreamStatus"] == "ACTIVE"
          and summary["OpenShardCount"] == 2, f"describe-stream-summary: {summary}")
    check(summary["StreamARN"].endswith(":stream/order-events"), f"ARN: {summary['StreamARN']}")
    shards = cli.ok("list-shards", "--stream-name", "order-events")["Shards"]
    check([s["ShardId"] for s in shards] == ["shardId-000000000000", "shardId-000000000001"],
          f"list-shards: {shards}")

    # Binary data: the CLI takes base64 for blobs and sends the decoded bytes.
    payload = bytes(range(256)) + b"\x00\xff" + os.urandom(1000)
    put = cli.ok("put-record", "--stream-name", "order-events", "--partition-key", "p-1",
                 "--data", base64.b64encode(payload).decode())
    check(put["ShardId"].startswith("shardId-") and put["SequenceNumber"].isdigit(),
          f"put-record: {put}")
    records = [{"Data": base64.b64encode(f"record {i}".encode()).decode(),
                "PartitionKey": f"k-{i}"} for i in range(20)]
    put_many = cli.ok("put-records", "--stream-name", "order-events",
                      "--records", json.dumps(records))
    check(put_many["FailedRecordCount"] == 0 and len(put_many["Records"]) == 20,
          f"put-records: {put_many}")

    it = cli.ok("get-shard-iterator", "--stream-name", "order-events",
                "--shard-id", put["ShardId"],
                "--shard-iterator-type", "AT_SEQUENCE_NUMBER",
                "--starting-sequence-number", put["SequenceNumber"])["ShardIterator"]
    got = cli.ok("get-records", "--shard-iterator", it)
    check(got["Records"] and base64.b64decode(got["Records"][0]["Data"]) == payload,
          "get-records did not return the put-record bytes unchanged")
    check(got["Records"][0]["PartitionKey"] == "p-1", f"partition key: {got['Records'][0]}")
    every = []
    for shard in shards:
        it = cli.ok("get-shard-iterator", "--stream-name", "order-events", "--shard-id",
                    shard["ShardId"], "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
        every += cli.ok("get-records", "--shard-iterator", it)["Records"]
    datas = sorted(base64.b64decode(r["Data"]) for r in every)
    expected = sorted([payload] + [f"record {i}".encode() for i in range(20)])
    check(datas == expected, f"get-records returned {len(datas)} records, expected 21")


def boto_part(client):
    client.create_stream(StreamName="boto-stream", ShardCount=3)
    sent = [(f"pk-{i}", os.urandom(1 + (i * 37) % 3000)) for i in range(500)]
    answer = client.put_records(StreamName="boto-stream",
                                Records=[{"PartitionKey": k, "Data": d} for k, d in sent])
    check(answer["FailedRecordCount"] == 0, f"put_records failed {answer['FailedRecordCount']}")
    check(len(answer["Records"]) == 500, "put_records answered the wrong number of entries")
    shards = [s["ShardId"] for s in client.list_shards(StreamName="boto-stream")["Shards"]]
    check(len(shards) == 3, f"shards: {shards}")
    got = read_all(client, "boto-stream", shards)
    check(sorted((k, d) for k, d, _ in got) == sorted(sent),
          f"get_records returned {len(got)} records that differ from the 500 sent")
    # Per shard, records come back in the order they were put.
    by_seq = {seq: (k, d) for k, d, seq in got}
    for entry, (k, d) in zip(answer["Records"], sent):
        check(by_seq.get(entry["SequenceNumber"]) == (k, d),
              f"sequence number {entry['SequenceNumber']} does not read back its record")


def clickstream_part(client, server):
    run = uuid.uuid4().hex[:8]
    now_ms = int(time.time() * 1000)
    events = [{"event_id": f"kin-{run}-{i}", "event_type": "page_view" if i % 2 else "add_to_cart",
               "timestamp": now_ms - i, "user_id": f"u{i % 7}", "page_url": "/p/" + str(i)}
              for i in range(50)]
    answer = client.put_records(
        StreamName="clickstream",
        Records=[{"PartitionKey": e["user_id"], "Data": json.dumps(e).encode()} for e in events])
    check(answer["FailedRecordCount"] == 0, f"clickstream put_records: {answer}")
    single = {"event_id": f"kin-{run}-single", "event_type": "purchase", "timestamp": now_ms,
              "user_id": "u1", "revenue": 12.5, "currency": "EUR"}
    client.put_record(StreamName="clickstream", PartitionKey="u1",
                      Data=json.dumps(single).encode())
    h.flush(server)
    rows = h.query_all(server, "SELECT event_type, count(*) AS n, min(source) AS source, "
                               "sum(revenue) AS revenue FROM raw.clickstream "
                               f"WHERE event_id LIKE 'kin-{run}-%' GROUP BY 1 ORDER BY 1")
    counts = {r["event_type"] if isinstance(r, dict) else r[0]: r for r in rows}
    check(len(counts) == 3, f"raw.clickstream has {rows}")

    def field(row, name, index):
        return row[name] if isinstance(row, dict) else row[index]
    check(int(field(counts["add_to_cart"], "n", 1)) == 25
          and int(field(counts["page_view"], "n", 1)) == 25
          and int(field(counts["purchase"], "n", 1)) == 1, f"counts: {rows}")
    check(all(field(r, "source", 2) == "kinesis" for r in rows), f"source: {rows}")
    check(float(field(counts["purchase"], "revenue", 3)) == 12.5, f"revenue: {rows}")


def errors_part(cli, endpoint, key_id, secret):
    import botocore
    from botocore.exceptions import ClientError

    wrong = cli.run("list-streams", secret="x" * 40)
    check(wrong.returncode != 0 and "InvalidSignatureException" in wrong.stderr,
          f"wrong secret: rc={wrong.returncode} {wrong.stderr}")
    unknown = cli.run("list-streams", key_id="AKIA" + "Z" * 16)
    check(unknown.returncode != 0 and "UnrecognizedClientException" in unknown.stderr,
          f"unknown key: rc={unknown.returncode} {unknown.stderr}")

    # A client whose clock is 20 minutes behind.
    real_datetime = botocore.auth.datetime

    class SkewedDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() - datetime.timedelta(minutes=20)

    # The datetime module as the signers see it, with a clock 20 minutes slow.
    SkewedModule = types.SimpleNamespace(**{**vars(datetime), "datetime": SkewedDatetime})

    # botocore signs with its own SigV4Auth, or with awscrt's when that is installed (Debian).
    signer_modules = [botocore.auth]
    try:
        import botocore.crt.auth
        signer_modules.append(botocore.crt.auth)
    except ImportError:
        pass
    for module in signer_modules:
        module.datetime = SkewedModule
    try:
        client = boto_client(endpoint, key_id, secret)
        try:
            client.list_streams()
            raise h.TestFailure("a request signed 20 minutes ago was accepted")
        except ClientError as e:
            code = e.response["Error"]["Code"]
            message = e.response["Error"]["Message"]
            check(code == "InvalidSignatureException" and message.startswith("Signature expired"),
                  f"skewed clock: {code}: {message}")
    finally:
        for module in signer_modules:
            module.datetime = real_datetime

    wrong_client = boto_client(endpoint, key_id, "y" * 40)
    try:
        wrong_client.put_record(StreamName="orders", PartitionKey="k", Data=b"x")
        raise h.TestFailure("a request signed with the wrong secret was accepted")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "InvalidSignatureException",
              f"wrong secret (boto3): {e.response['Error']}")


def body(args, ws):
    key_id, secret = h.create_access_key(args.basin, ws.data_dir, "alice")
    aws_port_file = os.path.join(ws.root, "aws-port")
    server = ws.server(args.basin, extra_args=SERVE_ARGS + ["--aws-port", "0", "--aws-port-file",
                                                            aws_port_file])
    server.start()
    endpoint = f"http://127.0.0.1:{h.wait_for_port_file(aws_port_file)}"

    cli = Cli(ws.root, endpoint, key_id, secret)
    cli_part(cli, args.basin, ws)

    # A key created while the server runs works at once (the endpoint looks keys up).
    key2, secret2 = h.create_access_key(args.basin, ws.data_dir, "bob")
    client = boto_client(endpoint, key2, secret2)
    boto_part(client)
    clickstream_part(client, server)
    errors_part(cli, endpoint, key_id, secret)

    # A deleted key stops working (after the endpoint's short key cache).
    out = subprocess.run([args.basin, "keys", "delete", "--data-dir", ws.data_dir, key2],
                         capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, f"basin keys delete: {out.stderr}")
    listed = subprocess.run([args.basin, "keys", "list", "--data-dir", ws.data_dir],
                            capture_output=True, text=True, timeout=60)
    check(key_id in listed.stdout and key2 not in listed.stdout and secret not in listed.stdout,
          f"basin keys list: {listed.stdout}")
    deadline = time.monotonic() + 30
    while True:
        denied = cli.run("list-streams", key_id=key2, secret=secret2)
        if denied.returncode != 0 and "UnrecognizedClientException" in denied.stderr:
            break
        check(time.monotonic() < deadline, "a deleted key still works after 30 s")
        time.sleep(1)

    check(server.stop() == 0, "basin serve did not stop cleanly")


if __name__ == "__main__":
    h.run_e2e("aws_kinesis", body, time_limit_s=180)
