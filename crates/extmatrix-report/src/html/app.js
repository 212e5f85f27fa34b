// The page script of the extmatrix HTML report: filters kept in the URL
// fragment, finding highlights, the details panel of a cell and keyboard
// navigation of the grid. The page is usable without it; it only adds.
//
// Nothing here may fetch anything (the page's CSP forbids it) or put report
// text into markup: a report can hold any string, so every text goes in
// through textContent and every element through the DOM APIs.
(function () {
  "use strict";

  const doc = document;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const FILTER_LISTS = ["outcome", "python", "scenario", "target"];

  doc.documentElement.classList.add("js");

  const grid = doc.getElementById("grid");
  const form = doc.getElementById("filters");
  const panel = doc.getElementById("details");

  // ---------------------------------------------------------------- data --

  // The blob can be megabytes (6720 cells with their details): parsing it
  // at load would delay the first paint for what most visits never open.
  let data = null;
  function reportData() {
    if (data === null) {
      const blob = doc.getElementById("extmatrix-data");
      try {
        data = JSON.parse(blob ? blob.textContent : "{}");
      } catch (e) {
        data = {};
      }
      data.reports = data.reports || [];
      data.reasons = data.reasons || {};
      data.outcomes = data.outcomes || {};
    }
    return data;
  }

  function cellRef(ref) {
    const parts = String(ref || "").split(":");
    const report = reportData().reports[Number(parts[0])];
    const cell = report && report.cells ? report.cells[Number(parts[1])] : null;
    return cell ? { report: report, cell: cell, r: Number(parts[0]), c: Number(parts[1]) } : null;
  }

  function keyOf(target, module, python, scenario) {
    return [target, module, python, scenario].join("\u0000");
  }

  // Per report: a cell's key → its index, to find a finding's cells.
  const cellIndexByKey = new Map();
  function cellIndexOf(r, key) {
    if (!cellIndexByKey.has(r)) {
      const map = new Map();
      const report = reportData().reports[r];
      ((report && report.cells) || []).forEach(function (c, i) {
        map.set(keyOf(c.target, c.module, c.python, c.scenario), i);
      });
      cellIndexByKey.set(r, map);
    }
    return cellIndexByKey.get(r).get(key);
  }

  // ---------------------------------------------------------- grid index --

  // Each td's column, row and attributes, read once: a filter on 6720 cells
  // is then one pass over plain objects rather than a query per cell.
  let index = null;
  function gridIndex() {
    if (index !== null || !grid) return index;
    const cols = Array.from(grid.querySelectorAll("thead th[data-scenario]")).map(function (th) {
      return { th: th, python: th.dataset.python || "", scenario: th.dataset.scenario || "", tds: [], shown: true };
    });
    // The colgroups after the row headers' one follow the group headers.
    const colgroups = Array.from(grid.querySelectorAll(":scope > colgroup")).slice(1);
    const groups = Array.from(grid.querySelectorAll("thead th[data-python]:not([data-scenario])")).map(function (th, i) {
      return { th: th, python: th.dataset.python, span: th.colSpan, colgroup: colgroups[i] || null };
    });
    const rows = [];
    const extras = [];
    const cells = [];
    const byRef = new Map();
    grid.querySelectorAll("tbody").forEach(function (tbody) {
      const bodyRows = [];
      Array.from(tbody.rows).forEach(function (tr) {
        if (!tr.hasAttribute("data-target")) {
          extras.push({ tr: tr, tbody: bodyRows, spans: Array.from(tr.cells).map(function (c) { return c.colSpan; }) });
          return;
        }
        const row = { tr: tr, target: tr.dataset.target, cells: [], tds: [], shown: true };
        let j = 0;
        for (const el of tr.children) {
          if (el.tagName !== "TD") continue;
          const col = cols[j];
          if (col) col.tds.push(el);
          row.tds.push(el);
          if (el.classList.contains("cell")) {
            const entry = { td: el, col: j, row: row, outcome: el.dataset.outcome || "", change: el.dataset.change || "", off: el.classList.contains("off") };
            row.cells.push(entry);
            cells.push(entry);
            byRef.set(el.dataset.cell, entry);
          }
          j += 1;
        }
        rows.push(row);
        bodyRows.push(row);
      });
    });
    index = { cols: cols, groups: groups, rows: rows, extras: extras, cells: cells, byRef: byRef };
    return index;
  }

  function isShownCell(td) {
    return !!td && td.classList.contains("cell") && !td.hidden && !td.classList.contains("off") &&
      !td.parentElement.hidden;
  }

  // ------------------------------------------------------------- filters --

  function emptyFilter() {
    return { outcome: [], python: [], scenario: [], target: [], regressed: false };
  }

  function decode(text) {
    try {
      return decodeURIComponent(text.replace(/\+/g, " "));
    } catch (e) {
      return text;
    }
  }

  function parseFragment(hash) {
    const state = emptyFilter();
    String(hash || "").replace(/^#/, "").split("&").forEach(function (pair) {
      const eq = pair.indexOf("=");
      const name = decode(eq < 0 ? pair : pair.slice(0, eq));
      const value = eq < 0 ? "" : pair.slice(eq + 1);
      if (FILTER_LISTS.indexOf(name) >= 0) {
        state[name] = value.split(",").map(decode).filter(function (v) { return v !== ""; });
      } else if (name === "regressed") {
        state.regressed = value === "1" || value === "true" || eq < 0;
      }
    });
    return state;
  }

  function formatFragment(state) {
    const parts = [];
    FILTER_LISTS.forEach(function (name) {
      if (state[name].length) parts.push(name + "=" + state[name].map(encodeURIComponent).join(","));
    });
    if (state.regressed) parts.push("regressed=1");
    return parts.join("&");
  }

  function control(name) {
    return form ? form.elements.namedItem(name) : null;
  }

  function addOption(select, value, text) {
    const option = doc.createElement("option");
    option.value = value;
    option.textContent = text;
    select.appendChild(option);
    return option;
  }

  // The renderer may have written the options; if not, they come from the
  // grid itself, so they always name what the page holds.
  function fillSelect(name, entries) {
    const select = control(name);
    if (!select || select.tagName !== "SELECT") return;
    const real = Array.from(select.options).filter(function (o) { return o.value !== ""; });
    if (!Array.from(select.options).some(function (o) { return o.value === ""; })) {
      select.insertBefore(new Option("all", ""), select.firstChild);
    }
    if (real.length) return;
    const seen = new Set();
    entries.forEach(function (e) {
      if (seen.has(e[0])) return;
      seen.add(e[0]);
      addOption(select, e[0], e[1]);
    });
  }

  function buildControls() {
    if (!form || !grid) return;
    form.hidden = false;
    fillSelect("python", Array.from(grid.querySelectorAll("thead th[data-python]:not([data-scenario])")).map(function (th) {
      return [th.dataset.python, th.textContent.replace(/\s+/g, " ").trim() || th.dataset.python];
    }));
    fillSelect("scenario", Array.from(grid.querySelectorAll("thead th[data-scenario]")).map(function (th) {
      return [th.dataset.scenario, th.dataset.scenario];
    }));
    fillSelect("target", Array.from(grid.querySelectorAll("tbody tr[data-target]")).map(function (tr) {
      return [tr.dataset.target, tr.dataset.target];
    }));
    const select = control("outcome");
    if (select && select.options.length <= 1) {
      // The counts list names each outcome present once; scanning every
      // cell is the fallback for a page without it.
      let present = Array.from(doc.querySelectorAll("#counts li[data-outcome]")).map(function (li) {
        return li.dataset.outcome;
      });
      if (!present.length) {
        present = Array.from(grid.querySelectorAll("td.cell[data-outcome]")).map(function (td) { return td.dataset.outcome; });
      }
      fillSelect("outcome", present.map(function (o) { return [o, o]; }));
    }
  }

  // A fragment may hold a list (`outcome=crash,hang`) that no single option
  // is: such a value gets an option of its own while it is selected.
  function setSelect(select, values) {
    Array.from(select.querySelectorAll("option[data-combined]")).forEach(function (o) {
      if (o.value !== values.join(",")) o.remove();
    });
    const wanted = values.join(",");
    if (!Array.from(select.options).some(function (o) { return o.value === wanted; })) {
      addOption(select, wanted, values.join(", ")).dataset.combined = "";
    }
    select.value = wanted;
  }

  function writeControls(state) {
    FILTER_LISTS.forEach(function (name) {
      const select = control(name);
      if (select) setSelect(select, state[name]);
    });
    const box = control("regressed");
    if (box) box.checked = state.regressed;
  }

  function readControls() {
    const state = emptyFilter();
    FILTER_LISTS.forEach(function (name) {
      const select = control(name);
      if (select && select.value) state[name] = select.value.split(",").filter(Boolean);
    });
    const box = control("regressed");
    state.regressed = !!(box && box.checked);
    return state;
  }

  function setHidden(el, hidden) {
    if (el.hidden !== hidden) el.hidden = hidden;
  }

  function applyColumns(ix, state) {
    const pythons = new Set(state.python);
    const scenarios = new Set(state.scenario);
    const perPython = new Map();
    ix.cols.forEach(function (col) {
      const shown = (!pythons.size || pythons.has(col.python)) && (!scenarios.size || scenarios.has(col.scenario));
      if (shown !== col.shown) {
        col.shown = shown;
        setHidden(col.th, !shown);
        col.tds.forEach(function (td) { setHidden(td, !shown); });
      }
      perPython.set(col.python, (perPython.get(col.python) || 0) + (shown ? 1 : 0));
    });
    // A group header spanning hidden columns would push the headers below
    // it out of line with their cells.
    ix.groups.forEach(function (g) {
      const n = perPython.has(g.python) ? perPython.get(g.python) : g.span;
      setHidden(g.th, n === 0);
      if (n > 0 && g.th.colSpan !== n) g.th.colSpan = n;
      if (g.colgroup) {
        setHidden(g.colgroup, n === 0);
        if (n > 0 && g.colgroup.span !== n) g.colgroup.span = n;
      }
    });
  }

  function applyRows(ix, state) {
    const outcomes = new Set(state.outcome);
    const targets = new Set(state.target);
    let shownCells = 0;
    ix.rows.forEach(function (row) {
      const selected = !targets.size || targets.has(row.target);
      let any = false;
      row.cells.forEach(function (cell) {
        const matches = (!outcomes.size || outcomes.has(cell.outcome)) && (!state.regressed || cell.change === "regressed");
        if (cell.off === matches) {
          cell.off = !matches;
          cell.td.classList.toggle("off", !matches);
        }
        if (matches && ix.cols[cell.col] && ix.cols[cell.col].shown) {
          any = true;
          if (selected) shownCells += 1;
        }
      });
      row.shown = selected && any;
      setHidden(row.tr, !row.shown);
    });
    return shownCells;
  }

  // Rows naming a report (several reports on one page) follow their rows,
  // and their spanning cell shrinks with the columns.
  function applyExtras(ix) {
    const hiddenCols = ix.cols.filter(function (c) { return !c.shown; }).length;
    ix.extras.forEach(function (extra) {
      setHidden(extra.tr, extra.tbody.length > 0 && !extra.tbody.some(function (r) { return r.shown; }));
      Array.from(extra.tr.cells).forEach(function (cell, i) {
        const span = extra.spans[i];
        if (span > ix.cols.length) {
          const want = Math.max(1, span - hiddenCols);
          if (cell.colSpan !== want) cell.colSpan = want;
        }
      });
    });
  }

  function applyFilter(state) {
    const ix = gridIndex();
    if (!ix) return;
    applyColumns(ix, state);
    const shown = applyRows(ix, state);
    applyExtras(ix);
    const count = doc.getElementById("shown-count");
    if (count) count.textContent = shown + " of " + ix.cells.length + " cells";
    keepRovingStop(ix);
  }

  function isFiltered(state) {
    return formatFragment(state) !== "";
  }

  let lastApplied = null;
  function applyFragment() {
    const state = parseFragment(location.hash);
    writeControls(state);
    // The first filter builds the index: a page opened without a fragment
    // does not pay for it before anyone asks.
    if (!isFiltered(state) && lastApplied === null) {
      const count = doc.getElementById("shown-count");
      const total = grid ? grid.querySelectorAll("td.cell").length : 0;
      if (count) count.textContent = total + " of " + total + " cells";
      return;
    }
    lastApplied = state;
    applyFilter(state);
  }

  function onControlChange() {
    const state = readControls();
    const fragment = formatFragment(state);
    const url = location.pathname + location.search + (fragment ? "#" + fragment : "");
    try {
      history.replaceState(history.state, "", url);
    } catch (e) {
      // A sandboxed or file: page may refuse; the view still follows the controls.
    }
    lastApplied = state;
    applyFilter(state);
  }

  // ------------------------------------------------------------ findings --

  let activeFinding = null;

  function clearHighlight() {
    if (!activeFinding) return;
    activeFinding.button.setAttribute("aria-pressed", "false");
    activeFinding.cells.forEach(function (td) { td.classList.remove("hl"); });
    activeFinding = null;
  }

  function findingCells(ref) {
    const parts = String(ref || "").split(":");
    const r = Number(parts[0]);
    const report = reportData().reports[r];
    const finding = report && report.findings ? report.findings[Number(parts[1])] : null;
    if (!finding) return [];
    const ix = gridIndex();
    const tds = [];
    (finding.cells || []).forEach(function (fc) {
      const c = cellIndexOf(r, keyOf(finding.target, finding.module, fc.python, fc.scenario));
      const entry = c === undefined || !ix ? null : ix.byRef.get(r + ":" + c);
      if (entry) tds.push(entry.td);
    });
    return tds;
  }

  function toggleFinding(button) {
    const was = activeFinding && activeFinding.button === button;
    clearHighlight();
    if (was) return;
    const li = button.closest("[data-finding]");
    const cells = findingCells(li ? li.dataset.finding : "");
    cells.forEach(function (td) { td.classList.add("hl"); });
    button.setAttribute("aria-pressed", "true");
    activeFinding = { button: button, cells: cells };
    const first = cells.find(isShownCell) || cells[0];
    if (first) first.scrollIntoView({ block: "center", inline: "center", behavior: "auto" });
  }

  // ------------------------------------------------------- DOM builders --

  function el(tag, attrs, children) {
    const node = doc.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, attrs[k]);
      });
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    if (children === undefined || children === null) return node;
    (Array.isArray(children) ? children : [children]).forEach(function (child) {
      if (child === undefined || child === null || child === false) return;
      node.appendChild(typeof child === "object" ? child : doc.createTextNode(String(child)));
    });
    return node;
  }

  function present(v) {
    return v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0);
  }

  function section(name, heading, children) {
    return el("section", { "data-section": name }, [el("h3", null, heading)].concat(children));
  }

  // A definition list of the pairs that have a value.
  function facts(pairs) {
    const dl = el("dl", { class: "facts" });
    pairs.forEach(function (p) {
      if (!present(p[1])) return;
      dl.appendChild(el("dt", null, p[0]));
      dl.appendChild(el("dd", null, p[1]));
    });
    return dl.childNodes.length ? dl : null;
  }

  function pre(text) {
    return present(text) ? el("pre", null, el("code", null, String(text))) : null;
  }

  function code(text) {
    return present(text) ? el("code", null, String(text)) : null;
  }

  function table(headers, rows, caption) {
    const t = el("table", { class: "details-table" });
    if (caption) t.appendChild(el("caption", null, caption));
    t.appendChild(el("thead", null, el("tr", null, headers.map(function (h) { return el("th", { scope: "col" }, h); }))));
    t.appendChild(el("tbody", null, rows.map(function (r) {
      return el("tr", null, r.map(function (v) { return el("td", null, present(v) ? v : "–"); }));
    })));
    return t;
  }

  function num(v) {
    if (typeof v !== "number" || !isFinite(v)) return present(v) ? String(v) : "";
    const rounded = Math.abs(v) >= 100 || Number.isInteger(v) ? Math.round(v * 10) / 10 : Math.round(v * 1000) / 1000;
    return rounded.toLocaleString("en-US");
  }

  function hex(v) {
    return typeof v === "number" ? "0x" + v.toString(16) : v;
  }

  function yesNo(v) {
    return v ? "yes" : "no";
  }

  function outcomeText(id) {
    const meaning = reportData().outcomes[id];
    const m = meaning && typeof meaning === "object" ? meaning.meaning : meaning;
    return m ? id + " — " + m : id;
  }

  // ------------------------------------------------------------- details --

  function summarySection(cell) {
    const d = cell.details || {};
    const reason = d.reason ? reportData().reasons[d.reason] || {} : null;
    return section("summary", "Summary", [
      el("p", { class: "details-summary" }, d.summary || "(no summary)"),
      facts([
        ["Outcome", outcomeText(cell.outcome)],
        ["Reason", reason ? code(d.reason) : null],
        ["Meaning", reason ? reason.meaning : null],
        ["Fix", reason ? reason.fix : null],
        ["Time", present(cell.duration_ms) ? num(cell.duration_ms) + " ms" : null],
        ["Core objects ignored", d.core_objects_ignored ? String(d.core_objects_ignored) : null],
        ["Processes left behind", d.left_behind ? d.left_behind + " (killed)" : null],
        ["Foreign channel lines", d.foreign_lines ? d.foreign_lines + " (not trusted)" : null],
      ]),
    ]);
  }

  function expectationSection(cell) {
    const e = cell.expectation;
    if (!e) return null;
    return section("expectation", "Expectation", facts([
      ["Expected", (e.expected || []).join(", ")],
      ["Status", e.status],
      ["From", (e.from || []).join(", ")],
    ]));
  }

  function changeSection(cell) {
    const c = cell.change;
    if (!c) return null;
    return section("change", "Change against the baseline", facts([
      ["Change", c.change],
      ["Was", c.was || (c.change === "new" ? "(not in the baseline)" : null)],
    ]));
  }

  const COMPARISONS = {
    "old/new": "the same object before and after a re-import",
    "main/subinterp": "the same object in the main interpreter and a subinterpreter",
  };

  function named(raw, demangled) {
    if (!present(raw)) return null;
    return present(demangled) && demangled !== raw ? [code(demangled), " (", code(raw), ")"] : code(raw);
  }

  function sharedObject(o) {
    const flags = ["immortal", "interned", "runtime_managed", "existed_before_import", "registered_module", "defined_by_dependency"]
      .filter(function (f) { return o[f]; }).map(function (f) { return f.replace(/_/g, " "); });
    const held = present(o.held_by) || present(o.held_in)
      ? [named(o.held_by, o.held_by_demangled) || "a slot", present(o.held_at) ? " at " + hex(o.held_at) : "", present(o.held_in) ? " in " + o.held_in : ""]
      : null;
    return el("li", { class: "shared-object" }, [
      el("h4", null, [code(o.path), " ", el("span", { class: "type" }, "(" + o.type + ")")]),
      facts([
        ["What", o.type ? o.type + " object, reached from the module as " + o.path : null],
        ["Path before", code(o.path_before)],
        ["Seen as", COMPARISONS[o.label] || o.label],
        ["Address", code(o.addr)],
        ["Lives in", o.lives],
        ["Owner lives in", o.owner_lives],
        ["Symbol", named(o.symbol, o.symbol_demangled)],
        ["Section", o.section],
        ["Image", o.image],
        ["Offset", hex(o.offset)],
        ["Held by", held],
        ["m_copy", o.from_m_copy ? "yes: loaded again from a copy of the first instance's dict (gh-101758)" : "no"],
        ["Flags", flags.join(", ")],
      ]),
    ]);
  }

  function sharedObjectsSection(d) {
    if (!present(d.shared_objects)) return null;
    return section("shared-objects", "Shared objects (" + d.shared_objects.length + ")",
      el("ul", { class: "shared-objects" }, d.shared_objects.map(sharedObject)));
  }

  function declarationSection(d) {
    const x = d.declared;
    if (!x) return null;
    return section("declaration", "Declaration", facts([
      ["Init", x.init],
      ["m_size", present(x.m_size) ? String(x.m_size) : null],
      ["Py_mod_multiple_interpreters", x.multiple_interpreters || "(not set)"],
      ["Py_mod_gil", x.gil || "(not set)"],
    ]));
  }

  function crashSection(cell) {
    const d = cell.details || {};
    if (!present(d.step) && !present(d.signal) && !present(d.exit_code) && !present(d.fatal_error)) return null;
    const heading = cell.outcome === "hang" ? "Hang" : cell.outcome === "crash" ? "Crash" : "How it ended";
    return section("crash", heading, [
      facts([
        ["Step", code(d.step)],
        ["Signal", d.signal],
        ["Exit code", present(d.exit_code) ? String(d.exit_code) : null],
      ]),
      present(d.fatal_error) ? el("h4", null, "Fatal error") : null,
      pre(d.fatal_error),
      present(d.waits) ? el("h4", null, "What each thread waited on") : null,
      present(d.waits) ? pre(d.waits.join("\n")) : null,
    ]);
  }

  // gdb's output holds every thread: split it at "Thread N" so each
  // thread's numbered frames read as one stack.
  function threadsOf(c) {
    const threads = [];
    let current = null;
    String(c || "").split("\n").forEach(function (line) {
      const t = line.trim();
      if (/^Thread \d+/.test(t)) {
        current = { name: t, frames: [] };
        threads.push(current);
      } else if (current && t.charAt(0) === "#") {
        current.frames.push(t);
      }
    });
    return threads.filter(function (t) { return t.frames.length; });
  }

  function forensicsSection(d) {
    const f = d.forensics;
    if (!f) return null;
    const threads = threadsOf(f.c);
    const cParts = threads.length
      ? threads.map(function (t) { return [el("h5", null, t.name), pre(t.frames.join("\n"))]; })
      : [pre(f.c)];
    return section("forensics", "Forensics" + (f.signal ? " (" + f.signal + ")" : ""), [
      present(f.python) ? el("h4", null, "Python traceback (every thread)") : null,
      pre(f.python),
      present(f.c) ? el("h4", null, "C frames") : null,
    ].concat([].concat.apply([], cParts), [
      present(f.c_mangled) ? el("details", null, [el("summary", null, "C frames as written (mangled)"), pre(f.c_mangled)]) : null,
    ]));
  }

  function errorsSection(d) {
    if (!present(d.errors)) return null;
    return section("errors", "Exceptions (" + d.errors.length + ")", el("ol", null, d.errors.map(function (e) {
      return el("li", null, [
        el("p", null, [code(e.exc_type), ": ", e.message]),
        facts([["Step", code(e.where)], ["Phase", e.phase], ["Module not found", code(e.not_found)]]),
        pre(e.traceback),
      ]);
    })));
  }

  function warningsSection(d) {
    if (!present(d.warnings)) return null;
    return section("warnings", "Warnings", table(["Step", "Category", "Message"], d.warnings.map(function (w) {
      return [code(w.where), w.category, w.message];
    })));
  }

  function gilSection(d) {
    if (!present(d.gil)) return null;
    return section("gil", "GIL", table(["Step", "GIL"], d.gil.map(function (g) {
      return [code(g.where), g.enabled ? "enabled" : "disabled"];
    })));
  }

  function sideRunSection(name, heading, run) {
    if (!run) return null;
    return section(name, heading, facts([
      ["Outcome", outcomeText(run.outcome)],
      ["Summary", run.summary],
      ["Step", code(run.step)],
      ["Imported instead", (run.imports || []).join(", ")],
    ]));
  }

  function retriesSection(d) {
    if (!present(d.retries)) return null;
    return section("retries", "Retries", table(["#", "How it ended", "Last step", "The harness said"], d.retries.map(function (a, i) {
      const t = a.termination || {};
      const how = t.how === "exited" ? "exited " + t.code
        : t.how === "signaled" ? "killed by " + (t.name || t.signal)
          : t.how === "timed-out" ? "timed out after " + num(t.after_ms) + " ms"
            + (t.waited_ms ? ", " + num(t.waited_ms) + " ms of them waiting for a CPU" : "")
            : t.how === "deadlocked" ? "deadlocked after " + num(t.after_ms) + " ms" : t.how;
      return [a.run ? "run " + a.run : String(i + 1), how, code(a.last_step), a.fatal];
    })));
  }

  const CYCLE_FIELDS = [
    ["ok", "ok"], ["us", "µs"], ["allocated_blocks", "blocks"], ["total_refcount", "refs"],
    ["malloc_kb", "malloc KiB"], ["rss_kb", "RSS KiB"], ["final_refs", "final refs"],
    ["final_blocks", "final blocks"], ["allocator", "allocator"],
  ];

  function cyclesTable(cycles, caption) {
    const fields = CYCLE_FIELDS.filter(function (f) {
      return cycles.some(function (c) { return present(c[f[0]]); });
    });
    return table(["cycle"].concat(fields.map(function (f) { return f[1]; })), cycles.map(function (c) {
      return [String(c.n)].concat(fields.map(function (f) {
        const v = c[f[0]];
        return typeof v === "boolean" ? yesNo(v) : typeof v === "number" ? num(v) : v;
      }));
    }), caption);
  }

  function cyclesSection(d) {
    if (!present(d.cycles)) return null;
    const parts = [cyclesTable(d.cycles, "Target")];
    if (d.leak && present(d.leak.baseline)) parts.push(cyclesTable(d.leak.baseline, "Baseline (an empty module)"));
    return section("cycles", "Cycles", parts);
  }

  function buildSection(d) {
    const b = d.build;
    if (!b) return null;
    const cause = b.cause;
    return section("build", "Build", [
      facts([
        ["Command", code(b.command)],
        ["Cause", cause ? [cause.phase, cause.kind].filter(Boolean).join(", ") + ": " + cause.message : null],
        ["Where", cause ? code(cause.location) : null],
      ]),
      present(b.output) ? el("h4", null, "Output (tail)") : null,
      pre(b.output),
      present(b.log) ? el("details", null, [el("summary", null, "Full build log"), pre(b.log)]) : null,
    ]);
  }

  function writableGlobalsSection(report, cell) {
    const image = (report.images || []).find(function (i) {
      return i.target === cell.target && i.module === cell.module && i.python === cell.python;
    });
    if (!image || !present(image.writable_globals)) return null;
    return section("writable-globals", "Writable globals of the module's image (" + image.writable_globals.length + ")", [
      facts([["Image", image.path]]),
      table(["Symbol", "Section", "Bytes"], image.writable_globals.map(function (g) {
        return [named(g.name, g.demangled), g.section, num(g.size)];
      })),
    ]);
  }

  function tailSection(name, heading, text, dropped) {
    if (!present(text)) return null;
    return section(name, heading, [
      dropped ? el("p", null, num(dropped) + " bytes before this tail were not kept.") : null,
      pre(text),
    ]);
  }

  function notesSection(d) {
    if (!present(d.notes)) return null;
    return section("notes", "Notes", el("ul", null, d.notes.map(function (n) { return el("li", null, n); })));
  }

  function detailSections(report, cell) {
    const d = cell.details || {};
    return [
      summarySection(cell),
      expectationSection(cell),
      changeSection(cell),
      sharedObjectsSection(d),
      declarationSection(d),
      crashSection(cell),
      forensicsSection(d),
      errorsSection(d),
      warningsSection(d),
      gilSection(d),
      sideRunSection("control", "Control run (without the target)", d.control),
      sideRunSection("alone", "Alone run (that instance in a fresh process)", d.alone),
      leakSection(d),
      cyclesSection(d),
      retriesSection(d),
      buildSection(d),
      writableGlobalsSection(report, cell),
      tailSection("stdout", "stdout (tail)", d.stdout_tail, d.stdout_dropped_bytes),
      tailSection("stderr", "stderr (tail)", d.stderr_tail, d.stderr_dropped_bytes),
      notesSection(d),
    ].filter(Boolean);
  }

  // ---------------------------------------------------------- leak chart --

  const SERIES = {
    refs: { field: "total_refcount", name: "references", unit: "refs" },
    blocks: { field: "allocated_blocks", name: "allocated blocks", unit: "blocks" },
    malloc_kib: { field: "malloc_kb", name: "malloc memory", unit: "KiB" },
    rss_kib: { field: "rss_kb", name: "resident set size", unit: "KiB" },
  };
  // Dark enough for 4.5:1 on the chart's white background, and told apart
  // by dash pattern and marker shape for anyone who cannot tell the hues.
  const INK = { target: "#1d4ed8", baseline: "#9a3412", diff: "#1f2937", fit: "#b91c1c", axis: "#374151" };

  function svg(tag, attrs, text) {
    const node = doc.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function leastSquares(ys) {
    const n = ys.length;
    if (n < 2) return null;
    const mx = (n - 1) / 2;
    const my = ys.reduce(function (a, b) { return a + b; }, 0) / n;
    let sxy = 0;
    let sxx = 0;
    ys.forEach(function (y, x) { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx); });
    const slope = sxx ? sxy / sxx : 0;
    return { slope: slope, intercept: my - slope * mx };
  }

  // One plot: lines of (x, y) points within a box, y labelled at its
  // minimum and maximum, x at its first and last cycle.
  function plot(root, box, lines, xs, unit) {
    const ys = [];
    lines.forEach(function (l) { l.points.forEach(function (p) { if (p[1] !== null) ys.push(p[1]); }); });
    if (!ys.length) return;
    let lo = Math.min.apply(null, ys);
    let hi = Math.max.apply(null, ys);
    if (lo === hi) { lo -= 1; hi += 1; }
    const x0 = xs[0];
    const x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1];
    const sx = function (x) { return box.x + (x - x0) / (x1 - x0) * box.w; };
    const sy = function (y) { return box.y + box.h - (y - lo) / (hi - lo) * box.h; };
    root.appendChild(svg("path", { d: "M" + box.x + " " + box.y + "V" + (box.y + box.h) + "H" + (box.x + box.w), fill: "none", stroke: INK.axis, "stroke-width": 1 }));
    const label = function (x, y, text, anchor) {
      root.appendChild(svg("text", { x: x, y: y, "text-anchor": anchor, "font-size": 11, fill: INK.axis }, text));
    };
    label(box.x - 4, box.y + 4, num(hi), "end");
    label(box.x - 4, box.y + box.h, num(lo), "end");
    label(box.x - 4, box.y + box.h / 2 + 4, unit, "end");
    label(box.x, box.y + box.h + 13, "cycle " + xs[0], "start");
    if (xs.length > 1) label(box.x + box.w, box.y + box.h + 13, "cycle " + xs[xs.length - 1], "end");
    lines.forEach(function (l) {
      const pts = l.points.filter(function (p) { return p[1] !== null; });
      if (!pts.length) return;
      const points = pts.map(function (p) { return sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1); }).join(" ");
      root.appendChild(svg("polyline", { class: "series", points: points, fill: "none", stroke: l.color, "stroke-width": 2, "stroke-dasharray": l.dash || "none" }));
      if (l.marker) pts.forEach(function (p) { root.appendChild(marker(l, sx(p[0]), sy(p[1]))); });
    });
  }

  function marker(line, x, y) {
    return line.marker === "square"
      ? svg("rect", { x: x - 3, y: y - 3, width: 6, height: 6, fill: "#fff", stroke: line.color, "stroke-width": 1.5 })
      : svg("circle", { cx: x, cy: y, r: 3, fill: line.color });
  }

  function legend(root, x, y, items) {
    items.forEach(function (item) {
      root.appendChild(svg("path", { d: "M" + x + " " + (y - 4) + "h22", stroke: item.color, "stroke-width": 2, "stroke-dasharray": item.dash || "none" }));
      if (item.marker) root.appendChild(marker(item, x + 11, y - 4));
      const t = svg("text", { x: x + 27, y: y, "font-size": 11, fill: INK.axis }, item.label);
      root.appendChild(t);
      x += 35 + item.label.length * 6.2;
    });
  }

  function checkLine(check) {
    const verdict = check.fired ? "fired" : "not fired";
    if (check.test === "every-cycle") return "grew in every cycle read (CPython's -R rule): " + verdict;
    const spread = present(check.spread) ? " ± " + num(check.spread) : "";
    const threshold = present(check.threshold) ? ", threshold " + num(check.threshold) : "";
    return "slope " + num(check.slope) + spread + " per cycle" + threshold + ": " + verdict;
  }

  function leakChart(check, target, baseline, warmup) {
    const s = SERIES[check.series] || { field: check.series, name: check.series, unit: "" };
    const read = target.slice(warmup);
    const base = baseline.slice(warmup);
    const xs = read.map(function (c) { return c.n; });
    const values = check.values || [];
    // every-cycle values are growths between cycles: one fewer than cycles.
    const vx = xs.slice(Math.max(0, xs.length - values.length));
    while (vx.length < values.length) vx.push(vx.length ? vx[vx.length - 1] + 1 : vx.length + 1);
    const at = function (c) { return c && present(c[s.field]) ? c[s.field] : null; };
    const root = svg("svg", {
      class: "leak-chart", role: "img", viewBox: "0 0 440 270", width: 440, height: 270,
      "aria-label": s.name + " per cycle after " + warmup + " warm-up cycles, target against baseline; " + checkLine(check),
    });
    root.appendChild(svg("rect", { x: 0, y: 0, width: 440, height: 270, fill: "#fff" }));
    const absLines = [
      { label: "target", color: INK.target, marker: "circle", points: read.map(function (c) { return [c.n, at(c)]; }) },
      { label: "baseline", color: INK.baseline, dash: "6 4", marker: "square", points: base.map(function (c, i) { return [xs[i] !== undefined ? xs[i] : c.n, at(c)]; }) },
    ];
    legend(root, 72, 14, absLines);
    plot(root, { x: 72, y: 24, w: 350, h: 80 }, absLines, xs.length ? xs : [1], s.unit);
    const fit = leastSquares(values);
    const diffLines = [{ label: check.test === "every-cycle" ? "growth" : "difference", color: INK.diff, marker: "circle", points: values.map(function (v, i) { return [vx[i], v]; }) }];
    if (fit) diffLines.push({ label: "fitted slope", color: INK.fit, dash: "2 3", points: vx.map(function (x, i) { return [x, fit.intercept + fit.slope * i]; }) });
    legend(root, 72, 146, diffLines);
    plot(root, { x: 72, y: 156, w: 350, h: 80 }, diffLines, vx.length ? vx : [1], s.unit);
    root.appendChild(svg("text", { x: 72, y: 264, "font-size": 11, fill: INK.axis }, checkLine(check)));
    return { svg: root, read: read, base: base, vx: vx, at: at };
  }

  function leakCheck(check, d) {
    const leak = d.leak;
    const chart = leakChart(check, d.cycles || [], leak.baseline || [], leak.warmup || 0);
    const s = SERIES[check.series] || { name: check.series };
    const rows = chart.read.map(function (c, i) {
      const vi = chart.vx.indexOf(c.n);
      return [String(c.n), num(chart.at(c)), num(chart.at(chart.base[i])), vi >= 0 ? num(check.values[vi]) : ""];
    });
    return el("div", { class: "leak-check" + (check.fired ? " fired" : "") }, [
      el("h4", null, s.name + " (" + check.test + " test)"),
      el("p", null, checkLine(check)),
      chart.svg,
      table(["cycle", "target", "baseline", check.test === "every-cycle" ? "growth" : "difference"], rows),
    ]);
  }

  function leakSection(d) {
    const leak = d.leak;
    if (!leak) return null;
    const checks = leak.checks || [];
    return section("leak", "Leak check", [
      facts([
        ["Warm-up cycles dropped", String(leak.warmup || 0)],
        ["Allocator", leak.allocator],
        ["Not checked", leak.not_checked],
      ]),
    ].concat(checks.map(function (c) { return leakCheck(c, d); })));
  }

  // --------------------------------------------------------- the panel --

  let opener = null;

  function panelParts() {
    let title = doc.getElementById("details-title");
    if (!title) {
      title = el("h2", { id: "details-title" });
      panel.insertBefore(title, panel.firstChild);
    }
    if (!title.hasAttribute("tabindex")) title.setAttribute("tabindex", "-1");
    let close = panel.querySelector(".details-close, [data-close]");
    if (!close) {
      close = el("button", { type: "button", class: "details-close", "aria-label": "Close the details" }, "×");
      title.after(close);
    }
    let body = panel.querySelector(".details-body");
    if (!body) {
      body = el("div", { class: "details-body" });
      panel.appendChild(body);
    }
    return { title: title, close: close, body: body };
  }

  function openDetails(td) {
    if (!panel) return;
    const found = cellRef(td.dataset.cell);
    const parts = panelParts();
    const rowHead = td.parentElement.querySelector("th");
    const rowName = rowHead ? rowHead.textContent.trim() : "";
    if (!found) {
      parts.title.textContent = rowName + " · " + td.textContent.trim();
      parts.body.replaceChildren(el("p", null, "No details for this cell in the page's data."));
    } else {
      const c = found.cell;
      parts.title.textContent = [rowName || c.target, c.python, c.scenario, td.textContent.trim()].join(" · ");
      parts.body.replaceChildren.apply(parts.body, detailSections(found.report, c));
    }
    opener = td;
    setRovingStop(td);
    panel.hidden = false;
    panel.scrollTop = 0;
    // The open panel narrows the page, which can move the cell away.
    td.scrollIntoView({ block: "nearest", inline: "nearest" });
    parts.title.focus({ preventScroll: true });
    focusableScrollers(parts.body);
  }

  // A block that scrolls (a long traceback) must take focus, or a keyboard
  // cannot scroll it; only those that do, so Tab does not stop at every one.
  function focusableScrollers(root) {
    root.querySelectorAll("pre").forEach(function (block) {
      if (block.scrollHeight > block.clientHeight + 1 || block.scrollWidth > block.clientWidth + 1) {
        block.setAttribute("tabindex", "0");
      }
    });
  }

  function closeDetails() {
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    if (opener && opener.isConnected) opener.focus();
  }

  // ------------------------------------------------------------ keyboard --

  let rovingStop = null;

  function setRovingStop(td) {
    if (rovingStop === td) return;
    const current = rovingStop || (grid && grid.querySelector("td.cell[tabindex='0']"));
    if (current && current !== td) current.setAttribute("tabindex", "-1");
    td.setAttribute("tabindex", "0");
    rovingStop = td;
  }

  // The grid's one tab stop must stay on a cell that can be seen, or Tab
  // would land on nothing.
  function keepRovingStop(ix) {
    const current = rovingStop || grid.querySelector("td.cell[tabindex='0']");
    if (current && isShownCell(current)) return;
    const first = ix.cells.find(function (c) { return isShownCell(c.td); });
    if (first) setRovingStop(first.td);
  }

  function shownRows() {
    return gridIndex().rows.filter(function (r) { return !r.tr.hidden; });
  }

  function alongRow(row, from, step) {
    for (let j = from; j >= 0 && j < row.tds.length; j += step) {
      if (isShownCell(row.tds[j])) return row.tds[j];
    }
    return null;
  }

  // Down the column from row position `start`, the first row whose cell
  // in that column is shown.
  function alongColumn(rows, start, col, step) {
    for (let i = start; i >= 0 && i < rows.length; i += step) {
      if (isShownCell(rows[i].tds[col])) return rows[i].tds[col];
    }
    return null;
  }

  function targetCell(td, key, ctrl) {
    const rows = shownRows();
    const tr = td.parentElement;
    const at = rows.findIndex(function (r) { return r.tr === tr; });
    if (at < 0) return null;
    const row = rows[at];
    const col = row.tds.indexOf(td);
    switch (key) {
      case "ArrowLeft": return alongRow(row, col - 1, -1);
      case "ArrowRight": return alongRow(row, col + 1, 1);
      case "ArrowUp": return alongColumn(rows, at - 1, col, -1);
      case "ArrowDown": return alongColumn(rows, at + 1, col, 1);
      case "Home": return ctrl ? alongColumn(rows, 0, col, 1) || alongRow(rows[0], 0, 1) : alongRow(row, 0, 1);
      case "End": return ctrl ? alongColumn(rows, rows.length - 1, col, -1) : alongRow(row, row.tds.length - 1, -1);
      case "PageUp": return alongColumn(rows, Math.max(0, at - 10), col, 1);
      case "PageDown": return alongColumn(rows, Math.min(rows.length - 1, at + 10), col, -1);
      default: return null;
    }
  }

  function onGridKey(event) {
    const td = event.target.closest && event.target.closest("td.cell");
    if (!td || !grid.contains(td)) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openDetails(td);
      return;
    }
    const next = targetCell(td, event.key, event.ctrlKey || event.metaKey);
    if (next === null && !/^(Arrow|Home|End|Page)/.test(event.key)) return;
    event.preventDefault();
    if (next && next !== td) {
      setRovingStop(next);
      next.focus();
    }
  }

  // -------------------------------------------------------------- wiring --

  function wire() {
    if (grid) {
      grid.addEventListener("click", function (event) {
        const td = event.target.closest("td.cell");
        if (td && grid.contains(td)) openDetails(td);
      });
      grid.addEventListener("keydown", onGridKey);
      grid.addEventListener("focusin", function (event) {
        if (event.target.matches && event.target.matches("td.cell")) setRovingStop(event.target);
      });
    }
    doc.addEventListener("click", function (event) {
      const button = event.target.closest && event.target.closest("button.finding-toggle");
      if (button) toggleFinding(button);
      const close = panel && event.target.closest && event.target.closest("#details .details-close, #details [data-close]");
      if (close) closeDetails();
    });
    doc.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && panel && !panel.hidden) {
        event.preventDefault();
        closeDetails();
      }
    });
    if (form) {
      form.addEventListener("change", onControlChange);
      form.addEventListener("submit", function (event) { event.preventDefault(); });
    }
    window.addEventListener("hashchange", applyFragment);
    if (panel) {
      panel.addEventListener("toggle", function (event) { focusableScrollers(event.target); }, true);
    }
  }

  buildControls();
  wire();
  applyFragment();
})();
