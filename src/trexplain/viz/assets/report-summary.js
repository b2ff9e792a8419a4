/* trexplain report renderer, part "summary": the page header, the summary table over all texts and the sanity
   section. viz/html.py inlines the parts (report-*.js, in the order of its REPORT_PARTS), then the section-*.js
   plug-ins, then report.js; the parts share their names on window.trexplain.report. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  var REPORT = TX.report = TX.report || {};
  var chip = REPORT.chip, el = REPORT.el, fixed = REPORT.fixed, group = REPORT.group, isNum = REPORT.isNum,
    markdown = REPORT.markdown, own = REPORT.own, short = REPORT.short, signed = REPORT.signed;

  // ------------------------------------------------------------------ header
  function renderHeader() {
    var head = el("header");
    head.appendChild(el("h1", null, REPORT.data.title || "trexplain"));
    var model = REPORT.data.model || {};
    var facts = [];
    if (model.name) facts.push("model " + model.name);
    if (model.architecture) facts.push(model.architecture);
    if (model.family) facts.push("family " + model.family);
    if (isNum(model.parameters)) facts.push((model.parameters / 1e6).toFixed(1) + "M parameters");
    if (isNum(model.layers) && model.layers) facts.push(model.layers + " layers");
    var entries = REPORT.data.texts || [];
    if (entries.length) {
      var images = entries.every(function (entry) { return entry.layout === "image"; });
      facts.push(entries.length + (images ? " image" : " text") + (entries.length === 1 ? "" : "s"));
    }
    head.appendChild(el("div", "tx-meta", facts.join(" · ")));
    if (model.labels && model.labels.length) head.appendChild(el("div", "tx-meta", "labels: " + model.labels.join(", ")));
    var params = REPORT.data.params || {};
    var keys = Object.keys(params);
    if (keys.length) {
      var chips = el("div", "tx-chips");
      keys.forEach(function (k) { chips.appendChild(chip(k + ": " + short(params[k]))); });
      head.appendChild(chips);
    }
    var methods = REPORT.data.methods || {};
    var names = Object.keys(methods);
    if (names.length) {
      var list = el("div", "tx-meta");
      list.textContent = names.map(function (n) {
        var m = methods[n] || {};
        return n + (m.summary ? " — " + m.summary : "") + (m.signed === false ? " (unsigned)" : "");
      }).join("; ");
      head.appendChild(list);
    }
    if (model.card) {
      var card = el("details", "tx-model-card");
      card.appendChild(el("summary", null, "Model card"));
      card.appendChild(markdown(model.card));
      head.appendChild(card);
    }
    return head;
  }

  function renderSummary() {
    var summary = REPORT.data.summary;
    if (!summary || !summary.table || !summary.table.length) return null;
    var box = el("section");
    box.appendChild(el("h2", null, "Which explanation to trust"));
    var cols = [
      ["method", "method", null, 0],
      ["comprehensiveness", "AOPC comprehensiveness ↑", 1, 3],
      ["sufficiency", "AOPC sufficiency ↓", -1, 3],
      ["margin", "comp − suff ± SE ↑", 1, 3],
      ["delta_af", "ΔA^F ↑", 1, 3],
      ["completeness_error", "identity check error ↓", -1, 4],
      ["seconds", "seconds / explanation", null, 4],
      ["n", "n", null, 0]
    ];
    // rows rank the predicted class and the other classes apart (with target "all"): one table each
    var groups = [];
    summary.table.forEach(function (row) {
      var name = row.classes || "predicted";
      var found = groups.filter(function (g) { return g.name === name; })[0];
      if (!found) { found = { name: name, rows: [] }; groups.push(found); }
      found.rows.push(row);
    });
    groups.forEach(function (group) {
      if (groups.length > 1) {
        box.appendChild(el("h3", null, group.name === "predicted" ? "For the predicted class" : "For the other classes"));
      }
      box.appendChild(summaryTable(group.rows, cols));
    });
    box.appendChild(el("p", "tx-note", "Rows are ranked by comprehensiveness − sufficiency; ± is one standard error " +
      "over texts and classes (n). Methods within one standard error of the best are marked as tied with it. " +
      "The identity check is each method's own: completeness (IG), conservation (LRP) or efficiency (KernelSHAP)."));
    if (summary.verdict) box.appendChild(el("p", "tx-verdict", summary.verdict));
    return box;
  }

  function summaryTable(rows, cols) {
    var table = el("table", "tx-table");
    var tr = el("tr");
    cols.forEach(function (c) { tr.appendChild(el("th", null, c[1])); });
    table.appendChild(tr);
    var best = {};
    cols.forEach(function (c) {
      if (!c[2]) return;
      rows.forEach(function (row, i) {
        var v = row[c[0]];
        if (row.method !== "random" && isNum(v) && (best[c[0]] === undefined || c[2] * v > c[2] * rows[best[c[0]]][c[0]])) best[c[0]] = i;
      });
    });
    rows.forEach(function (row, i) {
      var line = el("tr", row.method === "random" ? "tx-floor" : null);
      cols.forEach(function (c) {
        var v = row[c[0]];
        var text;
        if (c[0] === "method") text = v + (row.tied_with_best && i > 0 ? " (tied with best)" : "");
        else if (c[0] === "n") text = isNum(v) ? String(v) : "–";
        else if (c[0] === "margin") text = fixed(v, c[3]) + (isNum(row.se) ? " ± " + fixed(row.se, c[3]) : "");
        else if (c[0] === "completeness_error") text = isNum(v) ? fixed(v, c[3]) + (row.identity ? " (" + row.identity + ")" : "") : "–";
        else text = fixed(v, c[3]);
        line.appendChild(el("td", best[c[0]] === i ? "tx-best" : null, text));
      });
      table.appendChild(line);
    });
    return table;
  }

  function renderSanity() {
    var checks = REPORT.data.sanity;
    if (!checks || !checks.length) return null;
    var box = el("section", "tx-sanity");
    box.appendChild(el("h2", null, "Do the explanations depend on the model?"));
    box.appendChild(el("p", null,
      "Cascading randomisation (Adebayo et al. 2018): the model's head, then its blocks from the top, then its " +
      "embeddings are re-initialised one after the other, and each method explains the same texts again. " +
      "Cells are the Spearman rank correlation with the original maps (signed scores; a step also counts as " +
      "matching when the absolute scores still correlate). A method is ok when its maps change at " +
      "the first step, partial when they still match (ρ ≥ threshold) for some randomised steps before changing, " +
      "and flagged when they still match once the head and every block are random."));
    var steps = checks[0].steps.map(function (s) { return s.step; });
    var table = el("table", "tx-table");
    var tr = el("tr");
    ["method", "check"].concat(steps).forEach(function (h) { tr.appendChild(el("th", null, h)); });
    table.appendChild(tr);
    checks.forEach(function (check) {
      var status = check.status || (check.flagged ? "flagged" : "ok");
      var line = el("tr", status === "flagged" ? "tx-flagged" : status === "partial" ? "tx-partial" : null);
      line.appendChild(el("td", null, check.method));
      var verdict = status === "flagged" ? "flagged (ρ ≥ " + fixed(check.threshold, 2) + " throughout)"
        : status === "partial" ? "partial: still matches for " + check.matching + " step(s), changes at " + check.stops_at
        : "ok" + (check.stops_at ? ": changes at " + check.stops_at : "");
      line.appendChild(el("td", null, verdict));
      check.steps.forEach(function (s) { line.appendChild(el("td", null, fixed(s.spearman, 2))); });
      table.appendChild(line);
    });
    box.appendChild(table);
    var first = checks[0];
    box.appendChild(el("p", "tx-note", first.texts + " texts, seed " + first.seed + "."));
    return box;
  }



  REPORT.renderHeader = renderHeader; REPORT.renderSummary = renderSummary; REPORT.summaryTable = summaryTable;
  REPORT.renderSanity = renderSanity;
})();
