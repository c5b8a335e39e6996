// The timeline: one lane per worker (data-lane), one bar per attempt (data-task, data-attempt,
// data-outcome), queued and resource-wait time as whiskers before a bar, the critical path
// outlined. The SVG is written as one string: far faster than creating 10,000 nodes one by one.

const LANE_H = 24;
const BAR_H = 16;
const LABEL_W = 150;
const AXIS_H = 22;
let zoom = 1;

function laneLabel(lane) {
  const pid = lane.pid == null ? "-" : lane.pid;
  return lane.worker ? lane.worker + " / " + pid : "pid " + pid;
}

// "1.200 s" -> "1.2 s", "200.0 ms" -> "200 ms": ticks are round numbers.
function tickLabel(t) {
  return secs(t).replace(/(\.\d*?)0+(?= )/, "$1").replace(/\.(?= )/, "");
}

function renderTimeline() {
  const box = $("timeline");
  if (!LANES.length) {
    box.innerHTML = '<p class="empty">No attempt started.</p>';
    return;
  }
  const plotW = Math.max(200, (box.clientWidth || 900) - LABEL_W - 16) * zoom;
  const x = (t) => LABEL_W + (t / END) * plotW;
  const height = AXIS_H + LANES.length * LANE_H + 4;
  const out = ['<svg xmlns="' + SVGNS + '" width="' + (LABEL_W + plotW + 16) + '" height="' +
    height + '"><defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" ' +
    'patternTransform="rotate(45)"><rect width="3" height="6" class="o-unfinished"/></pattern>' +
    '</defs><g class="axis">'];
  for (const t of ticks(END, plotW)) {
    out.push('<line x1="' + x(t) + '" x2="' + x(t) + '" y1="' + (AXIS_H - 4) + '" y2="' + height +
      '"/><text x="' + (x(t) + 3) + '" y="' + (AXIS_H - 8) + '">' + tickLabel(t) + "</text>");
  }
  out.push("</g>");
  const byLane = LANES.map(() => []);
  ATTEMPTS.forEach((a, i) => byLane[a.lane].push(i));
  LANES.forEach((lane, li) => {
    const y = AXIS_H + li * LANE_H;
    out.push('<g data-lane="' + esc(lane.key) + '"><rect class="lane-bg" x="0" y="' + y +
      '" width="' + (LABEL_W + plotW + 16) + '" height="' + (LANE_H - 2) + '"/>' +
      '<text class="lane-label" x="6" y="' + (y + 15) + '">' + esc(laneLabel(lane)) + "</text>");
    const top = y + (LANE_H - 2 - BAR_H) / 2;
    const mine = byLane[li].map((i) => ATTEMPTS[i]);
    out.push(whiskers("queued", mine, (a) => a.ready, x, top + 2),
      whiskers("waiting", mine, (a) => a.waiting, x, top + 2));
    out.push('<g class="bars">');
    for (const i of byLane[li]) out.push(bar(ATTEMPTS[i], i, x, top));
    out.push("</g>");
    for (const [t, why] of lane.deaths) {
      out.push('<line class="death" data-death="' + esc(why) + '" x1="' + (x(t) - 4) + '" x2="' +
        (x(t) + 4) + '" y1="' + (y + 2) + '" y2="' + (y + LANE_H - 4) + '"/>');
    }
    out.push("</g>");
  });
  out.push("</svg>");
  box.innerHTML = out.join("");
  box.classList.toggle("hidden-queued", !$("show-queued").checked);
}

function bar(a, i, x, top) {
  const x0 = x(a.start);
  const x1 = x(a.end == null ? END : a.end);
  return '<rect data-i="' + i + '" data-task="' + esc(a.t.id) + '" data-attempt="' + a.attempt +
    '" data-outcome="' + a.outcome + '" class="o-' + a.outcome +
    (CRITICAL.has(a.task) ? " crit" : "") + '" x="' + x0.toFixed(1) + '" y="' + top +
    '" width="' + Math.max(1, x1 - x0).toFixed(1) + '" height="' + BAR_H + '"' +
    (a.outcome === "unfinished" ? ' fill="url(#hatch)"' : "") + "/>";
}

// The whiskers before a lane's bars from `since(a)` to their start: one path, not one
// element per attempt (half the elements of a large timeline).
function whiskers(cls, attempts, since, x, y) {
  let d = "";
  for (const a of attempts) {
    const from = since(a);
    if (from != null && a.start > from) {
      d += "M" + x(from).toFixed(1) + " " + y + "H" + x(a.start).toFixed(1);
    }
  }
  return d ? '<path class="' + cls + '" d="' + d + '"/>' : "";
}

function attemptTip(el) {
  const a = ATTEMPTS[+el.dataset.i];
  const lane = LANES[a.lane];
  const parts = [
    "<b>" + esc(a.t.id) + "</b> attempt " + a.attempt + ": " + esc(a.outcome),
    secs(a.start) + " \u2192 " + (a.end == null ? "(still running)" : secs(a.end)) +
      (a.end == null ? "" : " (" + secs(a.end - a.start) + ")"),
    esc(laneLabel(lane)),
  ];
  if (a.ready != null) parts.push("queued " + secs(a.start - a.ready));
  if (a.waiting != null) parts.push("waited for resources " + secs(a.start - a.waiting));
  if (a.kill) parts.push("killed: " + esc(a.kill));
  if (a.err) parts.push(esc(errorText(a.err)));
  if (CRITICAL.has(a.task)) parts.push("on the critical path");
  return parts.join("<br>");
}

function timelineLegend() {
  const seen = new Set(ATTEMPTS.map((a) => a.outcome));
  const items = OUTCOMES.filter((o) => seen.has(o)).map((o) => '<i class="o-' + o + '"></i>' + o);
  items.push('<i class="key-queued"></i>queued');
  if (ATTEMPTS.some((a) => a.waiting != null)) {
    items.push('<i class="key-waiting"></i>waiting for a resource');
  }
  items.push('<i class="key-crit"></i>critical path', '<i class="key-death"></i>worker died');
  $("timeline-legend").innerHTML = items.join("");
}

function setupTimeline() {
  const box = $("timeline");
  hover(box, "rect[data-attempt]", attemptTip);
  const rezoom = (factor) => {
    zoom = factor === 0 ? 1 : Math.min(500, Math.max(1, zoom * factor));
    renderTimeline();
  };
  document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
    rezoom({ in: 2, out: 0.5, fit: 0 }[b.dataset.zoom]);
  }));
  box.addEventListener("wheel", (ev) => {
    if (!ev.ctrlKey && !ev.metaKey) return;
    ev.preventDefault();
    const at = (box.scrollLeft + ev.clientX - box.getBoundingClientRect().left) / zoom;
    rezoom(ev.deltaY < 0 ? 1.5 : 1 / 1.5);
    box.scrollLeft = at * zoom - (ev.clientX - box.getBoundingClientRect().left);
  }, { passive: false });
  $("show-queued").addEventListener("change", () => {
    box.classList.toggle("hidden-queued", !$("show-queued").checked);
  });
  timelineLegend();
  renderTimeline();
}
