/* Panel "Data table": load a file of texts (.txt one per line, .csv/.tsv with a `text` column, .jsonl with a
   "text" field; a `label` column or field is shown beside the prediction), predict, explain (with the method
   chosen above, or the one picked here) and evaluate them as a job; or, when serve runs with --run DIR, page through
   that run folder's texts (sorted and filtered by the server). Sort and filter by predicted class, confidence and
   faithfulness; click a row to open it. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  var memo = { rows: null, labels: null, sort: "index", desc: false, label: "", min: 0, method: "", picked: false, name: "", source: "" };
  var PAGE = 50;
  var run = { offset: 0, sort: "row", desc: false, label: "", min: 0, method: "", page: null };
  var RUN_COLS = [["row", "#"], ["text", "text"], ["predicted", "predicted"], ["confidence", "confidence"],
    ["comprehensiveness", "comprehensiveness ↑"], ["sufficiency", "sufficiency ↓"]];
  var UNSORTED = { text: true };

  function splitLine(line, sep) {
    var out = [], cell = "", quoted = false;
    for (var i = 0; i < line.length; i++) {
      var c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
      } else if (c === '"') quoted = true; else if (c === sep) { out.push(cell); cell = ""; } else cell += c;
    }
    out.push(cell);
    return out;
  }

  function parse(name, content) {
    // {texts, labels}: labels (strings) when the file has a `label` column or field, else null.
    var lines = content.replace(/^\ufeff/, "").split(/\r?\n/).filter(function (l) { return l.trim(); });
    if (/\.jsonl$/i.test(name)) {
      var records = lines.map(function (l) { return JSON.parse(l); });
      var labelled = records.some(function (r) { return r.label !== undefined && r.label !== null; });
      return { texts: records.map(function (r) { return String(r.text); }),
        labels: labelled ? records.map(function (r) { return r.label === undefined || r.label === null ? "" : String(r.label); }) : null };
    }
    if (/\.(csv|tsv)$/i.test(name)) {
      var sep = /\.tsv$/i.test(name) ? "\t" : ",";
      var head = splitLine(lines[0], sep).map(function (h) { return h.trim().toLowerCase(); });
      var col = Math.max(0, head.indexOf("text")), lab = head.indexOf("label");
      var rows = lines.slice(1).map(function (l) { return splitLine(l, sep); }).filter(function (r) { return (r[col] || "").trim(); });
      return { texts: rows.map(function (r) { return r[col]; }), labels: lab < 0 ? null : rows.map(function (r) { return (r[lab] || "").trim(); }) };
    }
    return { texts: lines, labels: null };
  }

  function labelName(label, names) {
    // A label as the model names it: a class index ("2") becomes its name.
    return /^\d+$/.test(label) && Number(label) < names.length ? names[Number(label)] : label;
  }

  TX.panels.push({ key: "table", title: "Data table", order: 50, render: render });

  function render(ctx, body) {
    var U = ctx.util, el = U.el;
    var info = ctx.info.run;
    if (!memo.source) memo.source = info ? "run" : "file";
    if (info) {
      var sources = el("div", "app-row app-table-sources");
      [["run", "run folder " + info.name + " (" + info.texts + " texts)"], ["file", "a file of texts"]].forEach(function (s) {
        var b = U.button(s[1], memo.source === s[0], function () { memo.source = s[0]; body.textContent = ""; render(ctx, body); }, "app-source");
        b.dataset.source = s[0];
        sources.appendChild(b);
      });
      body.appendChild(sources);
    }
    if (memo.source === "run") return runTable(ctx, body, info);
    var bar = el("div", "app-row");
    var file = document.createElement("input");
    file.type = "file";
    file.accept = ".txt,.csv,.tsv,.jsonl";
    file.className = "app-file";
    file.setAttribute("aria-label", "file of texts");
    bar.appendChild(file);
    var method = document.createElement("select");
    method.className = "app-table-method";
    if (!memo.picked || !ctx.info.methods[memo.method]) memo.method = ctx.methods()[0];
    Object.keys(ctx.info.methods).forEach(function (n) {
      var o = document.createElement("option");
      o.value = n;
      o.textContent = n;
      o.selected = n === memo.method;
      method.appendChild(o);
    });
    method.addEventListener("change", function () { memo.method = method.value; memo.picked = true; });
    bar.appendChild(el("span", "app-label", "method"));
    bar.appendChild(method);
    body.appendChild(bar);
    var status = el("div", "app-progress");
    body.appendChild(status);
    var view = el("div", "app-view");
    body.appendChild(ctx.exportBar("table", view, function () { return memo.rows; }));
    body.appendChild(view);

    file.addEventListener("change", function () {
      var f = file.files[0];
      if (!f) return;
      f.text().then(function (content) {
        var parsed, texts;
        try { parsed = parse(f.name, content); } catch (e) { status.textContent = "could not read " + f.name + ": " + e.message; return; }
        texts = parsed.texts;
        memo.name = f.name;
        status.textContent = texts.length + " texts from " + f.name + "…";
        var task = ctx.job("/api/table", { texts: texts, model: ctx.model().name, method: memo.method },
          function (s) { status.textContent = ctx.progressLine(s); });
        status.appendChild(U.button("cancel", false, task.cancel, "app-cancel"));
        task.promise.then(function (r) {
          var names = ctx.model().labels;
          memo.rows = r.rows.map(function (row) {
            return parsed.labels ? Object.assign({ label: labelName(parsed.labels[row.index], names) }, row) : row;
          });
          memo.labels = !!parsed.labels;
          status.textContent = r.rows.length + " texts from " + memo.name + " · " + r.method + " · " + r.model;
          table();
        }, function (e) { status.textContent = ""; ctx.error(status, e); });
      });
    });

    function table() {
      view.textContent = "";
      if (!memo.rows) return;
      var labels = ctx.model().labels;
      var filters = el("div", "app-row");
      var pick = document.createElement("select");
      pick.className = "app-filter-class";
      [""].concat(labels).forEach(function (l) {
        var o = document.createElement("option");
        o.value = l;
        o.textContent = l || "every class";
        o.selected = l === memo.label;
        pick.appendChild(o);
      });
      pick.addEventListener("change", function () { memo.label = pick.value; table(); });
      var min = el("input", "app-filter-min");
      min.type = "number";
      min.step = "0.05";
      min.min = "0";
      min.max = "1";
      min.value = String(memo.min);
      min.addEventListener("change", function () { memo.min = Number(min.value) || 0; table(); });
      filters.appendChild(el("span", "app-label", "predicted"));
      filters.appendChild(pick);
      filters.appendChild(el("span", "app-label", "confidence ≥"));
      filters.appendChild(min);
      view.appendChild(filters);
      var cols = [["index", "#"], ["text", "text"], ["predicted", "predicted"]].concat(memo.labels ? [["label", "label"]] : [],
        [["confidence", "confidence"], ["comprehensiveness", "comprehensiveness ↑"], ["sufficiency", "sufficiency ↓"]]);
      var rows = memo.rows.filter(function (r) {
        return (!memo.label || r.predicted === memo.label) && r.confidence >= memo.min;
      });
      rows.sort(function (a, b) {
        var x = a[memo.sort], y = b[memo.sort];
        var order = x === y ? a.index - b.index : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
        return memo.desc ? -order : order;
      });
      var t = el("table", "app-table");
      var tr = el("tr");
      cols.forEach(function (c) {
        var th = el("th", "app-sort" + (memo.sort === c[0] ? " app-sorted" : ""), c[1] + (memo.sort === c[0] ? (memo.desc ? " ▼" : " ▲") : ""));
        th.dataset.key = c[0];
        th.addEventListener("click", function () {
          memo.desc = memo.sort === c[0] ? !memo.desc : ["index", "text", "predicted", "label"].indexOf(c[0]) < 0;
          memo.sort = c[0];
          table();
        });
        tr.appendChild(th);
      });
      t.appendChild(tr);
      rows.forEach(function (r) {
        var line = el("tr", "app-table-row");
        line.dataset.index = String(r.index);
        cols.forEach(function (c) {
          var v = r[c[0]];
          line.appendChild(el("td", c[0] === "text" ? "app-cell-text" : null,
            typeof v === "number" && c[0] !== "index" ? v.toFixed(3) : v === null ? "–" : String(c[0] === "index" ? v + 1 : v)));
        });
        line.addEventListener("click", function () { ctx.set({ text: r.text, panel: "explain" }); });
        t.appendChild(line);
      });
      view.appendChild(el("p", "tx-note", rows.length + " of " + memo.rows.length + " texts; click a column to sort, a row to open it"));
      view.appendChild(t);
    }
    table();
  }

  function runTable(ctx, body, info) {
    // A run folder's texts, one page at a time; the server sorts and filters (GET /api/run/rows).
    var U = ctx.util, el = U.el;
    if (!run.method) run.method = info.methods[0] || "";
    var status = el("div", "app-progress");
    var view = el("div", "app-view");
    var filters = el("div", "app-row");
    var labels = [];
    ((ctx.info.models.filter(function (m) { return m.name === info.model; })[0] || ctx.model()).labels || []).forEach(function (l) { labels.push(l); });
    var pick = document.createElement("select");
    pick.className = "app-filter-class";
    pick.setAttribute("aria-label", "predicted class");
    [""].concat(labels).forEach(function (l) {
      var o = document.createElement("option");
      o.value = l;
      o.textContent = l || "every class";
      o.selected = l === run.label;
      pick.appendChild(o);
    });
    pick.addEventListener("change", function () { run.label = pick.value; run.offset = 0; load(); });
    var min = el("input", "app-filter-min");
    min.type = "number";
    min.step = "0.05";
    min.min = "0";
    min.max = "1";
    min.value = String(run.min);
    min.setAttribute("aria-label", "least confidence");
    min.addEventListener("change", function () { run.min = Math.min(1, Math.max(0, Number(min.value) || 0)); run.offset = 0; load(); });
    var method = document.createElement("select");
    method.className = "app-table-method";
    method.setAttribute("aria-label", "method");
    info.methods.forEach(function (n) {
      var o = document.createElement("option");
      o.value = n;
      o.textContent = n;
      o.selected = n === run.method;
      method.appendChild(o);
    });
    method.addEventListener("change", function () { run.method = method.value; load(); });
    [["predicted", pick], ["confidence ≥", min], ["faithfulness of", method]].forEach(function (f) {
      filters.appendChild(el("span", "app-label", f[0]));
      filters.appendChild(f[1]);
    });
    if (!info.evaluate) filters.appendChild(el("span", "tx-note", "(run without --evaluate: no faithfulness)"));
    body.appendChild(filters);
    body.appendChild(status);
    body.appendChild(ctx.exportBar("run-table", view, function () { return run.page; }));
    body.appendChild(view);
    var views = el("details", "app-run-summary");
    views.appendChild(el("summary", null, "dataset views of the run: words per class, faithfulness, lists worth a look"));
    var drawn = el("div", "app-view");
    views.appendChild(drawn);
    views.addEventListener("toggle", function () {
      if (!views.open || drawn.childNodes.length) return;
      drawn.textContent = "loading…";
      ctx.api("/api/run").then(function (r) {
        ctx.render({ title: "run " + r.info.name, model: { name: r.info.model }, texts: [], dataset: r.summary }, drawn);
      }, function (e) { drawn.textContent = ""; ctx.error(drawn, e); });
    });
    body.appendChild(views);

    function load() {
      var q = new URLSearchParams({ offset: String(run.offset), limit: String(Math.min(PAGE, ctx.info.limits.max_rows)),
        sort: run.sort, desc: String(run.desc), min_confidence: String(run.min), method: run.method });
      if (run.label) q.set("predicted", run.label);
      status.textContent = "loading…";
      ctx.api("/api/run/rows?" + q.toString()).then(function (page) {
        run.page = page;
        status.textContent = "";
        draw();
      }, function (e) { status.textContent = ""; ctx.error(status, e); });
    }

    function draw() {
      view.textContent = "";
      var page = run.page;
      var t = el("table", "app-table");
      var tr = el("tr");
      RUN_COLS.forEach(function (c) {
        var sorted = run.sort === c[0];
        var th = el("th", UNSORTED[c[0]] ? null : "app-sort" + (sorted ? " app-sorted" : ""), c[1] + (sorted ? (run.desc ? " ▼" : " ▲") : ""));
        th.dataset.key = c[0];
        if (!UNSORTED[c[0]]) th.addEventListener("click", function () {
          run.desc = sorted ? !run.desc : c[0] !== "row" && c[0] !== "predicted";
          run.sort = c[0];
          run.offset = 0;
          load();
        });
        tr.appendChild(th);
      });
      t.appendChild(tr);
      page.rows.forEach(function (r) {
        var line = el("tr", "app-table-row");
        line.dataset.row = String(r.row);
        RUN_COLS.forEach(function (c) {
          var v = r[c[0]];
          line.appendChild(el("td", c[0] === "text" ? "app-cell-text" : null,
            v === null || v === undefined ? "–" : typeof v === "number" && c[0] !== "row" ? v.toFixed(3) : String(c[0] === "row" ? v + 1 : v)));
        });
        line.addEventListener("click", function () { ctx.set({ text: r.text, panel: "explain" }); });
        t.appendChild(line);
      });
      var nav = el("div", "app-row");
      var last = page.offset + page.rows.length;
      nav.appendChild(el("span", "tx-note", (page.rows.length ? (page.offset + 1) + "–" + last : "0") + " of " + page.matched +
        " matching texts (" + page.total + " in the run); click a column to sort, a row to open it"));
      var prev = U.button("previous", false, function () { run.offset = Math.max(0, run.offset - PAGE); load(); }, "app-page-prev");
      prev.disabled = page.offset === 0;
      var next = U.button("next", false, function () { run.offset += PAGE; load(); }, "app-page-next");
      next.disabled = last >= page.matched;
      nav.appendChild(prev);
      nav.appendChild(next);
      view.appendChild(nav);
      view.appendChild(t);
    }
    if (run.page) draw();
    load();
  }
})();
