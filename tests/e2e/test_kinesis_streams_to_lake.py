#!/usr/bin/env python3
"""A Kinesis stream is a Basin stream: records put into a stream made with CreateStream reach the
lake as rows of raw.<stream> (docs/data-model.md, "Stream records"). A real `basin serve`, the
aws CLI v2 (/usr/bin/aws) with SigV4, the HTTP SQL API:

- `create-stream orders-feed`, put a JSON object and non-JSON bytes, POST /v1/admin/flush, and
  raw.orders_feed holds both (the JSON in `data`, the bytes in `data_base64`) with the sequence
  numbers PutRecord answered; a record posted to the native API lands there too;
- a stream whose table is taken (`orders_feed` beside `orders-feed`; `orders`, whose raw.orders
  is the batch table) is refused with ResourceInUseException and not created;
- after a restart the stream's loader starts with the server and loads each record once;
- DeleteStream then CreateStream of the same name starts over and appends to the same table.

    /usr/bin/python3 tests/e2e/test_kinesis_streams_to_lake.py --basin build/basin
"""

import base64
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402
from test_aws_kinesis import Cli  # noqa: E402

SERVE_ARGS = ["--no-schedules"]
STREAM = "orders-feed"
TABLE = "raw.orders_feed"


def put(cli, stream, key, data: bytes):
    answer = cli.ok("put-record", "--stream-name", stream, "--partition-key", key,
                    "--data", base64.b64encode(data).decode())
    check(answer["SequenceNumber"].isdigit(), f"put-record: {answer}")
    return answer


def rows(server, where=""):
    """(sequence_number, partition_key, shard, source, order_id, data_base64) by log order."""
    return h.query_all(server, "SELECT sequence_number, partition_key, shard, source, "
                               "data->>'order_id', data_base64, client_ip, user_agent "
                               f"FROM {TABLE} {where} ORDER BY ingest_time, sequence_number")


def refused(cli, stream, table):
    out = cli.run("create-stream", "--stream-name", stream, "--shard-count", "1")
    check(out.returncode != 0 and "ResourceInUseException" in out.stderr and table in out.stderr,
          f"create-stream {stream}: rc={out.returncode} {out.stderr}")
    listed = cli.ok("list-streams")["StreamNames"]
    check(stream not in listed, f"the refused stream {stream} exists: {listed}")


def start(args, ws, server, aws_port_file):
    try:
        os.unlink(aws_port_file)
    except FileNotFoundError:
        pass
    server.start()
    return f"http://127.0.0.1:{h.wait_for_port_file(aws_port_file)}"


def body(args, ws):
    key_id, secret = h.create_access_key(args.basin, ws.data_dir, "alice")
    aws_port_file = os.path.join(ws.root, "aws-port")
    server = ws.server(args.basin, extra_args=SERVE_ARGS + ["--aws-port", "0", "--aws-port-file",
                                                            aws_port_file])
    cli = Cli(ws.root, start(args, ws, server, aws_port_file), key_id, secret)
    run = uuid.uuid4().hex[:8]

    # A JSON object and bytes that are not JSON (nor UTF-8).
    cli.ok("create-stream", "--stream-name", STREAM, "--shard-count", "2")
    order = {"order_id": f"o-{run}", "total": 12.5, "items": [{"sku": "A", "qty": 2}]}
    json_put = put(cli, STREAM, "customer-1", json.dumps(order).encode())
    blob = bytes(range(256)) + b"\x00\xff" + os.urandom(64)
    blob_put = put(cli, STREAM, "customer-2", blob)
    flushed = h.flush(server)
    check(STREAM in flushed.get("flushed", {}), f"flush does not cover {STREAM}: {flushed}")

    got = rows(server)
    check(len(got) == 2, f"{TABLE} has {got}")
    by_seq = {r[0]: r for r in got}
    j = by_seq.get(json_put["SequenceNumber"])
    b = by_seq.get(blob_put["SequenceNumber"])
    check(j is not None and b is not None,
          f"rows {got} lack the sequence numbers {json_put} {blob_put}")
    check(j[1] == "customer-1" and j[3] == "kinesis" and j[4] == f"o-{run}" and j[5] is None,
          f"the JSON record's row: {j}")
    check(f"shardId-{j[2]:012d}" == json_put["ShardId"], f"shard {j[2]} vs {json_put}")
    check(j[6] == "127.0.0.1" and "aws-cli" in (j[7] or ""), f"client ip, user agent: {j}")
    check(b[4] is None and b[5] is not None and base64.b64decode(b[5]) == blob,
          f"the binary record's row: {b[:4]} data_base64={b[5]!r}")
    whole = h.query_all(server, f"SELECT CAST(data->'items'->0->>'qty' AS INTEGER), "
                                f"CAST(data->>'total' AS DOUBLE) FROM {TABLE} "
                                "WHERE data IS NOT NULL")
    check(whole == [[2, 12.5]], f"JSON fields: {whole}")
    dt = h.query_all(server, f"SELECT count(*) FROM {TABLE} WHERE dt = CAST(ingest_time AS DATE) "
                             "AND hour = hour(ingest_time)")
    check(dt == [[2]], f"partitions: {dt}")

    # The native API writes to the same stream: a Basin stream like any other.
    h.check_ack(h.post_events(server, {"order_id": f"native-{run}"}, stream=STREAM), 1)
    h.flush(server)
    native = rows(server, f"WHERE data->>'order_id' = 'native-{run}'")
    check(len(native) == 1 and native[0][3] == "api", f"native record: {native}")

    # Tables that are taken.
    refused(cli, "orders_feed", TABLE)
    refused(cli, "orders", "raw.orders")

    # A restart: the loader of orders-feed starts with the server; nothing is loaded twice.
    put(cli, STREAM, "customer-3", b"after the flush, before the restart")
    check(server.stop() == 0, "basin serve did not stop cleanly")
    cli = Cli(ws.root, start(args, ws, server, aws_port_file), key_id, secret)
    put(cli, STREAM, "customer-4", json.dumps({"order_id": f"late-{run}"}).encode())
    h.flush(server)
    got = rows(server)
    check(len(got) == 5 and len({r[0] for r in got}) == 5, f"after the restart: {got}")

    # Deleted and made again: starts from its first record, appends to the same table.
    cli.ok("delete-stream", "--stream-name", STREAM)
    cli.ok("create-stream", "--stream-name", STREAM, "--shard-count", "1")
    again = put(cli, STREAM, "customer-5", json.dumps({"order_id": f"again-{run}"}).encode())
    check(again["SequenceNumber"] == "49000000000000000000000000", f"re-created: {again}")
    h.flush(server)
    got = rows(server)
    check(len(got) == 6 and got[-1][4] == f"again-{run}", f"after re-creating: {got}")

    check(server.stop() == 0, "basin serve did not stop cleanly")


if __name__ == "__main__":
    h.run_e2e("kinesis_streams_to_lake", body, time_limit_s=240)
