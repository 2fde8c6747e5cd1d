#!/usr/bin/env bash
# `make bench`: Basin's ingest benchmark with same-run anchors. See docs/benchmarks.md.
#
# Basin runs pinned to one core (BENCH_SERVER_CPU, default 0), the load generators to another
# (BENCH_CLIENT_CPU, default 1), each Basin run on a fresh data directory. Every scenario runs
# BENCH_RUNS times (default 2); the report keeps both and the better one. Results: one raw JSON
# line per run in bench/results/run-<time>.jsonl, the summary in bench/results/latest.json.
#
# Environment knobs (defaults in brackets):
#   BUILD [build]            build directory holding basin and bench/basin-loadgen
#   BASIN, LOADGEN           explicit binaries (override BUILD)
#   BENCH_DURATION [10]      seconds measured per load-generator run, after BENCH_WARMUP [2]
#   BENCH_RUNS [2]           runs per scenario
#   BENCH_ONLY [all]         all | basin | anchors (Redis + fsync probe only) | batch | kinesis |
#                            s3 | workflow (only bench/batch.sh, bench/kinesis.sh, bench/s3.sh or
#                            bench/workflow.sh, which `all` runs at the end; their knobs are there)
#   BENCH_TARGET [basin]     basin | stub (bench/stub_collector.py instead of Basin: checks this
#                            script and the load generator, measures nothing about Basin)
#   BENCH_TMPDIR [/tmp]      where data directories go (must be the disk you mean to measure)
#   BENCH_REDIS_P16_N [300000], BENCH_REDIS_P1_N [100000]   requests per redis-benchmark run
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=${BUILD:-build}
BASIN=${BASIN:-$ROOT/$BUILD/basin}
LOADGEN=${LOADGEN:-$ROOT/$BUILD/bench/basin-loadgen}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
RUNS=${BENCH_RUNS:-2}
ONLY=${BENCH_ONLY:-all}
TARGET=${BENCH_TARGET:-basin}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
REDIS_P16_N=${BENCH_REDIS_P16_N:-300000}
REDIS_P1_N=${BENCH_REDIS_P1_N:-100000}
STOP_GRACE_S=10

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# The batch benchmark (CSV/NDJSON -> processed vs DuckDB COPY) is bench/batch.sh.
[[ $ONLY == batch ]] && exec bash bench/batch.sh
# The AWS endpoint: Kinesis PutRecords vs the native API, S3 PUT/GET vs raw file I/O.
[[ $ONLY == kinesis ]] && exec bash bench/kinesis.sh
[[ $ONLY == s3 ]] && exec bash bench/s3.sh
# The ASL interpreter: transitions/s and memory per execution.
[[ $ONLY == workflow ]] && exec bash bench/workflow.sh

# ---------------------------------------------------------------- tools
need_apt=()
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v python3 >/dev/null || need_apt+=(python3)
if [[ $ONLY != basin ]]; then
  command -v redis-server >/dev/null || need_apt+=(redis-server)
  { command -v redis-benchmark >/dev/null && command -v redis-cli >/dev/null; } ||
    need_apt+=(redis-tools)
fi
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  [[ $(id -u) == 0 ]] || die "need root to apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null ||
    die "apt-get install ${need_apt[*]} failed"
fi
[[ -x $LOADGEN ]] || die "no load generator at $LOADGEN (build the basin-loadgen target)"

run_basin=1
if [[ $ONLY == anchors ]]; then
  run_basin=0
elif [[ $TARGET == basin && ! -x $BASIN ]]; then
  die "no Basin binary at $BASIN (make build; or BENCH_ONLY=anchors for the Redis anchor alone)"
fi

# Pinning needs two cores; on one core the numbers would measure the scheduler.
PIN_SERVER=(taskset -c "$SERVER_CPU")
PIN_CLIENT=(taskset -c "$CLIENT_CPU")
if (($(nproc) < 2)); then
  log "only $(nproc) core: running unpinned (numbers are not comparable to pinned runs)"
  PIN_SERVER=()
  PIN_CLIENT=()
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
RAW=bench/results/run-$STAMP.jsonl
SUMMARY=bench/results/latest.json
if [[ $TARGET == stub ]]; then  # never mistaken for, or overwriting, a Basin result
  RAW=bench/results/stub-run-$STAMP.jsonl
  SUMMARY=bench/results/stub-latest.json
