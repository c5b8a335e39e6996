// The header: status, the run's figures (data-metric = a RunMetrics field), counts, gates.

function figure(attr, name, value, text, label) {
  return '<div class="fig" ' + attr + '="' + name + '" data-value="' + esc(value) + '"><b>' +
    esc(text) + "</b><span>" + esc(label) + "</span></div>";
}

function renderHeader() {
  const r = D.run;
  const m = r.metrics;
  const out = [
    "<h1>" + esc(D.title) + "</h1>",
    '<div><span class="status ' + esc(r.status) + '" data-run-status="' + esc(r.status) + '">' +
      esc(r.status) + '</span><span class="muted">run ' + esc(r.id) + ", started " +
      esc(r.started) + "</span></div>",
    '<div class="figures">',
  ];
  if (m) {
    var parallel = m.parallelism != null ? m.parallelism : m.speedup_vs_serial;
    out.push(
      figure("data-metric", "wall_time", m.wall_time, secs(m.wall_time), "wall time"),
      figure("data-metric", "serial_time", m.serial_time, secs(m.serial_time),
        "busy time (all attempts)"),
      // parallelism: busy / wall (schema 1.2); an older log names it speedup_vs_serial.
      figure("data-metric", "parallelism", parallel, num(parallel, 2) + "\u00d7",
        "parallelism (busy/wall)"),
      figure("data-metric", "efficiency", m.efficiency, num(m.efficiency * 100, 0) + " %",
        "efficiency"),
      figure("data-metric", "utilization", m.utilization, num(m.utilization * 100, 0) + " %",
        "utilization"),
      figure("data-metric", "workers", m.workers, m.workers, "workers"),
      figure("data-metric", "critical_path", m.critical_path, secs(m.critical_path),
        "critical path"),
      figure("data-metric", "cpu_time", m.cpu_time, secs(m.cpu_time), "CPU time"));
    if (m.cost_estimate != null) {
      out.push(figure("data-metric", "cost_estimate", m.cost_estimate,
        Number(m.cost_estimate.toPrecision(4)), "cost"));
    }
    out.push(
      figure("data-metric", "tasks", m.tasks, m.tasks, "tasks"),
      figure("data-metric", "attempts", m.attempts, m.attempts, "attempts"),
      figure("data-metric", "retries", m.retries, m.retries, "retries"));
  } else {
    out.push(figure("data-fact", "tasks", TASKS.length, TASKS.length, "tasks seen"));
  }
  const f = r.facts;
  out.push(
    figure("data-fact", "timeouts", f.timeouts, f.timeouts, "timed-out attempts"),
    figure("data-fact", "kills", f.kills, f.kills, "attempts killed"),
    figure("data-fact", "crashes", f.crashes, f.crashes, "worker crashes"));
  if (f.reused) out.push(figure("data-fact", "reused", f.reused, f.reused, "reused"));
  out.push("</div>", '<div class="counts" data-metric="counts">');
  const names = STATUSES.filter((s) => s in r.counts)
    .concat(Object.keys(r.counts).filter((s) => !STATUSES.includes(s)));
  for (const s of names) {
    out.push('<span data-status="' + esc(s) + '" data-value="' + r.counts[s] + '">' +
      '<i class="dot s-' + esc(s) + '"></i>' + r.counts[s] + " " + esc(s) + "</span>");
  }
  out.push("</div>");
  if (D.tracebacks_omitted) {
    out.push('<p class="muted">' + plural(D.tracebacks_omitted, "traceback") +
      " left out to keep this file small; the event log has them.</p>");
  }
  $("header").innerHTML = out.join("");
}

function renderGates() {
  if (!D.gates.length) return;
  $("gates-section").hidden = false;
  $("gates").innerHTML = D.gates.map((g) => {
    const mark = g.passed ? "\u2713 passed" : "\u2717 failed";
    const tries = g.attempts ? ' <span class="muted">(' + plural(g.attempts, "attempt") +
      ")</span>" : "";
    const error = g.error ? "<details><summary>traceback</summary><pre>" + esc(g.error) +
      "</pre></details>" : "";
    return '<div class="gate ' + (g.passed ? "passed" : "failed") + '" data-gate="' +
      esc(g.name) + '" data-passed="' + g.passed + '"><b>' + mark + "</b>" + esc(g.name) +
      ": " + esc(g.message) + tries + error + "</div>";
  }).join("");
}
