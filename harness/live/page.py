"""The live page served at / by `harness serve`: static HTML, CSS and JS, no outside assets.

It is an installable web app (harness/live/pwa.py: manifest, icons, a service worker for the shell).
It loads runs and results from the JSON API, then follows the server-sent events so progress and
each result appear without a reload. It is laid out for a phone first, since the companion apps
show this same page. Every value from the server is written with textContent, never as HTML.
"""

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<meta name="theme-color" content="#2563eb">
<meta name="mobile-web-app-capable" content="yes">
<meta name="apple-mobile-web-app-capable" content="yes">
<meta name="apple-mobile-web-app-title" content="harness">
<link id="manifest" rel="manifest" href="/manifest.webmanifest">
<link rel="icon" href="/icon.svg" type="image/svg+xml">
<link rel="apple-touch-icon" href="/icon-192.png">
<title>harness · live</title>
<style>
:root { --bg:#f8fafc; --card:#fff; --fg:#0f172a; --muted:#64748b; --line:#e2e8f0; --accent:#2563eb;
        --bad:#b91c1c; --good:#047857; --warn:#b45309; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#0b1120; --card:#111827; --fg:#e5e7eb; --muted:#94a3b8; --line:#1f2937; --accent:#60a5fa;
          --bad:#f87171; --good:#34d399; --warn:#fbbf24; }
}
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       padding: env(safe-area-inset-top) 12px calc(16px + env(safe-area-inset-bottom)); }
header { display:flex; align-items:center; justify-content:space-between; gap:8px; padding:12px 0 8px; }
h1 { font-size:1.2rem; margin:0; }
#conn { font-size:.8rem; color:var(--muted); display:flex; align-items:center; gap:6px; }
#conn::before { content:""; width:9px; height:9px; border-radius:50%; background:var(--warn); }
#conn.on::before { background:var(--good); }
select { width:100%; font:inherit; padding:8px; border-radius:10px; border:1px solid var(--line);
         background:var(--card); color:var(--fg); }
.run { background:var(--card); border:1px solid var(--line); border-radius:14px; padding:12px; margin:10px 0; }
.run-top { display:flex; justify-content:space-between; gap:8px; align-items:baseline; }
#run-id { font-family:ui-monospace,monospace; font-size:.85rem; overflow-wrap:anywhere; }
.status { font-size:.8rem; padding:2px 8px; border-radius:999px; border:1px solid var(--line); white-space:nowrap; }
.status.running { color:var(--accent); border-color:var(--accent); }
.status.finished { color:var(--good); border-color:var(--good); }
.status.interrupted { color:var(--warn); border-color:var(--warn); }
.bar { height:10px; background:var(--line); border-radius:999px; overflow:hidden; margin:10px 0 6px; }
#bar-fill { height:100%; width:0; background:var(--accent); transition:width .4s ease; }
.sub { font-size:.85rem; color:var(--muted); }
#results { display:grid; grid-template-columns:repeat(auto-fill, minmax(250px, 1fr)); gap:10px; margin-top:10px; }
.result { background:var(--card); border:1px solid var(--line); border-left:4px solid var(--good);
          border-radius:12px; padding:10px 12px; }
