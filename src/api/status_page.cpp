#include "api/status_page.h"

namespace basin::api {

std::string_view StatusPageHtml() {
  static constexpr std::string_view kHtml = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Basin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --bg:#0f1419; --panel:#182028; --text:#e6e9ec; --dim:#8b96a1; --accent:#4fc3a1; --warn:#f0b429; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
  header { padding:18px 28px; border-bottom:1px solid #243040; display:flex; align-items:baseline; gap:16px; }
  header h1 { margin:0; font-size:20px; letter-spacing:.5px; }
  header .sub { color:var(--dim); }
  main { padding:20px 28px; display:grid; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); gap:18px; }
  section { background:var(--panel); border-radius:8px; padding:16px 18px; overflow-x:auto; }
  section.wide { grid-column: span 2; }
  h2 { margin:0 0 10px; font-size:13px; text-transform:uppercase; letter-spacing:1px; color:var(--dim); font-weight:600; }
  .big { font-size:30px; font-weight:600; }
  .kpis { display:grid; grid-template-columns:repeat(3,1fr); gap:10px; }
  .kpi .label { color:var(--dim); font-size:12px; }
  table { width:100%; border-collapse:collapse; }
  td, th { padding:4px 6px; text-align:left; border-bottom:1px solid #223; }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  td.n { text-align:right; font-variant-numeric:tabular-nums; }
  .bar { height:8px; background:var(--accent); border-radius:4px; }
  .err { color:var(--warn); }
  code { background:#0b0f13; padding:2px 5px; border-radius:4px; }
  footer { padding:0 28px 24px; color:var(--dim); }
</style></head>
<body>
<header><h1>Basin</h1><span class="sub">the AWS e-commerce data platform in one binary</span>
<span class="sub" id="updated"></span></header>
<main>
  <section><h2>Clickstream</h2>
    <div class="kpis">
      <div class="kpi"><div class="label">rows in raw.clickstream</div><div class="big" id="rows">–</div></div>
      <div class="kpi"><div class="label">events, last minute</div><div class="big" id="rate">–</div></div>
      <div class="kpi"><div class="label">freshness</div><div class="big" id="fresh">–</div></div>
    </div>
  </section>
  <section><h2>Events by type, last 15 minutes</h2><table id="types"></table></section>
  <section><h2>Streams</h2><table id="streams"></table></section>
  <section class="wide"><h2>Workflows</h2><table id="workflows"><tr><td class="sub">no workflow yet</td></tr></table></section>
  <section class="wide"><h2>Pipelines, latest run</h2><table id="pipelines"><tr><td class="sub">no run yet</td></tr></table></section>
  <section class="wide"><h2>Batch files, latest loads</h2><table id="loads"><tr><td class="sub">no file yet</td></tr></table></section>
  <section><h2>Tables</h2><table id="tables"></table></section>
</main>
<footer>SQL: <code>POST /v1/query {"sql": "..."}</code> · <a style="color:var(--accent)" href="/metrics">Prometheus metrics</a> · <code>basin sql --data-dir DIR "SELECT …"</code></footer>
<script>
const fmt = n => n >= 1e6 ? (n/1e6).toFixed(2)+'M' : n >= 1e3 ? (n/1e3).toFixed(1)+'k' : String(n);
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
async function sql(q) {
  const r = await fetch('/v1/query', {method:'POST', body: JSON.stringify({sql:q})});
  const j = await r.json();
  if (!r.ok) throw new Error(j.error ? j.error.code + ': ' + j.error.message : r.status);
  return j.rows;
}
async function refresh() {
  try {
    const [[rows, lastMin, newest]] = await sql(
      "SELECT count(*), count(*) FILTER (WHERE ingest_time > now()::TIMESTAMP - INTERVAL 1 MINUTE), " +
      "epoch_ms(max(ingest_time)) FROM raw.clickstream");
    document.getElementById('rows').textContent = fmt(rows);
    document.getElementById('rate').textContent = fmt(lastMin);
    document.getElementById('fresh').textContent = newest ? ((Date.now() - newest)/1000).toFixed(1) + ' s' : '–';
    const types = await sql("SELECT event_type, count(*) AS n FROM raw.clickstream " +
      "WHERE ingest_time > now()::TIMESTAMP - INTERVAL 15 MINUTE GROUP BY 1 ORDER BY 2 DESC LIMIT 12");
    const max = Math.max(1, ...types.map(t => t[1]));
    document.getElementById('types').innerHTML = '<tr><th>event_type</th><th></th><th>events</th></tr>' +
      types.map(([t, n]) => `<tr><td>${esc(t)}</td><td style="width:45%"><div class="bar" style="width:${100*n/max}%"></div></td><td class="n">${fmt(n)}</td></tr>`).join('');
    const streams = (await (await fetch('/v1/streams')).json()).streams;
    document.getElementById('streams').innerHTML = '<tr><th>stream</th><th>shards</th><th>records</th><th>size</th></tr>' +
      streams.map(s => `<tr><td>${esc(s.name)}</td><td class="n">${s.shards}</td><td class="n">${fmt(s.end_offset)}</td><td class="n">${fmt(s.size_bytes)}B</td></tr>`).join('');
    const tables = (await (await fetch('/v1/tables')).json()).tables;
    document.getElementById('tables').innerHTML = '<tr><th>table</th><th>columns</th><th>snapshot</th></tr>' +
      tables.map(t => `<tr><td>${esc(t.name)}</td><td class="n">${t.columns.length}</td><td class="n">${t.snapshot}</td></tr>`).join('');
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById('updated').innerHTML = '<span class="err">' + esc(e.message) + '</span>';
  }
  await refreshBatch();
  await refreshWorkflows();
}
// Basin's own refreshes and any user workflow: the latest execution of each, and its schedule.
async function refreshWorkflows() {
  const el = document.getElementById('workflows');
  try {
    const r = await fetch('/v1/workflows');
    if (!r.ok) return;
    const wf = await r.json();
    if (!wf.state_machines.length) return;
    const hhmm = t => t ? t.substring(11, 19) : '–';
    const bySm = {};
    for (const s of wf.schedules) (bySm[s.state_machine_arn] = bySm[s.state_machine_arn] || []).push(s);
    el.innerHTML = '<tr><th>state machine</th><th>schedule</th><th>latest execution</th><th>status</th><th>started (UTC)</th><th>next run (UTC)</th></tr>' +
      wf.state_machines.map(m => {
        const sched = (bySm[m.arn] || []).filter(s => s.enabled);
        const e = m.latest_execution;
        const st = e ? e.status : '–';
        const cls = st === 'FAILED' || st === 'TIMED_OUT' || st === 'ABORTED' ? 'err' : '';
        return `<tr><td>${esc(m.name)}</td><td>${esc(sched.map(s => s.expression).join(', ') || 'not scheduled')}</td>` +
          `<td class="sub">${esc(e ? e.name : '–')}</td><td class="${cls}" title="${esc(e ? e.error + ' ' + e.cause : '')}">${esc(st)}` +
          `${m.running > 0 ? ' (' + m.running + ' running)' : ''}</td><td>${esc(hhmm(e && e.start_time))}</td>` +
          `<td>${esc(hhmm(sched.map(s => s.next_run).filter(Boolean).sort()[0]))}</td></tr>`;
      }).join('');
  } catch (e) {
    el.innerHTML = '<tr><td class="err">' + esc(e.message) + '</td></tr>';
  }
}
// The ops tables appear with the first pipeline run and the first batch file.
async function refreshBatch() {
  try { await drawBatch(); } catch (e) {
    document.getElementById('pipelines').innerHTML = '<tr><td class="err">' + esc(e.message) + '</td></tr>';
  }
}
async function drawBatch() {
  const tableNames = (await (await fetch('/v1/tables')).json()).tables.map(t => t.name);
  if (tableNames.includes('ops.pipeline_runs')) {
    const runs = await sql("SELECT pipeline, status, rows_in, rows_out, rows_quarantined, rows_duplicate, " +
      "strftime(started_at, '%H:%M:%S') FROM ops.pipeline_runs " +
      "QUALIFY row_number() OVER (PARTITION BY pipeline ORDER BY started_at DESC) = 1 ORDER BY pipeline");
    document.getElementById('pipelines').innerHTML =
      '<tr><th>pipeline</th><th>status</th><th>in</th><th>out</th><th>quarantined</th><th>dup</th><th>at (UTC)</th></tr>' +
      runs.map(([p, st, i, o, q, d, at]) => `<tr><td>${esc(p)}</td><td class="${st === 'failed' ? 'err' : ''}">${esc(st)}</td>` +
        `<td class="n">${fmt(i)}</td><td class="n">${fmt(o)}</td><td class="n">${fmt(q)}</td><td class="n">${fmt(d)}</td><td>${esc(at)}</td></tr>`).join('');
  }
  if (tableNames.includes('ops.batch_loads')) {
    const loads = await sql("SELECT original_name, table_name, status, rows_loaded, rows_quarantined, " +
      "strftime(loaded_at, '%H:%M:%S') FROM ops.batch_loads ORDER BY loaded_at DESC LIMIT 8");
    document.getElementById('loads').innerHTML =
      '<tr><th>file</th><th>table</th><th>status</th><th>rows</th><th>quarantined</th><th>at (UTC)</th></tr>' +
      loads.map(([f, t, st, r, q, at]) => `<tr><td>${esc(f)}</td><td>${esc(t)}</td><td class="${st === 'rejected' ? 'err' : ''}">${esc(st)}</td>` +
        `<td class="n">${fmt(r)}</td><td class="n">${fmt(q)}</td><td>${esc(at)}</td></tr>`).join('');
  }
}
refresh(); setInterval(refresh, 2000);
</script>
</body></html>
)HTML";
  return kHtml;
}

}  // namespace basin::api
