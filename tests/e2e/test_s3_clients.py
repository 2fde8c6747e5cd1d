#!/usr/bin/env python3
"""S3 over the AWS endpoint end to end (issue 4): a real `basin serve --aws-port 0`, an access key
from `basin keys create`, and unchanged S3 clients — the aws CLI v2 (/usr/bin/aws), boto3,
s3cmd and rclone — creating buckets, uploading (single PUT and multipart), listing, syncing and
downloading; every byte compared. Zone buckets serve the lake's Parquet files; an object put into
`landing` is loaded into raw.<table>. Raw SigV4-signed requests check the refusals: wrong secret,
skewed clock, malformed XML, bad parts, bad digests, odd keys — each leaving nothing stored.

    /usr/bin/python3 tests/e2e/test_s3_clients.py --basin build/basin
"""

import concurrent.futures
import datetime
import filecmp
import http.client
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import basin_harness as h  # noqa: E402
from basin_harness import check  # noqa: E402

AWS_CLI = "/usr/bin/aws"
S3CMD = "/usr/bin/s3cmd"
RCLONE = "/usr/bin/rclone"
SERVE_ARGS = ["--no-schedules"]
TOOL_TIMEOUT_S = 120
MIB = 1 << 20
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"




def run(cmd, env, what):
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise h.TestFailure(f"{what}: no answer within {TOOL_TIMEOUT_S} s") from e
    check(out.returncode == 0, f"{what} failed (rc={out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def write_tree(root, rng):
    """A small tree with awkward names and one multipart-sized file; returns {relpath: bytes}."""
    files = {
        "a.txt": b"hello\n",
        "empty": b"",
        "dir with space/ü+x=1&y.txt": b"odd name\n",
        "nested/deeper/deepest.bin": rng.randbytes(300_000),
        "nested/plus+sign.txt": b"+",
        "big/seventeen.bin": rng.randbytes(17 * MIB),
    }
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return files


def same_tree(expected, root):
    """Checks that `root` holds exactly the files of `expected`, byte for byte."""
    found = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    check(sorted(found) == sorted(expected),
          f"{root} holds {sorted(found)}, expected {sorted(expected)}")
    for rel, data in expected.items():
        check(found[rel] == data, f"{root}/{rel}: {len(found[rel])} bytes differ from the "
                                  f"{len(data)} uploaded")


class Cli:
    """The aws CLI v2 with its own HOME and credentials."""

    def __init__(self, root, endpoint, key_id, secret):
        self.endpoint = endpoint
        self.env = h.aws_cli_env(root, key_id, secret)

    def __call__(self, *args):
        return run([AWS_CLI, "--endpoint-url", self.endpoint, "--output", "json", *args],
                   self.env, "aws " + " ".join(args))


def boto_client(endpoint, key_id, secret):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}, connect_timeout=10,
                                      read_timeout=120, max_pool_connections=16))


def error_code(fn):
    from botocore.exceptions import ClientError
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


# ---- aws CLI ------------------------------------------------------------------------------------

