#!/usr/bin/env bash
# The batch benchmark of `make bench` (issue 3): an orders export as CSV and as NDJSON, loaded
# and cleaned into `processed` by Basin, against raw DuckDB `COPY (SELECT * FROM read_csv(...))
# TO '...parquet'` on the same file in the same run. See docs/benchmarks.md, section
# "Batch: CSV/NDJSON → processed". Run by bench/run.sh at its end (BENCH_ONLY=all), or alone with
# BENCH_ONLY=batch, or directly.
#
# Results: every JSON line in bench/results/batch-run-<time>.jsonl, the summary in
# bench/results/batch-latest.json.
#
# Environment knobs (defaults in brackets):
#   BUILD [build]                  build directory holding bench/basin-batch-bench
#   BATCH_BENCH                    explicit binary (overrides BUILD)
#   BENCH_BATCH_ROWS [1000000]     rows in the generated file (about 82 MB of CSV per million)
#   BENCH_BATCH_REPS [3]           repetitions of each measurement; medians are reported
#   BENCH_BATCH_DAYS [30]          days the orders span (= dt partitions written)
#   BENCH_BATCH_TRACE [1]          1: time every SQL statement and fsync of the Basin runs
#                                  (sql_trace lines; costs a clock read per statement)
#   BENCH_TMPDIR [/tmp]            where the input files and data directories go
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=${BUILD:-build}
BATCH_BENCH=${BATCH_BENCH:-$ROOT/$BUILD/bench/basin-batch-bench}
ROWS=${BENCH_BATCH_ROWS:-1000000}
REPS=${BENCH_BATCH_REPS:-3}
DAYS=${BENCH_BATCH_DAYS:-30}
TRACE=()
[[ ${BENCH_BATCH_TRACE:-1} == 1 ]] && TRACE=(--trace-sql)

log() { echo "bench/batch: $*" >&2; }
[[ -x $BATCH_BENCH ]] || { log "no benchmark binary at $BATCH_BENCH (build basin-batch-bench)"; exit 1; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
RAW=bench/results/batch-run-$STAMP.jsonl
SUMMARY=bench/results/batch-latest.json
log "$ROWS rows, $REPS repetitions, $DAYS days; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Both sides use two DuckDB threads on this machine's cores: nothing is pinned.
"$BATCH_BENCH" --rows "$ROWS" --reps "$REPS" --days "$DAYS" --tmpdir "${BENCH_TMPDIR:-/tmp}" \
  "${TRACE[@]}" --out "$SUMMARY.tmp" >"$RAW"
rc=$?
# Exit 3: some Basin runs returned an error (recorded in the summary); anything else non-zero: the
# benchmark itself failed (a wrong row count fails it too).
if ((rc != 0 && rc != 3)) || [[ ! -s $SUMMARY.tmp ]]; then
  log "the benchmark failed (exit $rc); partial results in $RAW"
  rm -f "$SUMMARY.tmp"
  exit "$rc"
fi
mv "$SUMMARY.tmp" "$SUMMARY"
python3 - "$SUMMARY" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"\nBatch: CSV/NDJSON -> processed ({s['input']['rows']:,} rows, medians of "
      f"{s['config']['reps']}; load average {s['environment']['load_average_at_start']})")
print(f"{'format':7} {'side':7} {'MB/s':>8} {'rows/s':>10} {'seconds':>8}")
for fmt, r in s["results"].items():
    for side in ("duckdb", "basin", "floor"):
        if side in r and "median_mb_per_s" in r[side]:
            x = r[side]
            print(f"{fmt:7} {side:7} {x['median_mb_per_s']:8.1f} {x['median_rows_per_s']:10,.0f} "
                  f"{x['median_seconds']:8.2f}")
    for e in r.get("basin", {}).get("errors", []):
        print(f"{fmt:7} basin   ERROR {e.splitlines()[0][:200]}")
    if "ratio_basin_vs_duckdb" in r:
        verdict = "pass" if r["pass"] else "MISS"
        print(f"{fmt:7} ratio   {r['ratio_basin_vs_duckdb']:.3f} (goal >= 0.8: {verdict}; by rep "
              f"{r['ratio_by_rep']})")
    if "ratio_floor_vs_duckdb" in r:
        print(f"{fmt:7} floor   {r['ratio_floor_vs_duckdb']:.3f} of DuckDB's COPY: the ceiling of "
              f"the ratio (file -> raw -> processed Parquet, nothing else)")
    if "ratio_basin_vs_floor" in r:
        print(f"{fmt:7} basin   {r['ratio_basin_vs_floor']:.3f} of the floor")
PY
log "raw lines -> $RAW, summary -> $SUMMARY"
exit "$rc"
