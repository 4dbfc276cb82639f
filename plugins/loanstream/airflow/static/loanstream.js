// The Loanstream page. Every value from the server is put in the page as text (textContent,
// SVG attributes set one by one): nothing is parsed as HTML. No library, nothing from the net.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const COUNTS = [
  ["produced", "produced"], ["scored", "scored"], ["dead_lettered", "dead-lettered"],
  ["missing", "missing"], ["resent", "re-sent"], ["redriven", "redriven"],
  ["rejected", "rejected rows"],
  ["skipped_lines", "skipped lines"], ["state", "producer"], ["dag_run_state", "Dag run"],
];
let current = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text != null) node.textContent = String(text);
  return node;
}

function status(text, isError) {
  const node = document.getElementById("status");
  node.textContent = text;
  node.className = isError ? "error" : "";
}

async function api(path, options) {
  const response = await fetch(path, { credentials: "same-origin", ...(options || {}) });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const detail = body && (body.error || body.detail);
    throw new Error(`${path}: HTTP ${response.status}${detail ? ": " + JSON.stringify(detail) : ""}`);
  }
  return body;
}

function fmt(value) {
  if (value == null) return "–";
  return typeof value === "number" ? value.toLocaleString("en-US") : String(value);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function loadRuns() {
  const data = await api("api/runs?limit=10");
  const rows = data.runs.map((run) => {
    const lat = run.latency_ms || {};
    const tr = el("tr", { class: "run-row", "data-run-id": run.run_id, tabindex: 0 },
      el("td", {}, el("button", { type: "button", class: "linkish" }, run.run_id)),
      el("td", {}, run.topic), el("td", {}, run.state), el("td", {}, run.dag_run_state),
      ...["produced", "scored", "dead_lettered", "missing", "rejected", "skipped_lines"].map(
        (k) => el("td", { class: "num" }, fmt(run[k]))),
      ...["p50", "p95", "p99"].map((k) => el("td", { class: "num" }, fmt(lat[k]))),
      el("td", {}, run.started_at));
    tr.addEventListener("click", () => { location.hash = "run=" + encodeURIComponent(run.run_id); });
    return tr;
  });
  fill(document.querySelector("#runs tbody"), rows);
  return data.runs;
}

async function selectRun(runId) {
  current = runId;
  for (const tr of document.querySelectorAll("#runs tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.runId === runId);
  }
  status(`loading run ${runId} …`);
  const run = await api("api/runs/" + encodeURIComponent(runId));
  document.getElementById("run-id").textContent = run.run_id;
  const cards = COUNTS.map(([key, label]) =>
    el("div", {}, el("dt", {}, label), el("dd", { id: "count-" + key, "data-count": key }, fmt(run[key]))));
  document.getElementById("counts").replaceChildren(...cards);
  document.getElementById("rules-versions").textContent =
    Object.entries(run.rules_versions).map(([v, n]) => `${v} (${fmt(n)})`).join(", ") || "–";
  lineChart(document.getElementById("chart-throughput"), run.throughput);
  const lat = run.latency_ms;
  document.getElementById("latency-max").textContent = fmt(lat.max) + " ms";
  barChart(document.getElementById("chart-latency"),
    { p50: lat.p50 || 0, p95: lat.p95 || 0, p99: lat.p99 || 0 });
  barChart(document.getElementById("chart-bands"), run.bands);
  barChart(document.getElementById("chart-decisions"), run.decisions);
  document.getElementById("run").hidden = false;
  status(`run ${runId}: ${run.state}`);
  await Promise.all([loadLag(run.topic), loadDead(runId)]);
}

async function loadLag(topic) {
  const error = document.getElementById("lag-error");
  try {
    const lag = await api("api/lag?topic=" + encodeURIComponent(topic));
    error.hidden = true;
    fill(document.querySelector("#lag tbody"), lag.partitions.map((p) => el("tr", {},
      el("td", { class: "num" }, p.partition), el("td", { class: "num" }, fmt(p.end)),
      el("td", { class: "num" }, fmt(p.stored)), el("td", { class: "num" }, fmt(p.lag)))));
  } catch (e) {
    fill(document.querySelector("#lag tbody"), []);
    error.textContent = e.message;
    error.hidden = false;
  }
}

async function loadDead(runId) {
  const data = await api("api/dead-letters?all=true&limit=50&run_id=" + encodeURIComponent(runId));
  fill(document.querySelector("#dead-reasons tbody"), data.reasons.map((r) =>
    el("tr", {}, el("td", {}, r.reason), el("td", { class: "num" }, fmt(r.count)))));
  fill(document.querySelector("#dead-examples tbody"), data.examples.map((d) => {
    const open = el("button", { type: "button", class: "linkish", "data-dead-letter": d.id }, "#" + d.id);
    open.addEventListener("click", () => openDeadLetter(d.id));
    return el("tr", { "data-dead-letter-row": d.id },
      el("td", {}, open), el("td", {}, d.key), el("td", {}, `${d.partition}@${d.offset}`),
      el("td", {}, d.error), el("td", { class: "raw" }, d.raw_preview.slice(0, 160)),
      el("td", { "data-state": d.resolved_at ? "resolved" : "open" },
        d.resolved_at ? `resolved by ${d.resolved_by}` : "open"));
  }));
  document.getElementById("dead").hidden = false;
}

async function openDeadLetter(id) {
  const d = await api("api/dead-letters/" + encodeURIComponent(id));
  document.getElementById("dl-id").textContent = "#" + d.id;
  const fields = ["run_id", "topic", "partition", "offset", "key", "error", "original_error",
    "failed_at", "resolved_at", "resolved_by", "redrive_attempts", "bytes"];
  document.getElementById("dl-fields").replaceChildren(...fields.flatMap((f) =>
    [el("dt", {}, f), el("dd", { "data-field": f }, fmt(d[f]))]));
  document.getElementById("dl-raw").textContent =
    d.raw_preview + (d.raw_truncated ? `\n… (${d.bytes} bytes in all)` : "");
  document.getElementById("dead-letter").showModal();
}

async function redrive(event) {
  event.preventDefault();
  const out = document.getElementById("redrive-result");
  const reason = document.getElementById("redrive-reason").value.trim();
  out.textContent = "redriving …";
  try {
    const r = await api("api/dead-letters/redrive", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Loanstream": "redrive" },
      body: JSON.stringify({ run_id: current, reason: reason || null }),
    });
    out.textContent = `redrive ${r.redrive_id}: selected ${r.selected}, resolved ${r.resolved}, ` +
      `still failing ${r.still_failing}`;
    out.dataset.resolved = r.resolved;
    await loadRuns();
    await selectRun(current);
  } catch (e) {
    out.textContent = e.message;
  }
}

function frame(container, height) {
  const width = 460;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  container.replaceChildren(root);
  return { root, width, height };
}

function lineChart(container, t) {
  const { root, width, height } = frame(container, 180);
  const series = { produced: t.produced || [], stored: t.stored || [] };
  const n = Math.max(series.produced.length, series.stored.length);
  if (!n) { root.append(svg("text", { x: 10, y: 20 }, "no events")); return; }
  const top = Math.max(1, ...series.produced, ...series.stored);
  const left = 44, bottom = height - 20, right = width - 8;
  const x = (i) => left + (n === 1 ? 0 : (i * (right - left)) / (n - 1));
  const y = (v) => bottom - (v / top) * (bottom - 10);
  root.append(svg("line", { x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#a0aec0" }));
  root.append(svg("text", { x: 2, y: 14 }, fmt(Math.round(top))));
  root.append(svg("text", { x: 2, y: bottom }, "0"));
  root.append(svg("text", { x: left, y: height - 4 }, `0 s`));
  root.append(svg("text", { x: right - 60, y: height - 4 }, `${n * t.width_s} s`));
  for (const [name, values] of Object.entries(series)) {
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { class: name, points, "data-series": name }));
  }
  root.append(svg("text", { x: left + 10, y: 12, fill: "#3182ce" }, "produced"));
  root.append(svg("text", { x: left + 70, y: 12, fill: "#38a169" }, "stored"));
}

function barChart(container, data) {
  const entries = Object.entries(data || {});
  const { root, width, height } = frame(container, 180);
  if (!entries.length) { root.append(svg("text", { x: 10, y: 20 }, "none")); return; }
  const top = Math.max(1, ...entries.map(([, v]) => Number(v) || 0));
  const slot = (width - 20) / entries.length, bottom = height - 20;
  entries.forEach(([label, value], i) => {
    const h = ((Number(value) || 0) / top) * (bottom - 20);
    const x = 10 + i * slot + slot * 0.15;
    root.append(svg("rect", { class: "bar", x, y: bottom - h, width: slot * 0.7, height: h,
      "data-label": label, "data-value": value }));
    root.append(svg("text", { x, y: bottom - h - 3 }, fmt(value)));
    root.append(svg("text", { x, y: height - 5 }, label));
  });
}

// #run=<run id> selects a run (a link to it); without it, the newest run is shown.
function hashRun() {
  const m = location.hash.match(/^#run=(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

async function guarded(work) {
  try { await work(); } catch (e) { status(e.message, true); }
}

async function start() {
  document.getElementById("redrive-form").addEventListener("submit", redrive);
  window.addEventListener("hashchange", () => guarded(async () => {
    const runId = hashRun();
    if (runId) await selectRun(runId);
  }));
  await guarded(async () => {
    const runs = await loadRuns();
    const runId = hashRun() || (runs.length ? runs[0].run_id : null);
    if (runId) await selectRun(runId);
    else status("no runs in the run ledger yet");
  });
}

document.addEventListener("DOMContentLoaded", start);
