#!/usr/bin/env bash
# The workflow benchmark of `make bench` (issue 5): state transitions per second of the ASL
# interpreter for a 1,000-state Pass chain and an inline Map over 10,000 items, and memory per
# running execution, each with a same-run anchor (copying the JSON payload; bare threads).
# See docs/benchmarks.md, section "Workflows". Run by bench/run.sh at its end (BENCH_ONLY=all), or
# alone with BENCH_ONLY=workflow, or directly.
#
# Results: every JSON line in bench/results/workflow-<time>.jsonl (its last line is the summary).
#
# Environment knobs (defaults in brackets):
#   BUILD [build]                   build directory holding bench/basin-workflow-bench
#   WORKFLOW_BENCH                  explicit binary (overrides BUILD)
#   BENCH_WORKFLOW_RUNS [5]         runs; medians are reported
#   BENCH_WORKFLOW_ARGS []          more options for the binary (--help lists them), e.g.
#                                   "--held 1000 --payload-bytes 4096"
#   BENCH_SERVER_CPU [0]            the core to pin to (unpinned on a one-core machine)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
WORKFLOW_BENCH=${WORKFLOW_BENCH:-$BUILD/bench/basin-workflow-bench}
RUNS=${BENCH_WORKFLOW_RUNS:-5}
read -r -a EXTRA <<<"${BENCH_WORKFLOW_ARGS:-}"

log() { echo "bench/workflow: $*" >&2; }
[[ -x $WORKFLOW_BENCH ]] ||
  { log "no benchmark binary at $WORKFLOW_BENCH (build basin-workflow-bench)"; exit 1; }

PIN=(taskset -c "${BENCH_SERVER_CPU:-0}")
(($(nproc) < 2)) && PIN=()

mkdir -p bench/results
RAW=bench/results/workflow-$(date -u +%Y%m%dT%H%M%SZ).jsonl
log "$RUNS runs; load average $(cut -d' ' -f1-3 /proc/loadavg); raw lines -> $RAW"
"${PIN[@]}" "$WORKFLOW_BENCH" --runs "$RUNS" "${EXTRA[@]}" >"$RAW"
rc=$?
if ((rc != 0)) || ! tail -n 1 "$RAW" | grep -q '"kind":"summary"'; then
  log "the benchmark failed (exit $rc); partial results in $RAW"
  exit $((rc == 0 ? 1 : rc))
fi
log "summary: $(tail -n 1 "$RAW")"
