// The task table: sortable by any column, filtered by a search box, drawn a page at a time
// (a 10,000-row table would cost more than the rest of the page); a row opens its traceback.

const PAGE = 200;
const COLUMNS = [
  // [title, key, numeric]
  ["Task", "id", false], ["Status", "status", false], ["Attempts", "attempts", true],
  ["Busy", "busy", true], ["Last run", "duration", true], ["Queued", "queued", true],
  ["Start", "start", true], ["End", "end", true], ["Error", "etype", false],
  ["Message", "emsg", false],
];
const CELL = { status: "st", emsg: "msg" };
const table = { key: "start", desc: false, filter: "", exact: false, shown: PAGE, rows: [] };
for (const t of TASKS) {
  t.etype = t.err ? t.err.type : "";
  t.emsg = t.err ? t.err.message : "";
  t.search = (t.id + " " + t.status + " " + t.etype + " " + t.emsg).toLowerCase();
}

const COLLATOR = new Intl.Collator(undefined, { numeric: true });  // "t2" before "t10"

function compare(key, numeric, desc) {
  const sign = desc ? -1 : 1;
  return (a, b) => {
    const x = a[key];
    const y = b[key];
    if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1;  // blanks last
    return sign * (numeric ? x - y : COLLATOR.compare(String(x), String(y)));
  };
}

function selectRows() {
  const col = COLUMNS.find((c) => c[1] === table.key);
  const f = table.filter.toLowerCase();
  const picked = !f ? TASKS.slice() : TASKS.filter((t) => table.exact ? t.id === table.filter
    : t.search.includes(f));
  picked.sort(compare(table.key, col[2], table.desc));
  table.rows = picked;
}

function cell(t, key) {
  switch (key) {
    case "id": return esc(t.id) + (CRITICAL.has(t.index) ? ' <span title="on the ' +
      'critical path">\u2605</span>' : "");
    case "status": return '<i class="dot ' + statusClass(t) + '"></i>' +
      esc(t.reused ? "succeeded (reused)" : t.status);
    case "busy": case "duration": case "queued": case "start": case "end": return secs(t[key]);
    default: return esc(t[key] == null ? "" : t[key]);
  }
}

function renderTable() {
  const head = COLUMNS.map(([title, key]) => '<th data-sort="' + key + '"' +
    (key === table.key ? ' aria-sort="' + (table.desc ? "descending" : "ascending") + '"' : "") +
    ">" + title + "</th>").join("");
  const body = table.rows.slice(0, table.shown).map((t) => {
    const tb = t.err && t.err.traceback ? " has-tb" : "";
    return '<tr class="' + tb + '" data-row="' + esc(t.id) + '" data-status="' + esc(t.status) +
      '">' + COLUMNS.map(([, key, numeric]) => '<td class="' + (numeric ? "num" : CELL[key] || "") +
      '">' + cell(t, key) + "</td>").join("") + "</tr>";
  }).join("");
  const more = table.rows.length > table.shown ? '<p><button type="button" id="more-rows">' +
    "show " + Math.min(PAGE, table.rows.length - table.shown) + " more of " +
    (table.rows.length - table.shown) + "</button></p>" : "";
  $("tasks").innerHTML = "<table><thead><tr>" + head + "</tr></thead><tbody>" + body +
    "</tbody></table>" + more;
  $("task-count").textContent = table.rows.length === TASKS.length ? plural(TASKS.length, "task")
    : table.rows.length + " of " + plural(TASKS.length, "task");
}

function toggleTraceback(tr) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("tb")) {
    next.remove();
    tr.classList.remove("open");
    return;
  }
  const t = TASKS.find((x) => x.id === tr.dataset.row);
  const row = document.createElement("tr");
  row.className = "tb";
  row.innerHTML = '<td colspan="' + COLUMNS.length + '"><pre>' + esc(t.err.traceback) +
    "</pre></td>";
  tr.after(row);
  tr.classList.add("open");
}

// Show one task's row (a click on a graph node): the filter is set to its id.
function showTask(id) {
  $("task-filter").value = id;
  Object.assign(table, { filter: id, exact: true, shown: PAGE });
  selectRows();
  renderTable();
  $("tasks-section").scrollIntoView({ block: "start" });
}

function setupTable() {
  const box = $("tasks");
  box.addEventListener("click", (ev) => {
    const th = ev.target.closest("th[data-sort]");
    if (th) {
      const key = th.dataset.sort;
      table.desc = table.key === key ? !table.desc : false;
      table.key = key;
      selectRows();
      renderTable();
      return;
    }
    if (ev.target.id === "more-rows") {
      table.shown += PAGE;
      renderTable();
      return;
    }
    const tr = ev.target.closest("tr.has-tb");
    if (tr) toggleTraceback(tr);
  });
  $("task-filter").addEventListener("input", (ev) => {
    Object.assign(table, { filter: ev.target.value.trim(), exact: false, shown: PAGE });
    selectRows();
    renderTable();
  });
  selectRows();
  renderTable();
}