def cli_part(cli, root, rng):
    cli("s3", "mb", "s3://cli-bucket")
    small = os.path.join(root, "small.txt")
    big = os.path.join(root, "big.bin")
    with open(small, "wb") as f:
        f.write(b"small file\n")
    big_data = rng.randbytes(20 * MIB)
    with open(big, "wb") as f:
        f.write(big_data)
    cli("s3", "cp", small, "s3://cli-bucket/small.txt")
    cli("s3", "cp", big, "s3://cli-bucket/big.bin")  # 8 MiB parts: multipart
    listing = cli("s3", "ls", "s3://cli-bucket/")
    check("small.txt" in listing and "big.bin" in listing and str(20 * MIB) in listing,
          f"aws s3 ls: {listing}")
    head = json.loads(cli("s3api", "head-object", "--bucket", "cli-bucket", "--key", "big.bin"))
    check(head["ContentLength"] == 20 * MIB, f"head-object ContentLength: {head}")
    check(head["ETag"].endswith('-3"'), f"multipart ETag: {head['ETag']}")
    down = os.path.join(root, "cli-down")
    os.makedirs(down)
    cli("s3", "cp", "s3://cli-bucket/big.bin", os.path.join(down, "big.bin"))  # ranged GETs
    cli("s3", "cp", "s3://cli-bucket/small.txt", os.path.join(down, "small.txt"))
    check(filecmp.cmp(big, os.path.join(down, "big.bin"), shallow=False), "big.bin differs")
    check(filecmp.cmp(small, os.path.join(down, "small.txt"), shallow=False),
          "small.txt differs")

    tree = os.path.join(root, "cli-tree")
    expected = write_tree(tree, rng)
    cli("s3", "sync", tree, "s3://cli-bucket/tree/")
    back = os.path.join(root, "cli-tree-back")
    cli("s3", "sync", "s3://cli-bucket/tree/", back)
    same_tree(expected, back)
    # A second sync up finds nothing to do; after a local delete, --delete removes the object.
    os.remove(os.path.join(tree, "a.txt"))
    cli("s3", "sync", "--delete", tree, "s3://cli-bucket/tree/")
    listing = cli("s3", "ls", "--recursive", "s3://cli-bucket/tree/")
    check("tree/a.txt" not in listing and "tree/nested/plus+sign.txt" in listing,
          f"after sync --delete: {listing}")

    cli("s3", "rm", "s3://cli-bucket/small.txt")
    check("small.txt" not in cli("s3", "ls", "s3://cli-bucket/"), "small.txt still listed")
    cli("s3", "rb", "--force", "s3://cli-bucket")
    check("cli-bucket" not in cli("s3", "ls"), "cli-bucket still listed after rb --force")


# ---- boto3 --------------------------------------------------------------------------------------

def boto_part(s3, root, rng):
    s3.create_bucket(Bucket="boto-bucket")
    up = os.path.join(root, "boto-up.bin")
    data = rng.randbytes(12 * MIB + 12345)
    with open(up, "wb") as f:
        f.write(data)
    s3.upload_file(up, "boto-bucket", "dir/upload.bin")
    down = os.path.join(root, "boto-down.bin")
    s3.download_file("boto-bucket", "dir/upload.bin", down)
    check(filecmp.cmp(up, down, shallow=False), "download_file differs from upload_file")

    keys = [f"many/{i:05d}-{'x' * (i % 7)}" for i in range(2500)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket="boto-bucket", Key=k, Body=k.encode()),
                      keys))
    listed, pages = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="boto-bucket",
                                                             Prefix="many/"):
        pages += 1
        listed += [o["Key"] for o in page.get("Contents", [])]
    check(listed == sorted(keys), f"list_objects_v2 returned {len(listed)} keys in {pages} pages")
    check(pages == 3, f"2,500 keys took {pages} pages of 1,000")
    got = s3.get_object(Bucket="boto-bucket", Key=keys[1234])
    check(got["Body"].read() == keys[1234].encode(), "get_object of a listed key")

    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        answer = s3.delete_objects(Bucket="boto-bucket",
                                   Delete={"Objects": [{"Key": k} for k in batch]})
        check(len(answer.get("Deleted", [])) == len(batch) and not answer.get("Errors"),
              f"delete_objects: {len(answer.get('Deleted', []))} deleted, "
              f"errors {answer.get('Errors')}")
    left = s3.list_objects_v2(Bucket="boto-bucket", Prefix="many/")
    check(left["KeyCount"] == 0, f"{left['KeyCount']} keys left after delete_objects")


# ---- s3cmd and rclone -----------------------------------------------------------------------------