fi
WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/basin-bench.XXXXXX")
SERVER_PID=
REDIS_PID=
FORCED_STOP=false

cleanup() {
  [[ -n $SERVER_PID ]] && kill -KILL "$SERVER_PID" 2>/dev/null
  [[ -n $REDIS_PID ]] && kill -KILL "$REDIS_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

emit() { echo "$1" >>"$RAW"; }

# ---------------------------------------------------------------- environment
env_json() {
  python3 - "$@" <<'EOF'
import json, os, platform, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""
cpu = ""
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
mem_kb = int(sh("awk '/MemTotal/ {print $2}' /proc/meminfo") or 0)
work = sys.argv[1]
src = sh(f"df --output=source {work} | tail -1")
disk = sh(f"lsblk -dno NAME,SIZE,ROTA,MODEL /dev/$(lsblk -no PKNAME {src} 2>/dev/null | head -1 || basename {src}) 2>/dev/null") or sh(f"lsblk -dno NAME,SIZE,ROTA,MODEL {src} 2>/dev/null")
print(json.dumps({"kind": "env", "result": {
    "date_utc": sh("date -u +%FT%TZ"),
    "nproc": os.cpu_count(),
    "cpu_model": cpu,
    "kernel": platform.release(),
    "mem_gib": round(mem_kb / 1048576, 1),
    "data_dir_fs": sh(f"df --output=source,fstype {work} | tail -1"),
    "disk_name_size_rota_model": disk,
    "virtualization": sh("systemd-detect-virt 2>/dev/null"),
    "basin_version": sh(f"{sys.argv[2]} --version 2>/dev/null | head -1"),
    "basin_binary": sys.argv[2],
    "basin_sha256": sh(f"sha256sum {sys.argv[2]} 2>/dev/null | cut -c1-16"),
    "basin_commit": sh(f"git -C {sys.argv[4]} rev-parse --short HEAD 2>/dev/null"),
    "redis_version": sh("redis-server --version 2>/dev/null"),
    "duckdb_version_setup": sh(f"grep -m1 '^DUCKDB_VERSION=' {sys.argv[4]}/scripts/setup.sh | cut -d= -f2"),
    "loadgen": sys.argv[3],
    "duration_s": float(os.environ.get("DURATION", "0")),
    "warmup_s": float(os.environ.get("WARMUP", "0")),
    "runs": int(os.environ.get("RUNS", "0")),
    "target": os.environ.get("TARGET", ""),
    "load_average_at_start": sh("cut -d' ' -f1-3 /proc/loadavg"),
}}))
EOF
}
export DURATION WARMUP RUNS TARGET  # read by env_json
emit "$(env_json "$WORK" "$BASIN" "$LOADGEN" "$ROOT")"
log "raw results -> $RAW (work dir $WORK)"

# ---------------------------------------------------------------- server control
# start_server NAME [extra basin flags...]: fresh data dir, waits for the port file.
start_server() {
  local name=$1
  shift
  local data=$WORK/data-$name portfile=$WORK/port-$name
  rm -rf "$data" "$portfile"
  mkdir -p "$data"
  if [[ $TARGET == stub ]]; then
    "${PIN_SERVER[@]}" python3 bench/stub_collector.py --port 0 --port-file "$portfile" \
      --loader-interval-ms 1000 >"$WORK/$name.log" 2>&1 &
  else
    "${PIN_SERVER[@]}" "$BASIN" serve --data-dir "$data" --port 0 --aws-port 0 \
      --address 127.0.0.1 --port-file "$portfile" --log-level warn "$@" >"$WORK/$name.log" 2>&1 &
  fi
  SERVER_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -s $portfile ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -s $portfile ]]; then
    log "server '$name' did not start; log tail:"
    tail -n 20 "$WORK/$name.log" >&2
    kill -KILL "$SERVER_PID" 2>/dev/null
    SERVER_PID=
    return 1
  fi
  PORT=$(tr -dc 0-9 <"$portfile")
  # The port file appears once listening; /healthz says the rest of start-up is done too.
  [[ $TARGET == stub ]] && return 0
  python3 - "$PORT" <<'EOF2' || log "server '$name': /healthz did not answer 200 within 60 s"
