// The graph in layers (payload.graph: units in columns, edges between units). A task unit is a
// node (data-node, data-status); a group (a mapped task's children, or tasks grouped because
// there are too many to draw one by one) shows its counts by state and opens on click.

const NODE_W = 150;
const NODE_H = 24;
const COL_GAP = 56;
const ROW_GAP = 8;
const ROWS_PER_COLUMN = 40;  // a taller column wraps into several
const UNITS = rows(D.graph.units);

function counts(members) {
  const c = {};
  for (const i of members) {
    const s = TASKS[i].reused ? "reused" : TASKS[i].status;
    c[s] = (c[s] || 0) + 1;
  }
  return c;
}

function layoutGraph() {
  const pos = new Array(UNITS.length);
  let x = 8;
  let height = 0;
  for (const col of D.graph.columns) {
    const wraps = Math.max(1, Math.ceil(col.length / ROWS_PER_COLUMN));
    col.forEach((u, k) => {
      const sub = Math.floor(k / ROWS_PER_COLUMN);
      const row = k % ROWS_PER_COLUMN;
      pos[u] = { x: x + sub * (NODE_W + 12), y: 8 + row * (NODE_H + ROW_GAP) };
      height = Math.max(height, pos[u].y + NODE_H + 8);
    });
    x += wraps * (NODE_W + 12) - 12 + COL_GAP;
  }
  return { pos, width: x - COL_GAP + 16, height };
}

function label(text) {
  return text.length > 22 ? text.slice(0, 21) + "\u2026" : text;
}

function unitSvg(u, i, p) {
  const tr = ' transform="translate(' + p.x + "," + p.y + ')"';
  if (u.kind === "task") {
    const t = TASKS[u.members[0]];
    const cls = "node " + statusClass(t) + (t.attempts ? "" : " never") +
      (CRITICAL.has(u.members[0]) ? " crit" : "");
    return '<g class="' + cls + '" data-u="' + i + '" data-node="' + esc(t.id) +
      '" data-status="' + esc(t.status) + '"' + tr + '><rect width="' + NODE_W + '" height="' +
      NODE_H + '" rx="4" class="' + statusClass(t) + '"/><text x="7" y="16">' +
      esc(label(t.id)) + "</text></g>";
  }
  const c = counts(u.members);
  const crit = u.members.some((m) => CRITICAL.has(m)) ? " crit" : "";
  let s = '<g class="group' + crit + '" data-u="' + i + '" data-group="' + esc(u.key) +
    '" data-kind="' + u.kind + '" data-count="' + u.members.length + '"' + tr + ">" +
    '<rect class="box" width="' + NODE_W + '" height="' + NODE_H + '" rx="4"/>';
  let x = 0;
  for (const st of STATUSES.concat(["reused"])) {
    if (!c[st]) continue;
    const w = (c[st] / u.members.length) * NODE_W;
    s += '<rect class="s-' + st + '" x="' + x + '" y="' + (NODE_H - 5) + '" width="' + w +
      '" height="5"/>';
    x += w;
  }
  return s + '<text x="7" y="14">' + esc(label(u.label)) + " (" + u.members.length +
    ")</text></g>";
}

function edgeSvg(e, pos, critEdges) {
  const a = pos[e[0]];
  const b = pos[e[1]];
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x;
  const y2 = b.y + NODE_H / 2;
  const mid = (x1 + x2) / 2;
  const crit = critEdges.has(e[0] + ">" + e[1]) ? " crit" : "";
  const width = D.graph.mode === "tasks" ? "" : ' stroke-width="' + (1 + Math.log2(e[2])) + '"';
  return '<path class="edge' + crit + '"' + width + ' d="M' + x1 + "," + y1 + " C" + mid + "," +
    y1 + " " + mid + "," + y2 + " " + x2 + "," + y2 + '"/>';
}

function renderGraph() {
  if (!UNITS.length) {
    $("graph").innerHTML = '<p class="empty">No tasks.</p>';
    return;
  }
  const { pos, width, height } = layoutGraph();
  const unitOf = new Map();
  UNITS.forEach((u, i) => { if (u.kind === "task") unitOf.set(u.members[0], i); });
  const critEdges = new Set();
  const chain = D.graph.critical;
  for (let k = 1; k < chain.length; k++) {
    if (unitOf.has(chain[k - 1]) && unitOf.has(chain[k])) {
      critEdges.add(unitOf.get(chain[k - 1]) + ">" + unitOf.get(chain[k]));
    }
  }
  const out = ['<svg xmlns="' + SVGNS + '" width="' + width + '" height="' + height + '">'];
  for (const e of D.graph.edges) out.push(edgeSvg(e, pos, critEdges));
  UNITS.forEach((u, i) => out.push(unitSvg(u, i, pos[i])));
  out.push("</svg>");
  const box = $("graph");
  box.innerHTML = out.join("");
  const groups = UNITS.filter((u) => u.kind !== "task").length;
  $("graph-note").textContent = plural(TASKS.length, "task") + " in " +
    plural(D.graph.columns.length, "layer") + (groups ? "; " + plural(groups, "group") +
    (D.graph.mode === "tasks" ? "" : " (too many tasks to draw one by one)") +
    ": click one to open it" : "") + "; dashed: never ran";
}

function openGroup(g) {
  const u = UNITS[+g.dataset.u];
  const panel = $("group-panel");
  const wasOpen = g.classList.contains("open");
  document.querySelectorAll("#graph .group.open").forEach((o) => o.classList.remove("open"));
  if (wasOpen) {
    panel.hidden = true;
    return;
  }
  g.classList.add("open");
  const c = counts(u.members);
  const summary = Object.keys(c).map((s) => c[s] + " " + s).join(", ");
  const dense = u.members.length > 400 ? " dense" : "";
  panel.innerHTML = "<b>" + esc(u.label) + "</b> " + plural(u.members.length, "task") + ": " +
    esc(summary) + '<div class="chips' + dense + '">' + u.members.map((m) => {
      const t = TASKS[m];
      return '<span class="chip ' + statusClass(t) + '" data-t="' + m + '" data-node="' +
        esc(t.id) + '" data-status="' + esc(t.status) + '">' + esc(t.id) + "</span>";
    }).join("") + "</div>";
  panel.hidden = false;
}

function setupGraph() {
  const box = $("graph");
  hover(box, "[data-u]", (el) => {
    const u = UNITS[+el.dataset.u];
    if (u.kind === "task") return taskTip(TASKS[u.members[0]]);
    const c = counts(u.members);
    return "<b>" + esc(u.label) + "</b> " + plural(u.members.length, "task") + "<br>" +
      Object.keys(c).map((s) => c[s] + " " + esc(s)).join(", ") + "<br>click to open";
  });
  box.addEventListener("click", (ev) => {
    const g = ev.target.closest(".group");
    if (g) openGroup(g);
    const n = ev.target.closest("[data-node]");
    if (n) showTask(n.dataset.node);
  });
  hover($("group-panel"), "[data-t]", (el) => taskTip(TASKS[+el.dataset.t]));
  $("group-panel").addEventListener("click", (ev) => {
    const n = ev.target.closest("[data-node]");
    if (n) showTask(n.dataset.node);
  });
  renderGraph();
}