def s3cmd_part(root, port, key_id, secret, rng):
    config = os.path.join(root, "s3cmd.cfg")
    with open(config, "w") as f:
        f.write(f"""[default]
access_key = {key_id}
secret_key = {secret}
host_base = 127.0.0.1:{port}
host_bucket = 127.0.0.1:{port}
use_https = False
signature_v2 = False
bucket_location = us-east-1
""")
    env = {"PATH": "/usr/bin:/bin", "HOME": root}
    s3cmd = [S3CMD, "-c", config, "--no-progress"]
    run(s3cmd + ["mb", "s3://s3cmd-bucket"], env, "s3cmd mb")
    tree = os.path.join(root, "s3cmd-tree")
    expected = write_tree(tree, rng)  # the 17 MiB file goes up in 15 MiB parts
    run(s3cmd + ["sync", tree + "/", "s3://s3cmd-bucket/tree/"], env, "s3cmd sync up")
    back = os.path.join(root, "s3cmd-back")
    os.makedirs(back)
    run(s3cmd + ["sync", "s3://s3cmd-bucket/tree/", back + "/"], env, "s3cmd sync down")
    same_tree(expected, back)
    listing = run(s3cmd + ["ls", "s3://s3cmd-bucket/tree/"], env, "s3cmd ls")
    check("DIR" in listing and "a.txt" in listing, f"s3cmd ls: {listing}")


def rclone_part(root, endpoint, key_id, secret, rng):
    env = {"PATH": "/usr/bin:/bin", "HOME": root,
           "RCLONE_CONFIG": os.path.join(root, "rclone.conf"),
           "RCLONE_CONFIG_BASIN_TYPE": "s3", "RCLONE_CONFIG_BASIN_PROVIDER": "Other",
           "RCLONE_CONFIG_BASIN_ENDPOINT": endpoint,
           "RCLONE_CONFIG_BASIN_ACCESS_KEY_ID": key_id,
           "RCLONE_CONFIG_BASIN_SECRET_ACCESS_KEY": secret,
           "RCLONE_CONFIG_BASIN_REGION": "us-east-1"}
    open(env["RCLONE_CONFIG"], "w").close()
    rclone = [RCLONE, "--retries", "1", "--low-level-retries", "1"]
    run(rclone + ["mkdir", "basin:rclone-bucket"], env, "rclone mkdir")
    tree = os.path.join(root, "rclone-tree")
    expected = write_tree(tree, rng)
    run(rclone + ["sync", tree, "basin:rclone-bucket/tree"], env, "rclone sync up")
    back = os.path.join(root, "rclone-back")
    run(rclone + ["sync", "basin:rclone-bucket/tree", back], env, "rclone sync down")
    same_tree(expected, back)
    run(rclone + ["check", tree, "basin:rclone-bucket/tree"], env, "rclone check")


# ---- Zones and landing ----------------------------------------------------------------------------

def zone_part(cli, s3, server, root):
    run_id = random.getrandbits(32)
    events = [{"event_id": f"s3-{run_id}-{i}", "event_type": "page_view",
               "timestamp": int(time.time() * 1000), "user_id": f"u{i}"} for i in range(20)]
    h.check_ack(h.post_events(server, events), len(events))
    h.flush(server)
    listing = cli("s3", "ls", "--recursive", "s3://raw/clickstream/")
    parquet = [line.split()[-1] for line in listing.splitlines() if line.endswith(".parquet")]
    check(parquet, f"no Parquet file under s3://raw/clickstream/: {listing}")
    local = os.path.join(root, "zone.parquet")
    cli("s3", "cp", f"s3://raw/{parquet[0]}", local)
    with open(local, "rb") as f:
        data = f.read()
    check(data[:4] == b"PAR1" and data[-4:] == b"PAR1", "the downloaded file is not Parquet")
    check(error_code(lambda: s3.put_object(Bucket="raw", Key="clickstream/x", Body=b"x"))
          == "AccessDenied", "a PUT into a zone bucket was not refused")


def landing_part(cli, s3, server, root):
    csv_path = os.path.join(root, "orders.csv")
    with open(csv_path, "w") as f:
        f.write("order_id,customer_id,total\n")
        for i in range(25):
            f.write(f"s3-{i},c{i % 5},{i}.50\n")
    cli("s3", "cp", csv_path, "s3://landing/orders/x.csv")
    rows = h.query_all(server, "SELECT count(*) AS n FROM raw.orders WHERE order_id LIKE 's3-%'")
    n = rows[0]["n"] if isinstance(rows[0], dict) else rows[0][0]
    check(int(n) == 25, f"raw.orders has {n} rows from the landing upload, expected 25")
    put = s3.put_object(Bucket="landing", Key="orders/y.csv",
                        Body=b"order_id,customer_id,total\ns3-y,c1,1.00\n")
    headers = put["ResponseMetadata"]["HTTPHeaders"]
    check("raw.orders" in headers.get("x-basin-ingest", ""), f"x-basin-ingest: {headers}")
    check(s3.get_object(Bucket="landing", Key="orders/x.csv")["Body"].read()
          == open(csv_path, "rb").read(), "the landing object is not kept as uploaded")


