#!/usr/bin/env bash
# Kinesis PutRecords throughput on the AWS endpoint, as a ratio of the native stream API
# (POST /v1/streams/clickstream/records) measured in the same run on the same server. Both use
# bench/kinesis_load.py (Python standard library, same events, batches of BENCH_BATCH, one
# keep-alive connection per worker), so the client costs are alike; Kinesis also pays SigV4
# signing (client) and verification (server), base64 and the larger JSON body.
# See docs/benchmarks.md, "Kinesis PutRecords vs. the native API".
#
# Environment knobs (defaults in brackets):
#   BUILD [build]          build directory holding basin (or BASIN=path)
#   BENCH_DURATION [10]    measured seconds per run
#   BENCH_RUNS [3]         alternating runs per mode; the median is reported
#   BENCH_BATCH [500]      events per request
#   BENCH_WORKERS [2]      client processes (one connection each)
#   BENCH_SERVER_CPU [0], BENCH_CLIENT_CPU [1]   cores to pin to
#   BENCH_TMPDIR [/tmp]    where the data directory goes
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
BASIN=${BASIN:-$ROOT/$BUILD/basin}
DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
BATCH=${BENCH_BATCH:-500}
WORKERS=${BENCH_WORKERS:-2}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
PYTHON=${PYTHON:-python3}

log() { echo "bench-kinesis: $*" >&2; }
[[ -x $BASIN ]] || { log "no basin binary at $BASIN"; exit 1; }

WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/basin-bench-kinesis-XXXXXX")
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
taskset -c "$SERVER_CPU" "$BASIN" serve --data-dir "$WORK/data" --address 127.0.0.1 \
  --port 0 --port-file "$WORK/port" --aws-port 0 --aws-port-file "$WORK/aws-port" \
  --log-level warn --no-schedules >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do [[ -s $WORK/aws-port ]] && break; sleep 0.1; done
[[ -s $WORK/aws-port ]] || { log "server did not start"; cat "$WORK/server.log" >&2; exit 1; }
PORT=$(cat "$WORK/port")
AWS_PORT=$(cat "$WORK/aws-port")

server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

run() {  # mode port: one JSON line, plus the server's CPU seconds over the run
  local before after line
  before=$(server_cpu_ticks)
  line=$(taskset -c "$CLIENT_CPU" "$PYTHON" bench/kinesis_load.py --mode "$1" --port "$2" \
    --key-id "$KEY_ID" --secret "$SECRET" --batch "$BATCH" --workers "$WORKERS" \
    --duration "$DURATION")
  after=$(server_cpu_ticks)
  echo "${line%\}}, \"server_cpu_s\": $(echo "($after - $before) / $(getconf CLK_TCK)" | bc -l)}"
}

mkdir -p bench/results
RESULTS=bench/results/kinesis-$(date -u +%Y%m%dT%H%M%SZ).jsonl
log "raw results: $RESULTS"
for i in $(seq "$RUNS"); do
  run native "$PORT" | tee -a "$RESULTS"
  run kinesis "$AWS_PORT" | tee -a "$RESULTS"
done

"$PYTHON" - "$RESULTS" "$BATCH" "$WORKERS" "$DURATION" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {m: statistics.median(r["events_per_s"] for r in rows if r["mode"] == m)
       for m in ("native", "kinesis")}
errors = sum(r["errors"] for r in rows)
cpu = {m: statistics.median(r["server_cpu_s"] * 1e6 / max(r["events"], 1) for r in rows
                            if r["mode"] == m) for m in ("native", "kinesis")}
print(f"batch {sys.argv[2]} events, {sys.argv[3]} client processes, {sys.argv[4]} s per run")
print(f"native  POST /v1/streams/clickstream/records  median {med['native']:>9,.0f} events/s")
print(f"kinesis PutRecords (SigV4, AWS endpoint)       median {med['kinesis']:>9,.0f} events/s")
print(f"ratio kinesis / native: {med['kinesis'] / med['native']:.2f}   (request errors: {errors})")
print(f"server CPU per event: native {cpu['native']:.2f} us, kinesis {cpu['kinesis']:.2f} us "
      f"(ratio {cpu['kinesis'] / cpu['native']:.2f})")
PY
