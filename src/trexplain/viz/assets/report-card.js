/* trexplain report renderer, part "card": a text's card: words tinted by score, bars, controls, diagnostics,
   method comparison, layer flow and curves. viz/html.py inlines the parts (report-*.js, in the order of its
   REPORT_PARTS), then the section-*.js plug-ins, then report.js; the parts share their names on
   window.trexplain.report. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  var REPORT = TX.report = TX.report || {};
  var MEANINGS = REPORT.MEANINGS, NEG = REPORT.NEG, POS = REPORT.POS, UNSIGNED = REPORT.UNSIGNED, aggregate =
    REPORT.aggregate, alongAxis = REPORT.alongAxis, button = REPORT.button, colour = REPORT.colour, colourBar =
    REPORT.colourBar, cssColour = REPORT.cssColour, curveChart = REPORT.curveChart, el = REPORT.el, fixed =
    REPORT.fixed, group = REPORT.group, heatmap = REPORT.heatmap, identityError = REPORT.identityError, isNum =
    REPORT.isNum, isSignedMethod = REPORT.isSignedMethod, methodInfo = REPORT.methodInfo, own = REPORT.own, peakOf
    = REPORT.peakOf, precise = REPORT.precise, scoreColour = REPORT.scoreColour, short = REPORT.short, shown =
    REPORT.shown, signed = REPORT.signed, siteLabel = REPORT.siteLabel, tint = REPORT.tint, units = REPORT.units,
    values = REPORT.values;

  // ------------------------------------------------------------------ a card
  function Card(entry, number) {
    this.entry = entry;
    this.number = number;
    this.state = {
      exp: 0, k: 0, level: "word", sort: false, perLayer: true, compare: null,
      layer: 0, head: "mean", attView: "overview", attMapView: "matrix", attShared: false
    };
    this.node = el("article", "tx-card");
    this.node.dataset.index = String(number);
    this.open = {};
    this.state.k = Math.max(0, entry.explanations[0].targets.indexOf(entry.predicted));
    this.build();
  }

  Card.prototype.exp = function () { return this.entry.explanations[this.state.exp]; };

  Card.prototype.build = function () {
    var entry = this.entry;
    var node = this.node;
    node.textContent = "";
    var head = el("div", "tx-head");
    head.appendChild(el("span", "tx-num", "#" + (this.number + 1)));
    var probs = el("div", "tx-probs");
    entry.labels.forEach(function (label, c) {
      var p = entry.probabilities[c];
      var item = el("span", "tx-prob" + (c === entry.predicted ? " tx-predicted" : ""));
      item.appendChild(el("span", null, label));
      var bar = el("span", "tx-prob-bar");
      var fill = el("i");
      fill.style.width = (isNum(p) ? p * 100 : 0).toFixed(1) + "%";
      bar.appendChild(fill);
      item.appendChild(bar);
      item.appendChild(el("span", null, fixed(p, 2)));
      item.title = label + ": probability " + fixed(p, 4) + ", logit " + fixed(entry.logits[c], 4);
      probs.appendChild(item);
    });
    head.appendChild(el("span", null, "prediction"));
    head.appendChild(probs);
    node.appendChild(head);
    this.controls = el("div", "tx-controls");
    node.appendChild(this.controls);
    this.legend = el("div", "tx-legend");
    node.appendChild(this.legend);
    this.text = el("div", "tx-text");
    this.readout = el("div", "tx-readout", "Hover a word to see its score.");
    node.appendChild(this.text);
    node.appendChild(this.readout);
    this.bars = el("div", "tx-bars");
    node.appendChild(this.bars);
    this.sections = el("div");
    node.appendChild(this.sections);
    var self = this;
    this.text.addEventListener("mouseover", function (ev) { self.hover(ev.target); });
    this.bars.addEventListener("mouseover", function (ev) { self.hover(ev.target); });
    this.update();
  };

  Card.prototype.set = function (patch) {
    Object.keys(patch).forEach(function (k) { this.state[k] = patch[k]; }, this);
    this.update();
  };

  Card.prototype.update = function () {
    var st = this.state;
    var entry = this.entry;
    var exp = this.exp();
    if (st.k >= exp.targets.length) st.k = Math.max(0, exp.targets.indexOf(entry.predicted));
    this.renderControls();
    var list = units(entry, st.level);
    var vals = values(entry, exp, st.k, st.level);
    var peak = peakOf(vals, list);
    var label = entry.labels[exp.targets[st.k]];
    var isSigned = isSignedMethod(exp.method);
    this.current = { units: list, values: vals, peak: peak, signed: isSigned };
    this.node.classList.toggle("tx-unsigned", !isSigned);
    this.renderLegend(isSigned, label);
    this.renderText(list, vals, peak);
    this.renderBars(list, vals, peak);
    this.renderSections();
    this.readout.textContent = "Hover a " + (st.level === "word" ? "word" : "token") + " to see its score for " + label + ".";
  };

  Card.prototype.renderLegend = function (isSigned, label) {
    var legend = this.legend;
    legend.textContent = "";
    var items = isSigned ? [[POS, "supports " + label], [NEG, "opposes " + label]] :
      [[UNSIGNED, "unsigned: darker = more important (this method does not say for or against " + label + ")"]];
    items.forEach(function (p) {
      var item = el("span");
      var sw = el("span", "tx-swatch");
      sw.style.background = cssColour(p[0]);
      item.appendChild(sw);
      item.appendChild(document.createTextNode(p[1]));
      legend.appendChild(item);
    });
    legend.appendChild(el("span", null, "opacity = |score| / largest |score| of the text"));
  };

  Card.prototype.renderControls = function () {
    var self = this;
    var st = this.state;
    var entry = this.entry;
    var exp = this.exp();
    var box = this.controls;
    box.textContent = "";
    if (entry.explanations.length > 1) {
      box.appendChild(group("method", entry.explanations.map(function (e, i) {
        var b = button(e.method, i === st.exp, function () { self.set({ exp: i }); }, "tx-method");
        b.dataset.method = e.method;
        return b;
      })));
    } else {
      box.appendChild(group("method", [el("b", null, exp.method)]));
    }
    box.appendChild(group("class", exp.targets.map(function (t, k) {
      var b = button(entry.labels[t], k === st.k, function () { self.set({ k: k }); }, "tx-class");
      b.dataset.label = entry.labels[t];
      return b;
    })));
    box.appendChild(group("show", [
      button("words", st.level === "word", function () { self.set({ level: "word" }); }, "tx-level"),
      button("tokens", st.level === "token", function () { self.set({ level: "token" }); }, "tx-level")
    ]));
    box.appendChild(group("bars", [
      button("text order", !st.sort, function () { self.set({ sort: false }); }),
      button("by |score|", st.sort, function () { self.set({ sort: true }); })
    ]));
  };

  Card.prototype.renderText = function (list, vals, peak) {
    var entry = this.entry;
    var frag = document.createDocumentFragment();
    var cursor = 0;
    var starts = ((this.exp().diagnostics || {}).window_chars || []).slice(1);  // long texts: where windows 2.. start
    for (var i = 0; i < list.length; i++) {
      var u = list[i];
      var span;
      if (u.special) {
        span = el("span", "tx-u tx-special", u.label);
      } else {
        if (u.end <= u.start || u.start < cursor) continue;
        if (u.start > cursor) frag.appendChild(document.createTextNode(entry.text.slice(cursor, u.start)));
        for (; starts.length && starts[0] < u.end; starts.shift()) {
          frag.appendChild(el("span", "tx-window", "⟦")).title = "a window starts here";
        }
        span = el("span", "tx-u", entry.text.slice(u.start, u.end));
        cursor = u.end;
      }
      span.dataset.i = String(i);
      span.style.backgroundColor = scoreColour(this.current.signed, vals[i], peak);
      span.title = u.label + ": " + signed(vals[i]);
      frag.appendChild(span);
    }
    if (cursor < entry.text.length) {
      var rest = entry.text.slice(cursor);
      var cut = (this.exp().diagnostics || {}).truncated_tokens;
      if (cut && rest.trim()) {
        var tail = el("span", "tx-cut", rest);
        tail.title = "truncated: the model did not see these " + cut + " tokens";
        frag.appendChild(tail);
      } else {
        frag.appendChild(document.createTextNode(rest));
      }
    }
    this.text.textContent = "";
    this.text.appendChild(frag);
  };

  Card.prototype.renderBars = function (list, vals, peak) {
    var order = list.map(function (_, i) { return i; });
    if (this.state.sort) order.sort(function (a, b) { return Math.abs(vals[b] || 0) - Math.abs(vals[a] || 0); });
    var frag = document.createDocumentFragment();
    order.forEach(function (i) {
      var v = vals[i];
      var row = el("div", "tx-bar-row");
      row.dataset.i = String(i);
      var label = el("span", "tx-bar-label", list[i].label);
      label.title = list[i].label;
      row.appendChild(label);
      var track = el("div", "tx-bar-track");
      var neg = el("div");
      var pos = el("div");
      var fill = el("i");
      fill.style.width = (Math.min(1, Math.abs(v || 0) / peak) * 100).toFixed(1) + "%";
      (v >= 0 ? pos : neg).appendChild(fill);
      track.appendChild(neg);
      track.appendChild(pos);
      row.appendChild(track);
      row.appendChild(el("span", "tx-bar-value", signed(v)));
      frag.appendChild(row);
    });
    this.bars.textContent = "";
    this.bars.appendChild(frag);
  };

  Card.prototype.hover = function (target) {
    var node = target && target.closest ? target.closest("[data-i]") : null;
    if (!node || !this.current) return;
    var i = Number(node.dataset.i);
    var u = this.current.units[i];
    if (!u) return;
    var exp = this.exp();
    this.readout.textContent = "";
    this.readout.appendChild(el("b", null, u.label));
    this.readout.appendChild(document.createTextNode(
      " → " + signed(this.current.values[i]) + " for " + this.entry.labels[exp.targets[this.state.k]] +
      " (" + exp.method + ", " + this.state.level + " " + (i + 1) + ")"));
    var hot = this.node.querySelectorAll(".tx-hot");
    for (var h = 0; h < hot.length; h++) hot[h].classList.remove("tx-hot");
    var twins = this.node.querySelectorAll('[data-i="' + i + '"]');
    for (var j = 0; j < twins.length; j++) twins[j].classList.add("tx-hot");
  };

  // --------------------------------------------------- lazily drawn sections
  Card.prototype.renderSections = function () {
    var self = this;
    var exp = this.exp();
    var entry = this.entry;
    var box = this.sections;
    box.textContent = "";
    var parts = [];
    if (exp.layer_scores) parts.push(["flow", "Relevance by layer", this.drawFlow]);
    if (entry.explanations.length > 1) parts.push(["compare", "Methods side by side", this.drawCompare]);
    if (entry.attention) parts.push(["attention", "Attention by block and head", this.drawAttention]);
    var evals = this.evaluations();
    if (evals.length) parts.push(["curves", "Perturbation curves and metrics", this.drawCurves]);
    parts.push(["diag", this.diagnosticsTitle(), this.drawDiagnostics]);
    parts.forEach(function (p) {
      // Attention does not depend on the method or class: its section (and what it drew) is kept.
      if (p[0] === "attention" && self.attentionSection) { box.appendChild(self.attentionSection); return; }
      var details = el("details", "tx-section tx-" + p[0]);
      details.appendChild(el("summary", null, p[1]));
      var body = el("div");
      details.appendChild(body);
      var draw = function () { body.textContent = ""; p[2].call(self, body); };
      if (self.open[p[0]]) { details.open = true; draw(); }
      details.addEventListener("toggle", function () {
        self.open[p[0]] = details.open;
        if (details.open && !body.firstChild) draw();
      });
      if (p[0] === "attention") self.attentionSection = details;
      box.appendChild(details);
    });
  };

  Card.prototype.evaluations = function (method) {
    var exp = this.exp();
    var wanted = method || exp.method;
    var label = this.entry.labels[exp.targets[this.state.k]];
    var index = exp.targets[this.state.k];
    return (this.entry.evaluation || []).filter(function (e) {
      return e && e.method === wanted && (e.target === label || e.target === index);
    });
  };

  Card.prototype.diagnosticsTitle = function () {
    var identity = (this.exp().diagnostics || {}).identity;
    if (!identity || !identity.kind) return "Parameters and diagnostics";
    var error = identityError(identity, this.state.k).error;
    return "Parameters and diagnostics · " + identity.kind + " check: error " + precise(error);
  };

  Card.prototype.drawDiagnostics = function (body) {
    var exp = this.exp();
    var k = this.state.k;
    var params = exp.params || {};
    var diag = exp.diagnostics || {};
    var axes = exp.diagnostic_axes || {};
    var table = el("table", "tx-table tx-diag-table");
    function row(name, value, meaning, cls) {
      var tr = el("tr", cls);
      [name, value, meaning].forEach(function (text) { tr.appendChild(el("td", null, text)); });
      table.appendChild(tr);
    }
    function heading(texts) {
      var tr = el("tr");
      texts.forEach(function (text) { tr.appendChild(el("th", null, text)); });
      table.appendChild(tr);
    }
    var summary = methodInfo(exp.method).summary;
    body.appendChild(el("p", "tx-note", exp.method + (summary ? ": " + summary : "")));
    if (Object.keys(params).length) {
      heading(["parameter", "value", ""]);
      Object.keys(params).forEach(function (key) { row(key, short(params[key]), ""); });
    }
    heading(["diagnostic", "value for " + this.entry.labels[exp.targets[k]], "what it means"]);
    var identity = diag.identity;
    if (identity && identity.kind) {
      var check = identityError(identity, k);
      var value = (isNum(check.total) ? "total " + precise(check.total) + " vs " + precise(check.expected) + ", " : "") +
        "error " + precise(check.error);
      var meaning = own(REPORT.data.identities, identity.kind) ? REPORT.data.identities[identity.kind] : "";
      row("identity check: " + identity.kind, value, meaning, "tx-identity");
    }
    Object.keys(diag).forEach(function (key) {
      var v = diag[key];
      if (key === "identity" || (own(params, key) && JSON.stringify(params[key]) === JSON.stringify(v))) return;
      var axis = (own(axes, key) ? axes[key] : []).indexOf("target");  // declared axes, never guessed from lengths
      if (axis >= 0) v = alongAxis(v, axis, k);
      var mine = methodInfo(exp.method).meanings || {};
      row(key, shown(v), own(mine, key) ? mine[key] : own(MEANINGS, key) ? MEANINGS[key] : "");
    });
    body.appendChild(table);
  };

  Card.prototype.drawCompare = function (body) {
    var self = this;
    var st = this.state;
    var entry = this.entry;
    var target = this.exp().targets[st.k];
    var label = entry.labels[target];
    var list = units(entry, st.level);
    var columns = entry.explanations.map(function (e) {
      var k = e.targets.indexOf(target);
      var vals = k >= 0 ? values(entry, e, k, st.level) : null;
      return { method: e.method, values: vals, peak: vals ? peakOf(vals, list) : 1, signed: isSignedMethod(e.method) };
    });
    var sort = st.compare;  // null: text order; else { col, dir: 1 largest first, -1 smallest first }
    var order = list.map(function (_, i) { return i; });
    if (sort) {
      var col = columns[sort.col].values || [];
      order.sort(function (a, b) {
        if (!isNum(col[a]) || !isNum(col[b])) return (isNum(col[a]) ? -1 : 0) + (isNum(col[b]) ? 1 : 0) || a - b;
        return sort.dir * (col[b] - col[a]) || a - b;
      });
    }
    body.appendChild(el("p", "tx-note", "Every method's " + st.level + " scores for " + label + "; each column is " +
      "coloured by its own largest |score| (green supports, red opposes; unsigned methods in purple, darker = " +
      "more important). Click a method to sort by it, again to reverse; click the first column for text order."));
    var table = el("table", "tx-table tx-compare-table");
    var head = el("tr");
    var resort = function (c) {
      return function () {
        st.compare = c < 0 ? null : { col: c, dir: sort && sort.col === c ? -sort.dir : 1 };
        body.textContent = "";
        self.drawCompare(body);
      };
    };
    var first = el("th");
    first.appendChild(button(st.level, !sort, resort(-1), "tx-sort"));
    head.appendChild(first);
    columns.forEach(function (c, j) {
      var th = el("th");
      var on = !!sort && sort.col === j;
      th.setAttribute("aria-sort", on ? (sort.dir > 0 ? "descending" : "ascending") : "none");
      var b = button(c.method + (on ? (sort.dir > 0 ? " ↓" : " ↑") : ""), on, resort(j), "tx-sort");
      b.dataset.method = c.method;
      th.appendChild(b);
      th.title = c.values ? (c.signed ? "signed" : "unsigned") + ", coloured up to |score| " + fixed(c.peak, 4) :
        c.method + " did not explain " + label;
      head.appendChild(th);
    });
    table.appendChild(head);
    order.forEach(function (i) {
      var tr = el("tr");
      tr.appendChild(el("td", list[i].special ? "tx-special-cell" : null, list[i].label));
      columns.forEach(function (c) {
        var v = c.values ? c.values[i] : null;
        var td = el("td", null, c.values ? signed(v) : "–");
        if (isNum(v)) td.style.backgroundColor = scoreColour(c.signed, v, c.peak);
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    var wrap = el("div", "tx-compare-wrap");
    wrap.appendChild(table);
    body.appendChild(wrap);
  };

  var SITE_NOTES = {
    "block input": "Row N: relevance at the input of block N, as the method computes it there (block 0's input " +
      "is the embedding output; the model's output comes after the last block).",
    "after block": "Row N: the method's map after block N (the rollout through blocks 0 … N).",
    "block attention": "Row N: the classification token's attention inside block N, averaged over heads."
  };

  Card.prototype.drawFlow = function (body) {
    var self = this;
    var st = this.state;
    var entry = this.entry;
    var exp = this.exp();
    var site = methodInfo(exp.method).layer_site;
    var isSigned = isSignedMethod(exp.method);
    var label = entry.labels[exp.targets[st.k]];
    var list = units(entry, st.level);
    var rows = exp.layer_scores.map(function (layer) {
      return st.level === "word" ? aggregate(entry, layer[st.k]) : layer[st.k];
    });
    var rescale = function (perLayer) {
      return function () { st.perLayer = perLayer; body.textContent = ""; self.drawFlow(body); };
    };
    body.appendChild(group("scale", [
      button("each block", st.perLayer, rescale(true)),
      button("all blocks", !st.perLayer, rescale(false))
    ]));
    var peaks = rows.map(function (r) { return peakOf(r, list); });
    var global = Math.max.apply(null, peaks);
    body.appendChild(el("p", "tx-note", (own(SITE_NOTES, site) ? SITE_NOTES[site] : "Row N: the method's scores " +
      "at block N (the method does not say whether that is the block's input or its output).") + " Columns: " +
      st.level + "s. " + (isSigned ? "Green supports " + label + ", red opposes it." : "Unsigned: darker = more important.")));
    var ramp = isSigned ? [NEG, [255, 255, 255], POS] : [[255, 255, 255], UNSIGNED];
    var high = st.perLayer ? "row max" : fixed(global, 4);
    body.appendChild(colourBar(ramp, isSigned ? "−" + high : "0", (isSigned ? "+" : "") + high, isSigned ? "0" : null,
      st.perLayer ? "each row on its own scale: its largest |score| is right of it" : "one scale for every row"));
    body.appendChild(heatmap({
      rows: rows.length,
      cols: list.length,
      cellWidth: Math.max(4, Math.min(44, Math.floor(900 / Math.max(list.length, 1)))),
      cellHeight: 22,
      value: function (r, c) { return rows[r][c]; },
      colour: function (v, r) {
        return tint(isSigned ? (v >= 0 ? POS : NEG) : UNSIGNED, v, st.perLayer ? peaks[r] : global);
      },
      rowLabel: function (r) { return siteLabel(site, r); },
      colLabel: function (c) { return list[c].label; },
      rightLabel: st.perLayer ? function (r) { return (isSigned ? "±" : "max ") + fixed(peaks[r], 3); } : null,
      describe: function (r, c, v) { return siteLabel(site, r) + ", " + list[c].label + ": " + signed(v); }
    }));
  };


  Card.prototype.drawCurves = function (body) {
    var evals = this.evaluations();
    // The identity's own name: cp-lrp's is a conservation gap, IG's a completeness error, KernelSHAP's an efficiency error.
    var kind = (this.exp().diagnostics || {}).identity && this.exp().diagnostics.identity.kind;
    var names = REPORT.data.identity_names || {};
    var gapName = kind && own(names, kind) ? names[kind] : "identity error";
    var floors = this.exp().method === "random" ? [] : this.evaluations("random");
    var wrap = el("div", "tx-curves");
    evals.forEach(function (e) {
      var box = el("div", "tx-curve");
      var caption = [e.strategy, e.level].filter(Boolean).join(", ");
      box.appendChild(el("div", null, caption ? "removal: " + caption : "removal curves"));
      var floor = floors.filter(function (f) { return f.strategy === e.strategy && f.level === e.level; })[0];
      box.appendChild(curveChart(e.curves || {}, floor && floor.curves));
      var table = el("table", "tx-table");
      [["AOPC comprehensiveness ↑", e.aopc_comprehensiveness], ["AOPC sufficiency ↓", e.aopc_sufficiency],
        ["ΔA^F ↑", e.delta_af], [gapName, e.completeness_error]].forEach(function (row) {
        if (row[1] === undefined) return;
        var tr = el("tr");
        tr.appendChild(el("td", null, row[0]));
        tr.appendChild(el("td", null, fixed(row[1], 4)));
        table.appendChild(tr);
      });
      box.appendChild(table);
      wrap.appendChild(box);
    });
    body.appendChild(wrap);
  };



  REPORT.Card = Card; REPORT.SITE_NOTES = SITE_NOTES;
})();