# ---- Raw signed requests --------------------------------------------------------------------------

class RawS3:
    """Requests signed by botocore's S3 SigV4 signer, sent byte for byte with http.client."""

    def __init__(self, port, key_id, secret):
        self.port = port
        self.key_id = key_id
        self.secret = secret

    def send(self, method, path, body=b"", headers=None, secret=None, skew_minutes=0):
        import botocore.auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        url = f"http://127.0.0.1:{self.port}{path}"
        headers = dict(headers or {})
        headers["Host"] = f"127.0.0.1:{self.port}"
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        signer = botocore.auth.S3SigV4Auth(
            Credentials(self.key_id, secret or self.secret), "s3", "us-east-1")
        real = botocore.auth.datetime
        if skew_minutes:
            skew = datetime.timedelta(minutes=skew_minutes)

            class Skewed(datetime.datetime):
                @classmethod
                def utcnow(cls):
                    return datetime.datetime.utcnow() - skew

            class Module:
                timedelta = datetime.timedelta
            Module.datetime = Skewed
            botocore.auth.datetime = Module
        try:
            signer.add_auth(request)
        finally:
            botocore.auth.datetime = real
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, resp.read(), dict(resp.getheaders())
        finally:
            conn.close()

    def error(self, *args, **kwargs):
        status, body, _ = self.send(*args, **kwargs)
        code = ET.fromstring(body).findtext("Code") if body else None
        return status, code


