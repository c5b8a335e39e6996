// Concurrency over time: running attempts (against the run's limit), then each resource's use
// (against its capacity) when the events give them. Step charts on the timeline's time axis.

const CHART_H = 90;

function stepChart(name, series, limit, unit) {
  const box = $("timeline");
  const w = Math.max(200, (box.clientWidth || 900) - LABEL_W - 16);
  const peak = series.reduce((m, p) => Math.max(m, p[1]), 0);
  const top = Math.max(peak, limit || 0, 1);
  const x = (t) => LABEL_W + (t / END) * w;
  const y = (v) => 6 + (1 - v / top) * (CHART_H - 12);
  let d = "M" + x(0) + "," + y(0);
  let level = 0;
  for (const [t, v] of series) {
    d += " L" + x(t) + "," + y(level) + " L" + x(t) + "," + y(v);
    level = v;
  }
  d += " L" + x(END) + "," + y(level) + " L" + x(END) + "," + y(0) + " Z";
  const out = ['<svg xmlns="' + SVGNS + '" width="' + (LABEL_W + w + 16) + '" height="' +
    CHART_H + '" data-series="' + esc(name) + '" data-peak="' + peak + '">',
    '<text x="6" y="20" class="lane-label">' + esc(name) + "</text>",
    '<text x="6" y="36" class="muted">peak ' + esc(num(peak, peak % 1 ? 2 : 0)) +
      (limit ? " of " + esc(limit) : "") + " " + esc(unit) + "</text>",
    '<path class="series" d="' + d + '"/>'];
  if (limit) {
    out.push('<line class="limit" x1="' + x(0) + '" x2="' + x(END) + '" y1="' + y(limit) +
      '" y2="' + y(limit) + '"/>');
  }
  out.push("</svg>");
  return out.join("");
}

function renderConcurrency() {
  const parts = [stepChart("running", D.running, D.run.max_concurrency, "attempts at once")];
  for (const name of Object.keys(D.resources)) {
    const r = D.resources[name];
    parts.push(stepChart(name, r.series, r.capacity, "held"));
  }
  $("concurrency").innerHTML = parts.join("");
}
