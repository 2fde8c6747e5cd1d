#!/usr/bin/env bash
# S3 PUT/GET throughput on the AWS endpoint with boto3 (put_object / get_object, one request per
# object, SigV4 with a signed payload as boto3 signs over http), for 1 MiB and 64 MiB objects,
# against the same bytes written with a raw sequential write + fsync per object and read back
# (dd-style) on the same filesystem in the same run. See docs/benchmarks.md, "S3 PUT/GET".
#
# Environment knobs (defaults in brackets):
#   BUILD [build]          build directory holding basin (or BASIN=path)
#   BENCH_RUNS [3]         alternating runs per side; medians are reported
#   BENCH_S3_SMALL_N [64]  1 MiB objects per run
#   BENCH_S3_LARGE_N [4]   64 MiB objects per run
#   BENCH_TMPDIR [/tmp]    where the data directory and the raw files go
#   PYTHON [/usr/bin/python3]   an interpreter with boto3
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
BASIN=${BASIN:-$ROOT/$BUILD/basin}
RUNS=${BENCH_RUNS:-3}
SMALL_N=${BENCH_S3_SMALL_N:-64}
LARGE_N=${BENCH_S3_LARGE_N:-4}
PYTHON=${PYTHON:-/usr/bin/python3}

log() { echo "bench-s3: $*" >&2; }
[[ -x $BASIN ]] || { log "no basin binary at $BASIN"; exit 1; }
"$PYTHON" -c 'import boto3' 2>/dev/null || { log "$PYTHON has no boto3"; exit 1; }

WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/basin-bench-s3-XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r KEY_ID SECRET < <("$BASIN" keys create --data-dir "$WORK/data" --user bench) ||
  { log "basin keys create failed"; exit 1; }
"$BASIN" serve --data-dir "$WORK/data" --address 127.0.0.1 --port 0 --port-file "$WORK/port" \
  --aws-port 0 --aws-port-file "$WORK/aws-port" --log-level warn --no-schedules \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do [[ -s $WORK/aws-port ]] && break; sleep 0.1; done
[[ -s $WORK/aws-port ]] || { log "server did not start"; cat "$WORK/server.log" >&2; exit 1; }

mkdir -p bench/results
RESULTS=bench/results/s3-$(date -u +%Y%m%dT%H%M%SZ).jsonl
log "raw results: $RESULTS (load average $(cut -d' ' -f1-3 /proc/loadavg))"

"$PYTHON" - "$(cat "$WORK/aws-port")" "$KEY_ID" "$SECRET" "$WORK/raw" "$RUNS" "$SMALL_N" \
  "$LARGE_N" "$SERVER_PID" >"$RESULTS" <<'PY'
import json, os, sys, time
import boto3
from botocore.config import Config

port, key_id, secret, raw_dir = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
runs, small_n, large_n, server_pid = (int(x) for x in sys.argv[5:9])
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id=key_id, aws_secret_access_key=secret,
                  config=Config(retries={"max_attempts": 1}, read_timeout=300))
s3.create_bucket(Bucket="bench")
os.makedirs(raw_dir, exist_ok=True)
ticks = os.sysconf("SC_CLK_TCK")

def server_cpu_s():
    with open(f"/proc/{server_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks

def emit(**row):
    print(json.dumps(row), flush=True)

for size_name, size, count in (("1MiB", 1 << 20, small_n), ("64MiB", 64 << 20, large_n)):
    # Different bytes per object (the store keeps identical content once).
    bodies = [os.urandom(size) for _ in range(count)]
    for run in range(runs):
        for side in ("raw", "s3"):
            if side == "raw":
                start = time.perf_counter()
                for i, body in enumerate(bodies):
                    fd = os.open(f"{raw_dir}/{size_name}-{run}-{i}", os.O_WRONLY | os.O_CREAT |
                                 os.O_TRUNC, 0o644)
                    view = memoryview(body)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                    os.close(fd)
                dirfd = os.open(raw_dir, os.O_RDONLY)
                os.fsync(dirfd)
                os.close(dirfd)
                put_s = time.perf_counter() - start
                start = time.perf_counter()
                for i, body in enumerate(bodies):
                    with open(f"{raw_dir}/{size_name}-{run}-{i}", "rb", buffering=0) as f:
                        assert len(f.read()) == size
                get_s = time.perf_counter() - start
                cpu = 0.0
                for i in range(count):
                    os.unlink(f"{raw_dir}/{size_name}-{run}-{i}")
            else:
                cpu_before = server_cpu_s()
                start = time.perf_counter()
                for i, body in enumerate(bodies):
                    s3.put_object(Bucket="bench", Key=f"{size_name}/{run}/{i}", Body=body)
                put_s = time.perf_counter() - start
                start = time.perf_counter()
                for i in range(count):
                    data = s3.get_object(Bucket="bench", Key=f"{size_name}/{run}/{i}")["Body"].read()
                    assert len(data) == size
                get_s = time.perf_counter() - start
                cpu = server_cpu_s() - cpu_before
                s3.delete_objects(Bucket="bench", Delete={"Objects": [
                    {"Key": f"{size_name}/{run}/{i}"} for i in range(count)]})
            mb = size * count / 1e6
            emit(size=size_name, objects=count, run=run, side=side, put_s=put_s, get_s=get_s,
                 put_mb_per_s=mb / put_s, get_mb_per_s=mb / get_s, server_cpu_s=cpu)
PY
rc=$?
((rc == 0)) || { log "the benchmark failed (exit $rc)"; cat "$WORK/server.log" >&2; exit "$rc"; }

"$PYTHON" - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'object':7} {'side':22} {'PUT MB/s':>9} {'GET MB/s':>9} {'server CPU s/GiB':>16}")
for size in ("1MiB", "64MiB"):
    med = {}
    for side, label in (("raw", "raw write+fsync/read"), ("s3", "boto3 via S3 endpoint")):
        r = [x for x in rows if x["size"] == size and x["side"] == side]
        put = statistics.median(x["put_mb_per_s"] for x in r)
        get = statistics.median(x["get_mb_per_s"] for x in r)
        med[side] = (put, get)
        cpu = statistics.median(x["server_cpu_s"] / (x["objects"] * (1 if size == "1MiB" else 64) / 1024)
                                for x in r) if side == "s3" else 0
        cpu_text = f"{cpu:16.1f}" if side == "s3" else f"{'-':>16}"
        print(f"{size:7} {label:22} {put:9.1f} {get:9.1f} {cpu_text}")
    print(f"{size:7} {'ratio s3 / raw':22} {med['s3'][0] / med['raw'][0]:9.2f} "
          f"{med['s3'][1] / med['raw'][1]:9.2f}")
PY
