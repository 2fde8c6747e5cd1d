#!/usr/bin/env python3
"""Summarizes one bench/run.sh run: raw JSON lines in, a table on stdout and a JSON summary out.

Each scenario ran N times; the summary keeps every run and picks the better one (highest
throughput for closed loop, lowest p99 for open loop, lowest p95 for freshness). Ratios compare
figures from the same run only: Basin durable vs Basin --no-fsync, and Basin vs Redis.

usage: report.py RAW.jsonl OUT.json
"""
import json
import sys

# name -> (what it measures, how to pick the better of the runs)
SCENARIOS = {
    "a_batched_durable": ("batched 100 ev/req, 50 conns, closed loop", "events_per_s"),
    "b_single_c50_durable": ("1 ev/req, 50 conns, closed loop", "events_per_s"),
    "b_single_c200_durable": ("1 ev/req, 200 conns, closed loop", "events_per_s"),
    "c_open_half_durable": ("1 ev/req, 200 conns, open loop at 1/2 of b200", "p99"),
    "d_batched_nofsync": ("as a, --no-fsync", "events_per_s"),
    "d_single_c200_nofsync": ("as b200, --no-fsync", "events_per_s"),
    "d_open_half_nofsync": ("as c (same rate), --no-fsync", "p99"),
    "e_freshness": ("ack -> visible in raw.clickstream", "p95"),
    "g_redis_p16": ("Redis XADD, appendfsync always, -P 16, 50 clients", "rps"),
    "g_redis_p1": ("Redis XADD, appendfsync always, -P 1, 50 clients", "rps"),
}

TARGETS = [
    # key, label, scenario, metric, comparison, threshold, unit
    ("batched_events_per_s", "batched durable ingest", "a_batched_durable", "events_per_s", ">=",
     300_000, "events/s"),
    ("single_req_per_s_c200", "single-event durable, 200 conns", "b_single_c200_durable",
     "requests_per_s", ">=", 20_000, "req/s"),
    ("ack_p99_ms_half_load", "ack p99 at half load (open loop)", "c_open_half_durable", "p99",
     "<=", 10.0, "ms"),
    ("freshness_p95_ms", "freshness p95", "e_freshness", "p95", "<=", 5_000.0, "ms"),
    ("peak_rss_mb", "server peak RSS (VmHWM)", None, "rss", "<=", 300.0, "MB"),
]


def metric(record, name):
    r = record.get("result") or {}
    kind = record.get("kind")
    if kind == "loadgen":
        if name in ("p50", "p90", "p99", "p999", "max"):
            return (r.get("latency_ms") or {}).get(name)
        return r.get(name)
    if kind == "freshness":
        return {"p50": r.get("p50_ms"), "p95": r.get("p95_ms"), "max": r.get("max_ms")}.get(
            name, r.get(name))
    if kind == "redis":
        return r.get(name)
    return None


def usable(record):
    r = record.get("result")
    if not r:
        return False
    if record["kind"] == "loadgen":
        return r.get("requests", 0) > 0
    if record["kind"] == "freshness":
        return (r.get("samples") or 0) > 0
    if record["kind"] == "redis":
        return (r.get("rps") or 0) > 0
    return True


def best(runs, key):
    good = [x for x in runs if usable(x)]
    if not good:
        return None
    lower_is_better = key in ("p99", "p95")
    return sorted(good, key=lambda x: metric(x, key), reverse=not lower_is_better)[0]


def records_per_sync(record):
    """Mean log records per group commit over the server's life (None when unknown)."""
    sm = record.get("server_metrics") or {}
    n = sm.get("basin_log_group_commit_records_count")
    if not n:
        return None
    return round(sm.get("basin_log_group_commit_records_sum", 0) / n, 1)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def fmt(v, unit="", missing="not measured"):
    if v is None:
        return missing
    if isinstance(v, float) and v >= 1000:
        v = round(v)
    if isinstance(v, float):
        return f"{v:.2f}{unit}"
    return f"{v:,}{unit}"