import sys, time, urllib.request
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF2
}

vmhwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }

# stop_server: SIGTERM, then SIGKILL after STOP_GRACE_S (the data dir is discarded either way).
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  local i
  for ((i = 0; i < STOP_GRACE_S * 10; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  FORCED_STOP=false
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    FORCED_STOP=true
    log "server did not stop within ${STOP_GRACE_S}s of SIGTERM; killing it"
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
  # Deleting a run's data dir and flushing what it left dirty must not land in the next run's
  # measurement window.
  rm -rf "$WORK"/data-*
  timeout 60 sync
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0; }

# A few server-side figures from /metrics (JSON), to explain a run: fsyncs, group sizes, loader lag.
server_metrics() {
  [[ $TARGET == stub ]] && { echo null; return; }
  python3 - "$PORT" <<'EOF2'
import json, sys, urllib.request
want = ["basin_log_fsyncs_total", "basin_log_fsync_seconds_sum", "basin_log_fsync_seconds_count",
        "basin_log_group_commit_records_sum", "basin_log_group_commit_records_count",
        "basin_loader_lag_records", "basin_loader_rows_total", "basin_loader_commits_total",
        "basin_ingest_events_accepted_total", "basin_ingest_ack_seconds_sum",
        "basin_ingest_ack_seconds_count"]
out = {}
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in want:
                out[name] = out.get(name, 0) + float(line.rsplit(" ", 1)[1])
except Exception as e:
    out = {"error": str(e)}
print(json.dumps(out))
EOF2
}

# one_run SCENARIO RUN SERVER_MODE SERVER_FLAGS -- LOADGEN ARGS...
# Starts a fresh server, runs the load generator against it, records one raw line.
one_run() {
  local scenario=$1 run=$2 mode=$3 flags=$4
  shift 5
  local -a server_flags=()
  [[ -n $flags ]] && read -r -a server_flags <<<"$flags"
  start_server "$scenario-$run" "${server_flags[@]}" || {
    emit "{\"kind\":\"loadgen\",\"scenario\":\"$scenario\",\"run\":$run,\"server\":\"$mode\",\"error\":\"server did not start\",\"result\":null}"
    return 1
  }
  local out rc ticks0 ticks1 t0 t1
  ticks0=$(cpu_ticks)
  t0=$(date +%s.%N)
  out=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 60)) "${PIN_CLIENT[@]}" "$LOADGEN" \
    --port "$PORT" --duration "$DURATION" --warmup "$WARMUP" "$@" 2>"$WORK/loadgen.err")
  rc=$?
  ticks1=$(cpu_ticks)
  t1=$(date +%s.%N)
  local hwm metrics cpu
  hwm=$(vmhwm_kb)
  metrics=$(server_metrics)
  # Server CPU over the whole load run (warm-up included), in cores: 1.0 = its core is full.
  cpu=$(python3 -c "print(round(($ticks1 - $ticks0) / $(getconf CLK_TCK) / ($t1 - $t0), 3))")
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "$scenario run $run: the server died; log tail:"
    tail -n 20 "$WORK/$scenario-$run.log" >&2
  fi
  stop_server
  [[ -n $out ]] || out=null
  emit "{\"kind\":\"loadgen\",\"scenario\":\"$scenario\",\"run\":$run,\"server\":\"$mode\",\"server_flags\":\"$flags\",\"loadgen_args\":\"$*\",\"rc\":$rc,\"vmhwm_kb\":${hwm:-0},\"server_cpu_cores\":$cpu,\"forced_stop\":$FORCED_STOP,\"server_metrics\":${metrics:-null},\"result\":$out}"
  log "$scenario run $run: $(summarize_line "$out"), server CPU $cpu cores"
}

summarize_line() {
  python3 - "$1" <<'EOF2'
import json, sys
r = json.loads(sys.argv[1])
if not r:
    print("no result")
else:
    l = r["latency_ms"]
    print(f"{r['events_per_s']:,.0f} events/s, {r['requests_per_s']:,.0f} req/s, "
          f"p50 {l['p50']} ms, p99 {l['p99']} ms, errors {r['errors']}")
EOF2
}

