/* Panel "Data table": load a file of texts (.txt one per line, .csv/.tsv with a `text` column, .jsonl with a
   "text" field), predict, explain and evaluate them as a job; sort and filter by predicted class, confidence and
   faithfulness; click a row to open it. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  var memo = { rows: null, sort: "index", desc: false, label: "", min: 0, method: "gxi", name: "" };

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
    var lines = content.replace(/^\ufeff/, "").split(/\r?\n/).filter(function (l) { return l.trim(); });
    if (/\.jsonl$/i.test(name)) return lines.map(function (l) { return String(JSON.parse(l).text); });
    if (/\.(csv|tsv)$/i.test(name)) {
      var sep = /\.tsv$/i.test(name) ? "\t" : ",";
      var head = splitLine(lines[0], sep).map(function (h) { return h.trim().toLowerCase(); });
      var col = Math.max(0, head.indexOf("text"));
      return lines.slice(1).map(function (l) { return splitLine(l, sep)[col] || ""; }).filter(function (t) { return t.trim(); });
    }
    return lines;
  }

  TX.panels.push({
    key: "table",
    title: "Data table",
    order: 50,
    render: function (ctx, body) {
      var U = ctx.util, el = U.el;
      var bar = el("div", "app-row");
      var file = document.createElement("input");
      file.type = "file";
      file.accept = ".txt,.csv,.tsv,.jsonl";
      file.className = "app-file";
      file.setAttribute("aria-label", "file of texts");
      bar.appendChild(file);
      var method = document.createElement("select");
      method.className = "app-table-method";
      Object.keys(ctx.info.methods).forEach(function (n) {
        var o = document.createElement("option");
        o.value = n;
        o.textContent = n;
        o.selected = n === memo.method;
        method.appendChild(o);
      });
      method.addEventListener("change", function () { memo.method = method.value; });
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
          var texts;
          try { texts = parse(f.name, content); } catch (e) { status.textContent = "could not read " + f.name + ": " + e.message; return; }
          memo.name = f.name;
          status.textContent = texts.length + " texts from " + f.name + "…";
          var task = ctx.job("/api/table", { texts: texts, model: ctx.model().name, method: memo.method },
            function (s) { status.textContent = ctx.progressLine(s); });
          status.appendChild(U.button("cancel", false, task.cancel, "app-cancel"));
          task.promise.then(function (r) {
            memo.rows = r.rows;
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
        var cols = [["index", "#"], ["text", "text"], ["predicted", "predicted"], ["confidence", "confidence"],
          ["comprehensiveness", "comprehensiveness ↑"], ["sufficiency", "sufficiency ↓"]];
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
            memo.desc = memo.sort === c[0] ? !memo.desc : c[0] !== "index" && c[0] !== "text" && c[0] !== "predicted";
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
  });
})();
