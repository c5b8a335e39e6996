// The run's data (orchestrator/report/payload.py writes it) and the helpers every part uses.
const T0 = performance.now();
const D = JSON.parse(document.getElementById("run-data").textContent);

// {"fields": [...], "rows": [[...]]} -> a list of objects.
function rows(table) {
  const f = table.fields;
  return table.rows.map((r) => {
    const o = {};
    for (let i = 0; i < f.length; i++) o[f[i]] = r[i];
    return o;
  });
}

const TASKS = rows(D.tasks);
const ERRORS = rows(D.errors);
const ATTEMPTS = rows(D.attempts);
const LANES = D.lanes;
const END = Math.max(D.run.end || 0, 1e-6);
const CRITICAL = new Set(D.graph.critical);
TASKS.forEach((t, i) => {
  t.index = i;
  t.err = t.error == null ? null : ERRORS[t.error];
});
for (const a of ATTEMPTS) {
  a.t = TASKS[a.task];
  a.err = a.error == null ? null : ERRORS[a.error];
}

const STATUSES = ["succeeded", "failed", "timed_out", "cancelled", "skipped", "unfinished"];
const OUTCOMES = ["succeeded", "failed", "timed_out", "crashed", "cancelled", "unfinished"];
const SVGNS = "http://www.w3.org/2000/svg";

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

function $(id) {
  return document.getElementById(id);
}

// Seconds, in the unit that suits them.
function secs(x) {
  if (x == null) return "";
  if (x === 0) return "0 s";
  if (x < 1e-3) return (x * 1e6).toFixed(0) + " \u00b5s";
  if (x < 1) return (x * 1e3).toFixed(x < 0.01 ? 2 : 1) + " ms";
  if (x < 120) return x.toFixed(x < 10 ? 3 : 2) + " s";
  const m = Math.floor(x / 60);
  return m + " min " + (x - m * 60).toFixed(0) + " s";
}

function num(x, digits) {
  return x == null ? "" : Number(x).toFixed(digits);
}

function plural(n, word, many) {
  return n + " " + (n === 1 ? word : many || word + "s");
}

function statusClass(t) {
  return t.reused ? "s-reused" : "s-" + t.status;
}

function errorText(e) {
  return e ? e.type + (e.message ? ": " + e.message : "") : "";
}

// Round tick steps (1, 2, 5 x 10^k) for an axis of `span` seconds drawn `px` wide.
function ticks(span, px) {
  const target = Math.max(2, Math.floor(px / 90));
  const raw = span / target;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let k = 0; k * step <= span * (1 + 1e-9); k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

// One tooltip for the whole page; the parts give it HTML they escaped.
const tip = $("tip");
function showTip(html, ev) {
  tip.innerHTML = html;
  tip.hidden = false;
  const pad = 14;
  const w = tip.offsetWidth;
  const h = tip.offsetHeight;
  let x = ev.clientX + pad;
  let y = ev.clientY + pad;
  if (x + w > window.innerWidth) x = Math.max(0, ev.clientX - w - pad);
  if (y + h > window.innerHeight) y = Math.max(0, ev.clientY - h - pad);
  tip.style.left = x + "px";
  tip.style.top = y + "px";
}
function hideTip() {
  tip.hidden = true;
}

// `hover(container, selector, html)`: a tooltip for the elements matching `selector`.
function hover(container, selector, html) {
  container.addEventListener("mousemove", (ev) => {
    const target = ev.target.closest(selector);
    if (target && container.contains(target)) showTip(html(target), ev);
    else hideTip();
  });
  container.addEventListener("mouseleave", hideTip);
}

function taskTip(t) {
  const parts = ["<b>" + esc(t.id) + "</b> " + esc(t.reused ? "reused" : t.status)];
  parts.push(plural(t.attempts, "attempt") + ", busy " + secs(t.busy));
  if (t.queued) parts.push("queued " + secs(t.queued));
  if (t.err) parts.push(esc(errorText(t.err)));
  return parts.join("<br>");
}