best_req_per_s() { # best requests_per_s of SCENARIO in the raw file
  python3 - "$RAW" "$1" <<'EOF'
import json, sys
best = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("scenario") == sys.argv[2] and r.get("result"):
        best = max(best, r["result"].get("requests_per_s", 0))
print(best)
EOF
}

# ---------------------------------------------------------------- anchors
# Raw fsync probe: 4 KiB overwrites of a preallocated file, each followed by fdatasync
# (dd oflag=dsync): the floor under any durable acknowledgement on this disk, at that moment.
# Taken at the start and at the end, because the disk's speed drifts during a run.
fsync_probe() {
  local when=$1 probe=$WORK/fsync-probe t0 t1
  fallocate -l 8M "$probe" 2>/dev/null || dd if=/dev/zero of="$probe" bs=1M count=8 status=none
  timeout 60 sync
  t0=$(date +%s.%N)
  timeout 60 "${PIN_SERVER[@]}" dd if=/dev/zero of="$probe" bs=4k count=2000 oflag=dsync \
    conv=notrunc status=none
  t1=$(date +%s.%N)
  rm -f "$probe"
  emit "$(python3 -c "import json; s=$t1-$t0; print(json.dumps({'kind':'dd_probe','when':'$when','result':{'syncs':2000,'seconds':round(s,3),'syncs_per_s':round(2000/s),'mean_ms':round(s/2000*1000,3)}}))")"
  log "fsync probe ($when): $(tail -n1 "$RAW")"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# redis_run PIPELINE RUN: Redis 7 XADD of the same event, appendfsync always (group commit per
# event-loop turn, like Basin's durable ack), fresh temp dir, server on the server core.
redis_run() {
  local p=$1 r=$2 n rdir rport i csv hwm len res
  [[ $p == 16 ]] && n=$REDIS_P16_N || n=$REDIS_P1_N
  rdir=$WORK/redis-$p-$r
  mkdir -p "$rdir"
  rport=$(free_port)
  "${PIN_SERVER[@]}" redis-server --port "$rport" --bind 127.0.0.1 --dir "$rdir" \
    --appendonly yes --appendfsync always --save '' --daemonize no \
    --logfile "$rdir/redis.log" &
  REDIS_PID=$!
  for ((i = 0; i < 100; i++)); do
    redis-cli -p "$rport" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! redis-cli -p "$rport" ping >/dev/null 2>&1; then
    # redis-benchmark spins on a refused port instead of failing: do not start it.
    log "redis-server did not start; log tail:"
    tail -n 10 "$rdir/redis.log" >&2
    kill -KILL "$REDIS_PID" 2>/dev/null
    REDIS_PID=
    emit "{\"kind\":\"redis\",\"scenario\":\"g_redis_p$p\",\"run\":$r,\"result\":null}"
    return 1
  fi
  csv=$(timeout 120 "${PIN_CLIENT[@]}" redis-benchmark -h 127.0.0.1 -p "$rport" -c 50 \
    -n "$n" -P "$p" --csv XADD clickstream '*' event "$EVENT" 2>/dev/null | tail -n 1)
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$REDIS_PID/status" 2>/dev/null || echo 0)
  len=$(redis-cli -p "$rport" XLEN clickstream 2>/dev/null || echo 0)
  kill -TERM "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
  rm -rf "$rdir"
  timeout 60 sync
  # redis-benchmark --csv: "test","rps","avg","min","p50","p95","p99","max" (the test name
  # holds the event JSON, so the numbers are taken from the right).
  res=$(python3 - "$csv" "$n" "$p" "$len" "$hwm" <<'EOF2'
import json, sys
csv, n, p, xlen, hwm = sys.argv[1:]
f = [x.strip().strip('"') for x in csv.rsplit(",", 7)]
try:
    rps, avg, mn, p50, p95, p99, mx = (float(x) for x in f[1:8])
    print(json.dumps({"rps": rps, "avg_ms": avg, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                      "max_ms": mx, "requests": int(n), "pipeline": int(p), "clients": 50,
                      "xlen": int(xlen or 0), "vmhwm_kb": int(hwm or 0)}))
except Exception:
    print("null")
EOF2
)
  emit "{\"kind\":\"redis\",\"scenario\":\"g_redis_p$p\",\"run\":$r,\"result\":$res}"
  log "g_redis_p$p run $r: $res"
}

EVENT=$("$LOADGEN" --print-sample-event --run-id redis)
anchors=0
[[ $ONLY != basin ]] && anchors=1
start_s=$SECONDS
((anchors)) && fsync_probe start

# ---------------------------------------------------------------- scenarios
# Each Redis run sits right after the Basin run it is compared with (batched vs -P 16, single
# event at 50 connections vs -P 1), so that a ratio's two sides see the same disk weather.
for ((r = 1; r <= RUNS; r++)); do
  ((run_basin)) && one_run a_batched_durable "$r" durable "" -- --connections 50 \
    --events-per-request 100
  ((anchors)) && redis_run 16 "$r"
done
for ((r = 1; r <= RUNS; r++)); do
  ((run_basin)) && one_run b_single_c50_durable "$r" durable "" -- --connections 50
  ((anchors)) && redis_run 1 "$r"
done

if ((run_basin)); then
  for ((r = 1; r <= RUNS; r++)); do
    one_run b_single_c200_durable "$r" durable "" -- --connections 200
  done
  # Open loop at half of the durable maximum; the no-fsync runs get the same offered load.
  half=$(python3 -c "print(round(float('$(best_req_per_s b_single_c200_durable)') / 2))")
  if [[ $half == 0 ]]; then
    log "no durable single-event throughput measured: skipping the open-loop runs"
  else
    for ((r = 1; r <= RUNS; r++)); do
      one_run c_open_half_durable "$r" durable "" -- --connections 200 --rate "$half"
    done
  fi
  for ((r = 1; r <= RUNS; r++)); do
    one_run d_batched_nofsync "$r" nofsync --no-fsync -- --connections 50 --events-per-request 100
  done
  for ((r = 1; r <= RUNS; r++)); do
    one_run d_single_c200_nofsync "$r" nofsync --no-fsync -- --connections 200
  done
  if [[ $half != 0 ]]; then
    for ((r = 1; r <= RUNS; r++)); do
      one_run d_open_half_nofsync "$r" nofsync --no-fsync -- --connections 200 --rate "$half"
    done
  fi

  # Freshness: default loader settings, a steady 1,000 events/s, >= 50 probes.
  for ((r = 1; r <= RUNS; r++)); do
    if start_server "fresh-$r"; then
      out=$("${PIN_CLIENT[@]}" timeout 150 python3 bench/freshness.py --port "$PORT" \
        --samples 60 --timeout 120 2>"$WORK/fresh.err")
      rc=$?
      hwm=$(vmhwm_kb)
      if [[ $r == 1 && $TARGET == basin ]]; then
        # The DuckDB version the server embeds, asked of the server itself.
        emit "$(python3 - "$PORT" <<'EOF2'
import json, sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/query",
                             data=json.dumps({"sql": "SELECT version()"}).encode(),
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        answer = json.loads(r.read())
except Exception as e:
    answer = {"error": str(e)}
print(json.dumps({"kind": "duckdb_version", "result": answer}))
EOF2
)"
      fi
      stop_server
      [[ -n $out ]] || { out=null; tail -n 5 "$WORK/fresh.err" >&2; }
      emit "{\"kind\":\"freshness\",\"scenario\":\"e_freshness\",\"run\":$r,\"server\":\"durable\",\"rc\":$rc,\"vmhwm_kb\":${hwm:-0},\"forced_stop\":$FORCED_STOP,\"result\":$out}"
      log "e_freshness run $r: $out"
    fi
  done
fi
((anchors)) && fsync_probe end

log "done in $((SECONDS - start_s)) s"
python3 bench/report.py "$RAW" "$SUMMARY"
if [[ $ONLY == all && $TARGET == basin ]]; then
  BUILD=$BUILD bash bench/batch.sh || log "the batch benchmark failed"
  BUILD=$BUILD bash bench/kinesis.sh || log "the Kinesis benchmark failed"
  BUILD=$BUILD bash bench/s3.sh || log "the S3 benchmark failed"
  BUILD=$BUILD bash bench/workflow.sh || log "the workflow benchmark failed"
fi