def raw_part(raw, s3, ws):
    s3.create_bucket(Bucket="raw-bucket")
    status, code = raw.error("PUT", "/raw-bucket/k", b"x", secret="w" * 40)
    check((status, code) == (403, "SignatureDoesNotMatch"), f"wrong secret: {status} {code}")
    status, code = raw.error("PUT", "/raw-bucket/k", b"x", skew_minutes=20)
    check((status, code) == (403, "RequestTimeTooSkewed"), f"skewed clock: {status} {code}")
    check(error_code(lambda: s3.head_object(Bucket="raw-bucket", Key="k")) == "404",
          "a refused PUT stored its object")

    # Keys are index values: dot segments, doubled and leading slashes round-trip literally.
    odd = {"/raw-bucket/a/../../escape-1": "a/../../escape-1",
           "/raw-bucket//lead-2": "/lead-2",
           "/raw-bucket/x//y-3": "x//y-3",
           "/raw-bucket/../../escape-4": "../../escape-4"}
    for path, key in odd.items():
        status, body, _ = raw.send("PUT", path, key.encode())
        check(status == 200, f"PUT {path}: {status} {body[:300]}")
        status, body, _ = raw.send("GET", path)
        check(status == 200 and body == key.encode(), f"GET {path}: {status} {body[:300]}")
        got = s3.get_object(Bucket="raw-bucket", Key=key)["Body"].read()
        check(got == key.encode(), f"boto3 get_object({key!r}) returned {got[:100]}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="raw-bucket").get("Contents", [])]
    check(sorted(keys) == sorted(odd.values()), f"listed keys: {keys}")
    for dirpath, dirnames, names in os.walk(ws.root):
        for name in names + dirnames:
            check("escape" not in name and "lead-2" not in name,
                  f"a key became a file name: {os.path.join(dirpath, name)}")

    status, code = raw.error("PUT", "/raw-bucket/nul%00key", b"x")
    check(status == 400 and code == "InvalidArgument", f"NUL key: {status} {code}")
    status, code = raw.error("PUT", "/raw-bucket/md5", b"payload",
                             headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="})
    check((status, code) == (400, "BadDigest"), f"bad Content-MD5: {status} {code}")
    check(error_code(lambda: s3.head_object(Bucket="raw-bucket", Key="md5")) == "404",
          "a PUT with a bad Content-MD5 stored its object")
    keys_after = [o["Key"] for o in s3.list_objects_v2(Bucket="raw-bucket").get("Contents", [])]
    check(sorted(keys_after) == sorted(odd.values()), f"refused PUTs stored keys: {keys_after}")

    upload = s3.create_multipart_upload(Bucket="raw-bucket", Key="mp")["UploadId"]
    quoted = urllib.parse.quote(upload, safe="")
    status, code = raw.error("POST", f"/raw-bucket/mp?uploadId={quoted}", b"<Complete><Part>")
    check((status, code) == (400, "MalformedXML"), f"malformed XML: {status} {code}")
    e1 = s3.upload_part(Bucket="raw-bucket", Key="mp", UploadId=upload, PartNumber=1,
                        Body=b"a" * 1024)["ETag"]
    e2 = s3.upload_part(Bucket="raw-bucket", Key="mp", UploadId=upload, PartNumber=2,
                        Body=b"b" * 1024)["ETag"]
    out_of_order = {"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]}
    check(error_code(lambda: s3.complete_multipart_upload(
        Bucket="raw-bucket", Key="mp", UploadId=upload, MultipartUpload=out_of_order))
        == "InvalidPartOrder", "parts out of order were not refused")
    in_order = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
    check(error_code(lambda: s3.complete_multipart_upload(
        Bucket="raw-bucket", Key="mp", UploadId=upload, MultipartUpload=in_order))
        == "EntityTooSmall", "a 1 KiB first part was not refused")
    check(error_code(lambda: s3.head_object(Bucket="raw-bucket", Key="mp")) == "404",
          "a refused completion stored the object")
    parts = s3.list_parts(Bucket="raw-bucket", Key="mp", UploadId=upload)["Parts"]
    check([p["PartNumber"] for p in parts] == [1, 2], f"parts after refusals: {parts}")
    s3.abort_multipart_upload(Bucket="raw-bucket", Key="mp", UploadId=upload)
    check(error_code(lambda: s3.list_parts(Bucket="raw-bucket", Key="mp", UploadId=upload))
          == "NoSuchUpload", "an aborted upload still lists parts")

    status, body, headers = raw.send("GET", "/raw-bucket?tagging")
    check(status == 501, f"an unsupported subresource answered {status}")
    status, body, headers = raw.send("HEAD", "/raw-bucket/missing")
    check(status == 404 and body == b"", f"HEAD of a missing key: {status} {body!r}")
    check(len(headers.get("x-amz-request-id", "")) == 16, f"request id: {headers}")


def body(args, ws):
    rng = random.Random(4)
    key_id, secret = h.create_access_key(args.basin, ws.data_dir, "alice")
    aws_port_file = os.path.join(ws.root, "aws-port")
    server = ws.server(args.basin, extra_args=SERVE_ARGS + ["--aws-port", "0", "--aws-port-file",
                                                            aws_port_file])
    server.start()
    port = h.wait_for_port_file(aws_port_file)
    endpoint = f"http://127.0.0.1:{port}"
    cli = Cli(ws.root, endpoint, key_id, secret)
    s3 = boto_client(endpoint, key_id, secret)

    steps = [
        ("aws CLI", lambda: cli_part(cli, ws.root, rng)),
        ("boto3", lambda: boto_part(s3, ws.root, rng)),
        ("s3cmd", lambda: s3cmd_part(ws.root, port, key_id, secret, rng)),
        ("rclone", lambda: rclone_part(ws.root, endpoint, key_id, secret, rng)),
        ("zone buckets", lambda: zone_part(cli, s3, server, ws.root)),
        ("landing", lambda: landing_part(cli, s3, server, ws.root)),
        ("raw requests", lambda: raw_part(RawS3(port, key_id, secret), s3, ws)),
    ]
    for name, step in steps:
        started = time.monotonic()
        step()
        print(f"  {name}: ok ({time.monotonic() - started:.1f} s)", flush=True)
    check(server.stop() == 0, "basin serve did not stop cleanly")


if __name__ == "__main__":
    h.run_e2e("s3_clients", body, time_limit_s=300)