def main():
    raw_path, out_path = sys.argv[1], sys.argv[2]
    records = []
    with open(raw_path) as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    env = next((r for r in records if r.get("kind") == "env"), {})
    probes = [r for r in records if r.get("kind") == "dd_probe" and r.get("result")]

    by_scenario = {}
    for r in records:
        if r.get("scenario"):
            by_scenario.setdefault(r["scenario"], []).append(r)

    summary = {"environment": env.get("result", {}), "raw": raw_path, "scenarios": {},
               "ratios": {}, "targets": {}}
    summary["fsync_probe"] = {p.get("when", "?"): p["result"] for p in probes}
    duck = next((r for r in records if r.get("kind") == "duckdb_version"), None)
    if duck:
        rows = (duck.get("result") or {}).get("rows") or [[None]]
        summary["duckdb_version_server"] = rows[0][0] if rows and rows[0] else None
    best_of = {}
    for name, (what, key) in SCENARIOS.items():
        runs = by_scenario.get(name, [])
        b = best(runs, key)
        best_of[name] = b
        summary["scenarios"][name] = {
            "what": what,
            "better_by": key,
            "measured": b is not None,
            "best": b,
            "runs": runs,
        }

    def m(name, key):
        b = best_of.get(name)
        return metric(b, key) if b else None

    rss_values = [r.get("vmhwm_kb") for r in records
                  if r.get("kind") in ("loadgen", "freshness") and r.get("vmhwm_kb")]
    peak_rss_mb = round(max(rss_values) * 1024 / 1e6, 1) if rss_values else None
    summary["peak_rss_mb"] = peak_rss_mb

    summary["ratios"] = {
        "batched_durable_over_nofsync": ratio(m("a_batched_durable", "events_per_s"),
                                              m("d_batched_nofsync", "events_per_s")),
        "single_c200_durable_over_nofsync": ratio(m("b_single_c200_durable", "requests_per_s"),
                                                  m("d_single_c200_nofsync", "requests_per_s")),
        "open_half_p99_durable_over_nofsync": ratio(m("c_open_half_durable", "p99"),
                                                    m("d_open_half_nofsync", "p99")),
        "batched_events_over_redis_p16_ops": ratio(m("a_batched_durable", "events_per_s"),
                                                   m("g_redis_p16", "rps")),
        "single_c50_req_over_redis_p1_ops": ratio(m("b_single_c50_durable", "requests_per_s"),
                                                  m("g_redis_p1", "rps")),
        "single_c200_req_over_redis_p1_ops": ratio(m("b_single_c200_durable", "requests_per_s"),
                                                   m("g_redis_p1", "rps")),
    }
    # Paired ratios: Basin run r over the Redis run r that ran right after it (same disk weather).
    def paired(basin, basin_key, redis):
        out = []
        for b in by_scenario.get(basin, []):
            rr = next((x for x in by_scenario.get(redis, []) if x.get("run") == b.get("run")), None)
            if rr and usable(b) and usable(rr):
                out.append(ratio(metric(b, basin_key), metric(rr, "rps")))
        return out

    summary["paired_ratios"] = {
        "batched_events_over_redis_p16_ops": paired("a_batched_durable", "events_per_s",
                                                    "g_redis_p16"),
        "single_c50_req_over_redis_p1_ops": paired("b_single_c50_durable", "requests_per_s",
                                                   "g_redis_p1"),
    }
    for key, label, scenario, name, cmp, threshold, unit in TARGETS:
        value = peak_rss_mb if scenario is None else m(scenario, name)
        ok = None if value is None else (value >= threshold if cmp == ">=" else value <= threshold)
        summary["targets"][key] = {"label": label, "value": value, "target": f"{cmp} {threshold}",
                                   "unit": unit, "pass": ok}

    # The table: one row per scenario, both runs, the better one first.
    print()
    print(f"{'scenario':<24} {'events/s':>12} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p99.9':>8} {'errors':>6} {'RSS MB':>7} {'CPU':>5} {'ev/sync':>7}  "
          f"runs (by the metric in brackets)")
    for name, (what, key) in SCENARIOS.items():
        runs = by_scenario.get(name, [])
        b = best_of[name]
        if name == "e_freshness":
            cells = [fmt(m(name, "p50"), " ms"), fmt(m(name, "p95"), " ms")]
            each = ", ".join(fmt(metric(r, "p95")) for r in runs) or "-"
            print(f"{name:<24} {'p50 ' + cells[0]:>22} {'p95 ' + cells[1]:>18}  [p95: {each}]")
            continue
        if name.startswith("g_redis"):
            each = ", ".join(fmt(metric(r, "rps")) for r in runs) or "-"
            print(f"{name:<24} {fmt(m(name, 'rps')):>12} {'':>10} {fmt(m(name, 'p50_ms')):>8} "
                  f"{fmt(m(name, 'p99_ms')):>8} {'':>8} {'':>6}  [ops/s: {each}]")
            continue
        if b is None:
            print(f"{name:<24} {'not measured':>12}")
            continue
        r = b["result"]
        lat = r.get("latency_ms", {})
        each = ", ".join(fmt(metric(x, key)) for x in runs)
        print(f"{name:<24} {fmt(r.get('events_per_s')):>12} {fmt(r.get('requests_per_s')):>10} "
              f"{fmt(lat.get('p50')):>8} {fmt(lat.get('p99')):>8} {fmt(lat.get('p999')):>8} "
              f"{r.get('errors', 0):>6} {round(b.get('vmhwm_kb', 0) * 1024 / 1e6):>7} "
              f"{fmt(b.get('server_cpu_cores'), missing='-'):>5} "
              f"{fmt(records_per_sync(b), missing='-'):>7}  "
              f"[{key}: {each}]")
    print()
    for k, v in summary["ratios"].items():
        print(f"  ratio {k:<40} {fmt(v)}")
    for k, v in summary["paired_ratios"].items():
        print(f"  paired {k:<39} {', '.join(fmt(x) for x in v) or 'not measured'} (run by run)")
    for p in probes:
        print(f"  fsync probe at {p.get('when', '?'):<5} (dd 4 KiB oflag=dsync, preallocated): "
              f"{fmt(p['result'].get('syncs_per_s'))} syncs/s, {p['result'].get('mean_ms')} ms each")
    print()
    for key, t in summary["targets"].items():
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[t["pass"]]
        print(f"  target {t['label']:<36} {fmt(t['value'], ' ' + t['unit']):>20}  "
              f"({t['target']} {t['unit']})  {verdict}")
    forced = [f"{r['scenario']}#{r['run']}" for r in records if r.get("forced_stop")]
    if forced:
        print(f"\n  SIGTERM did not stop the server within the grace period (SIGKILLed): "
              f"{', '.join(forced)}")
    summary["forced_stops"] = forced
    with open(out_path, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"\n  summary: {out_path}\n  raw:     {raw_path}")


if __name__ == "__main__":
    main()