.result.error { border-left-color:var(--bad); }
.result.invalid { border-left-color:var(--warn); }
.result.new { animation: land 1.6s ease-out; }
@keyframes land { from { background:#bfdbfe; } to { background:var(--card); } }
.r-head { display:flex; justify-content:space-between; gap:8px; font-weight:600; }
.r-dev { font-weight:400; font-size:.8rem; color:var(--muted); white-space:nowrap; }
.r-p50 { font-size:1.6rem; font-weight:700; margin:4px 0 0; font-variant-numeric:tabular-nums; }
.r-p50 small { font-size:.9rem; font-weight:400; color:var(--muted); }
.r-more { font-size:.8rem; color:var(--muted); font-variant-numeric:tabular-nums; }
.r-err { color:var(--bad); font-size:.85rem; overflow-wrap:anywhere; }
.r-flags { color:var(--warn); font-size:.8rem; }
#empty { color:var(--muted); text-align:center; padding:24px 0; }
</style>
</head>
<body>
<header><h1>harness · live</h1><span id="conn">connecting</span></header>
<label class="sub" for="runs">Run</label>
<select id="runs" aria-label="run"></select>
<section class="run" aria-live="polite">
  <div class="run-top"><span id="run-id">-</span><span id="run-status" class="status">-</span></div>
  <div class="bar"><div id="bar-fill"></div></div>
  <div class="sub"><span id="progress-text">no run yet</span> · <span id="current">idle</span></div>
</section>
<div id="results"></div>
<p id="empty">Waiting for results…</p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
const state = { run: null, status: null, follow: true, total: null, results: new Map(), runs: [] };
window.harnessLive = state;
if (token) $("manifest").href = withToken("/manifest.webmanifest");  // the home-screen app keeps the token
if ("serviceWorker" in navigator) {  // installable; the worker caches the shell, never results
  navigator.serviceWorker.register("/sw.js").then(() => { state.sw = "registered"; },
                                                 (e) => { state.sw = "failed: " + e; });
}

async function api(path) {
  const r = await fetch(withToken(path), { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}
const ms = (us) => us == null ? "-" : (us / 1000).toFixed(us < 10000 ? 3 : 1);
const size = (b) => b == null ? "" : (b >= 1e6 ? (b / 1e6).toFixed(2) + " MB" : (b / 1e3).toFixed(1) + " kB");
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }

function renderRunOptions() {
  const sel = $("runs");
  sel.replaceChildren();
  for (const r of state.runs) {  // the run on show counts what the page holds: the picker never lags the cards
    const shown = r.run_id === state.run;
    const n = shown ? state.results.size : r.measured + r.errors;
    const o = el("option", null, r.run_id + " · " + (shown && state.status ? state.status : r.status) + " · " + n
                 + (n === 1 ? " result" : " results"));
    o.value = r.run_id; o.selected = r.run_id === state.run; sel.appendChild(o);
  }
}

function renderProgress(status) {
  const n = state.results.size;
  const errors = [...state.results.values()].filter((m) => m.status !== "ok").length;
  const total = state.total;
  $("bar-fill").style.width = total ? Math.min(100, 100 * n / total) + "%" : (n ? "100%" : "0");
  $("progress-text").textContent = (total ? n + " / " + total : n) + " done" + (errors ? " · " + errors + " errors" : "");
  if (status) { state.status = status; const s = $("run-status"); s.textContent = status; s.className = "status " + status; }
  $("empty").hidden = n > 0;
}

// What the run is doing now. A run followed from its own process says which job; one watched in the
// database (`harness serve` beside a `harness run`) only shows results as they land: "in progress".
const short = (model) => String(model || "").split("/").pop();
function activityText(kind, p) {
  if (kind === "convert_started") return "converting " + short(p.model) + " · " + p.variant + " (" + (p.index + 1) + "/" + p.total + ")";
  if (kind === "export_started") return "exporting " + short(p.model) + " · " + p.variant + " as " + p.export + " (" + (p.index + 1) + "/" + p.total + ")";
  if (kind === "job_started") return "measuring " + p.device + " · " + short(p.model) + " · " + p.variant;
  if (kind === "job_moved") return "measuring " + p.device + " · " + short(p.model) + " · " + p.variant + " (moved from "
    + (p.moved_from || []).map((w) => String(w).split(": ")[0]).join(", ") + ")";
  return null;
}
function renderCurrent(status, activity) {
  const text = activity ? activityText(activity.kind, activity) : null;
  $("current").textContent = status === "running" ? (text || "in progress") : "idle";
}

function card(m) {
  const key = m.device + "|" + m.model + "|" + m.variant;
  let a = document.querySelector('[data-key="' + CSS.escape(key) + '"]');
  const fresh = !a;
  if (fresh) { a = el("article", "result new"); a.dataset.key = key; }
  a.classList.toggle("error", m.status !== "ok");
  a.classList.toggle("invalid", m.status === "ok" && m.valid === false);
  a.dataset.status = m.status;
  const head = el("div", "r-head");
  head.append(el("span", "r-name", (m.model_label || m.model) + " · " + m.variant), el("span", "r-dev", m.host ? m.device + " @ " + m.host : m.device));
  const parts = [head];
  if (m.status === "ok") {
    const micro = m.p50_us != null && m.p50_us < 100;  // a few microseconds read better in µs
    const p = el("div", "r-p50", micro ? m.p50_us.toFixed(1) : ms(m.p50_us));
    p.append(el("small", null, micro ? " µs p50" : " ms p50")); parts.push(p);
    const more = ["p90 " + ms(m.p90_us) + " ms", "p99 " + ms(m.p99_us) + " ms"];
    if (m.cv != null) more.push("CV " + (100 * m.cv).toFixed(1) + "%");
    if (m.runs) more.push(m.runs + " runs");
    if (m.size_bytes) more.push(size(m.size_bytes));
    if (m.accuracy) more.push(m.accuracy.text || (m.accuracy.name + " " + Number(m.accuracy.value).toPrecision(4)));
    if (m.energy_per_inference_mj != null) more.push(m.energy_per_inference_mj.toPrecision(3) + " mJ");
    parts.push(el("div", "r-more", more.join(" · ")));
    if (m.flags && m.flags.length) parts.push(el("div", "r-flags", "⚠ " + m.flags.join(", ")));
  } else {
    parts.push(el("div", "r-err", m.error || "error"));
  }
  a.replaceChildren(...parts);
  if (fresh) $("results").prepend(a);
}

function upsert(m) {
  if (m.run_id !== state.run) return;
  state.results.set(m.device + "|" + m.model + "|" + m.variant, m);
  card(m);
  renderProgress();
  renderRunOptions();
}

async function show(runId) {
  const data = await api("/api/runs/" + encodeURIComponent(runId));
  state.run = runId; state.total = data.run.total; state.results.clear(); state.status = null;
  $("results").replaceChildren();
  $("run-id").textContent = runId;
  for (const m of data.results) { state.results.set(m.device + "|" + m.model + "|" + m.variant, m); card(m); }
  document.querySelectorAll(".result.new").forEach((e) => e.classList.remove("new"));
  renderProgress(data.run.status);
  renderCurrent(data.run.status, data.activity);
  renderRunOptions();
}

async function refreshRuns() {
  try { state.runs = await api("/api/runs"); } catch (e) { return; }
  renderRunOptions();
}

function connect() {
  const es = new EventSource(withToken("/api/events"));
  es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "on"; };
  es.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = ""; };
  const on = (kind, fn) => es.addEventListener(kind, (e) => fn(JSON.parse(e.data)));
  on("run_started", async (p) => {
    await refreshRuns();
    if (state.follow || p.run_id === state.run) {
      await show(p.run_id);
      if (p.total) state.total = p.total;
      renderProgress("running");
      renderRunOptions();
    }
  });
  for (const kind of ["convert_started", "export_started", "job_started", "job_moved"]) {
    on(kind, (p) => { if (state.status === "running") $("current").textContent = activityText(kind, p); });
  }
  on("job_finished", async (p) => {
    const m = p.measurement;
    if (m.run_id !== state.run && state.follow) { await show(m.run_id); return; }
    upsert(m);
  });
  on("run_finished", async (p) => {
    if (p.run_id === state.run) { renderProgress(p.status || "finished"); renderCurrent(state.status, null); }
    await refreshRuns();
  });
}

$("runs").addEventListener("change", (e) => {
  state.follow = e.target.selectedIndex === 0;  // the newest run is first: keep following it
  show(e.target.value);
});

(async () => {
  await refreshRuns();
  if (state.runs.length) await show(state.runs[0].run_id); else renderProgress();
  connect();
})();
</script>
</body>
</html>
"""
