/* trexplain report renderer: draws the JSON in #tx-data. No dependencies, no network.
   Every string from the data reaches the page through textContent, attributes set as properties,
   or canvas fillText; nothing is parsed as HTML. */
(function () {
  "use strict";

  var PAGE_SIZE = 10;
  var POS = [22, 163, 74];
  var NEG = [220, 38, 38];
  var ATT = [9, 105, 218];
  var CURVES = [
    ["morf", "most relevant removed first", "rgb(220,38,38)"],
    ["lerf", "least relevant removed first", "rgb(22,163,74)"],
    ["insertion", "insertion from empty", "rgb(9,105,218)"]
  ];
  var SVG_NS = "http://www.w3.org/2000/svg";

  var data = JSON.parse(document.getElementById("tx-data").textContent);
  var root = document.getElementById("tx-root");

  // ------------------------------------------------------------------ helpers
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function signed(v) { return isNum(v) ? (v >= 0 ? "+" : "") + v.toFixed(4) : "n/a"; }
  function fixed(v, d) {
    if (!isNum(v)) return "–";
    return v !== 0 && Math.abs(v) < Math.pow(10, -d) ? v.toExponential(1) : v.toFixed(d);
  }
  function colour(rgb, v, peak) {
    var a = peak > 0 ? Math.min(1, Math.abs(v) / peak) : 0;
    return "rgba(" + rgb[0] + "," + rgb[1] + "," + rgb[2] + "," + a.toFixed(3) + ")";
  }
  function signedColour(v, peak) { return colour(v >= 0 ? POS : NEG, v, peak); }
  function button(label, pressed, onClick, cls) {
    var b = el("button", cls, label);
    b.type = "button";
    b.setAttribute("aria-pressed", pressed ? "true" : "false");
    b.addEventListener("click", onClick);
    return b;
  }
  function group(label, buttons) {
    var g = el("div", "tx-group");
    g.appendChild(el("span", null, label));
    buttons.forEach(function (b) { g.appendChild(b); });
    return g;
  }
  function chip(text) {
    var c = el("span", "tx-chip", text);
    c.title = String(text);
    return c;
  }
  function short(value) {
    var s = typeof value === "string" ? value : JSON.stringify(value, function (k, v) {
      return isNum(v) && !Number.isInteger(v) ? Number(v.toPrecision(3)) : v;
    });
    return s.length > 80 ? s.slice(0, 77) + "..." : s;
  }

  // ------------------------------------------------------------ per-text data
  function units(entry, level) {
    // Word units: the words; token units: every token (special ones included, drawn as chips).
    if (level === "word") {
      return entry.words.map(function (w, i) {
        return { start: w[0], end: w[1], label: entry.text.slice(w[0], w[1]), special: false, index: i };
      });
    }
    return entry.tokens.map(function (t, i) {
      var o = entry.offsets[i];
      return { start: o[0], end: o[1], label: t, special: !!entry.special[i], index: i };
    });
  }
  function aggregate(entry, row) {
    // Word score = sum of its tokens' scores (as Explanation.word_scores(aggregate="sum")).
    var out = entry.words.map(function () { return 0; });
    for (var t = 0; t < row.length; t++) {
      var w = entry.word_ids[t];
      if (w >= 0 && w < out.length && isNum(row[t])) out[w] += row[t];
    }
    return out;
  }
  function alongAxis(v, depth, k) {
    if (!Array.isArray(v)) return v;
    return depth === 0 ? v[k] : v.map(function (x) { return alongAxis(x, depth - 1, k); });
  }

  function values(entry, exp, k, level) {
    var row = exp.scores[k];
    return level === "word" ? aggregate(entry, row) : row;
  }
  function peakOf(vals, unitsList) {
    var peak = 0;
    for (var i = 0; i < vals.length; i++) {
      if (!unitsList[i].special && isNum(vals[i])) peak = Math.max(peak, Math.abs(vals[i]));
    }
    return peak > 0 ? peak : 1;
  }

  // ------------------------------------------------------------------ header
  function renderHeader() {
    var head = el("header");
    head.appendChild(el("h1", null, data.title || "trexplain"));
    var model = data.model || {};
    var facts = [];
    if (model.name) facts.push("model " + model.name);
    if (model.architecture) facts.push(model.architecture);
    if (model.family) facts.push("family " + model.family);
    if (isNum(model.parameters)) facts.push((model.parameters / 1e6).toFixed(1) + "M parameters");
    if (isNum(model.layers) && model.layers) facts.push(model.layers + " layers");
    facts.push(data.texts.length + (data.texts.length === 1 ? " text" : " texts"));
    head.appendChild(el("div", "tx-meta", facts.join(" · ")));
    if (model.labels && model.labels.length) head.appendChild(el("div", "tx-meta", "labels: " + model.labels.join(", ")));
    var params = data.params || {};
    var keys = Object.keys(params);
    if (keys.length) {
      var chips = el("div", "tx-chips");
      keys.forEach(function (k) { chips.appendChild(chip(k + ": " + short(params[k]))); });
      head.appendChild(chips);
    }
    var methods = data.methods || {};
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
      var card = el("details");
      card.appendChild(el("summary", null, "Model card"));
      card.appendChild(el("pre", "tx-card-text", model.card));
      head.appendChild(card);
    }
    var legend = el("div", "tx-legend");
    [[POS, "supports the class"], [NEG, "opposes the class"]].forEach(function (p) {
      var item = el("span");
      var sw = el("span", "tx-swatch");
      sw.style.background = "rgb(" + p[0].join(",") + ")";
      item.appendChild(sw);
      item.appendChild(document.createTextNode(p[1]));
      legend.appendChild(item);
    });
    legend.appendChild(el("span", null, "opacity = |score| / largest |score| of the text"));
    head.appendChild(legend);
    return head;
  }

  function renderSummary() {
    var summary = data.summary;
    if (!summary || !summary.table || !summary.table.length) return null;
    var box = el("section");
    box.appendChild(el("h2", null, "Which explanation to trust"));
    var cols = [
      ["method", "method", null, 0],
      ["comprehensiveness", "AOPC comprehensiveness ↑", 1, 3],
      ["sufficiency", "AOPC sufficiency ↓", -1, 3],
      ["delta_af", "ΔA^F ↑", 1, 3],
      ["completeness_error", "completeness error ↓", -1, 4],
      ["seconds", "seconds / explanation", null, 4],
      ["n", "n", null, 0]
    ];
    var table = el("table", "tx-table");
    var tr = el("tr");
    cols.forEach(function (c) { tr.appendChild(el("th", null, c[1])); });
    table.appendChild(tr);
    var best = {};
    cols.forEach(function (c) {
      if (!c[2]) return;
      summary.table.forEach(function (row, i) {
        var v = row[c[0]];
        if (isNum(v) && (best[c[0]] === undefined || c[2] * v > c[2] * summary.table[best[c[0]]][c[0]])) best[c[0]] = i;
      });
    });
    summary.table.forEach(function (row, i) {
      var line = el("tr");
      cols.forEach(function (c) {
        var v = row[c[0]];
        var cell = el("td", best[c[0]] === i ? "tx-best" : null, c[0] === "method" ? v : c[0] === "n" ? (isNum(v) ? v : "–") : fixed(v, c[3]));
        line.appendChild(cell);
      });
      table.appendChild(line);
    });
    box.appendChild(table);
    if (summary.verdict) box.appendChild(el("p", "tx-verdict", summary.verdict));
    return box;
  }

  function renderSanity() {
    var checks = data.sanity;
    if (!checks || !checks.length) return null;
    var box = el("section", "tx-sanity");
    box.appendChild(el("h2", null, "Do the explanations depend on the model?"));
    box.appendChild(el("p", null,
      "Cascading randomisation (Adebayo et al. 2018): the model's head, then its blocks from the top, then its " +
      "embeddings are re-initialised one after the other, and each method explains the same texts again. " +
      "Cells are the Spearman rank correlation with the original maps; a method that still matches once " +
      "the head and every block are random is flagged."));
    var steps = checks[0].steps.map(function (s) { return s.step; });
    var table = el("table", "tx-table");
    var tr = el("tr");
    ["method", "check"].concat(steps).forEach(function (h) { tr.appendChild(el("th", null, h)); });
    table.appendChild(tr);
    checks.forEach(function (check) {
      var line = el("tr", check.flagged ? "tx-flagged" : null);
      line.appendChild(el("td", null, check.method));
      line.appendChild(el("td", null, check.flagged ? "flagged (ρ ≥ " + fixed(check.threshold, 2) + ")" : "ok"));
      check.steps.forEach(function (s) { line.appendChild(el("td", null, fixed(s.spearman, 2))); });
      table.appendChild(line);
    });
    box.appendChild(table);
    var first = checks[0];
    box.appendChild(el("p", "tx-note", first.texts + " texts, seed " + first.seed + "."));
    return box;
  }

  // ------------------------------------------------------------------ a card
  function Card(entry, number) {
    this.entry = entry;
    this.number = number;
    this.state = { exp: 0, k: 0, level: "word", sort: false, layer: 0, head: -1, perLayer: true };
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
    this.text = el("div", "tx-text");
    this.readout = el("div", "tx-readout", "Hover a word to see its score.");
    node.appendChild(this.text);
    node.appendChild(this.readout);
    this.bars = el("div", "tx-bars");
    node.appendChild(this.bars);
    this.sections = el("div");
    node.appendChild(this.sections);
    this.params = el("div", "tx-params");
    node.appendChild(this.params);
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
    this.current = { units: list, values: vals, peak: peak };
    this.renderText(list, vals, peak);
    this.renderBars(list, vals, peak);
    this.renderSections();
    var label = entry.labels[exp.targets[st.k]];
    var bits = ["method " + exp.method, "class " + label];
    Object.keys(exp.params || {}).forEach(function (k) { bits.push(k + "=" + short(exp.params[k])); });
    var diag = exp.diagnostics || {};
    var axes = exp.diagnostic_axes || {};
    Object.keys(diag).forEach(function (k) {
      var v = diag[k];
      if (exp.params && JSON.stringify(exp.params[k]) === JSON.stringify(v)) return;
      if (k === "identity" && v && Array.isArray(v.error)) {  // the method's identity check, per target
        var err = v.error.length > 1 ? v.error[st.k] : v.error[0];
        bits.push(v.kind + " error=" + (isNum(err) ? Number(err.toPrecision(4)) : "–"));
        return;
      }
      var axis = (axes[k] || []).indexOf("target");  // declared axes, never guessed from lengths
      if (axis >= 0) v = alongAxis(v, axis, st.k);
      bits.push(k + "=" + (isNum(v) ? Number(v.toPrecision(4)) : short(v)));
    });
    this.params.textContent = bits.join(" · ");
    this.readout.textContent = "Hover a " + (st.level === "word" ? "word" : "token") + " to see its score for " + label + ".";
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
    for (var i = 0; i < list.length; i++) {
      var u = list[i];
      var span;
      if (u.special) {
        span = el("span", "tx-u tx-special", u.label);
      } else {
        if (u.end <= u.start || u.start < cursor) continue;
        if (u.start > cursor) frag.appendChild(document.createTextNode(entry.text.slice(cursor, u.start)));
        span = el("span", "tx-u", entry.text.slice(u.start, u.end));
        cursor = u.end;
      }
      span.dataset.i = String(i);
      span.style.backgroundColor = signedColour(vals[i], peak);
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
    if (entry.attention) parts.push(["attention", "Attention by layer and head", this.drawAttention]);
    var evals = this.evaluations();
    if (evals.length) parts.push(["curves", "Perturbation curves and metrics", this.drawCurves]);
    parts.forEach(function (p) {
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

  Card.prototype.drawFlow = function (body) {
    var self = this;
    var st = this.state;
    var entry = this.entry;
    var exp = this.exp();
    var layers = exp.layer_scores;
    var list = units(entry, st.level);
    var rows = layers.map(function (layer) {
      return st.level === "word" ? aggregate(entry, layer[st.k]) : layer[st.k];
    });
    body.appendChild(group("scale", [
      button("each layer", st.perLayer, function () { st.perLayer = true; body.textContent = ""; self.drawFlow(body); }),
      button("all layers", !st.perLayer, function () { st.perLayer = false; body.textContent = ""; self.drawFlow(body); })
    ]));
    var peaks = rows.map(function (r) { return peakOf(r, list); });
    var global = Math.max.apply(null, peaks);
    body.appendChild(el("p", "tx-note", "Rows: layers (input at the top); columns: " + st.level + "s. " +
      "Green supports " + entry.labels[exp.targets[st.k]] + ", red opposes it."));
    body.appendChild(heatmap({
      rows: rows.length,
      cols: list.length,
      value: function (r, c) { return rows[r][c]; },
      colour: function (v, r) { return signedColour(v, st.perLayer ? peaks[r] : global); },
      rowLabel: function (r) { return "layer " + r; },
      colLabel: function (c) { return list[c].label; },
      describe: function (r, c, v) { return "layer " + r + ", " + list[c].label + ": " + signed(v); }
    }));
  };

  Card.prototype.drawAttention = function (body) {
    var self = this;
    var st = this.state;
    var att = this.entry.attention;
    if (att.skipped) { body.appendChild(el("p", "tx-note", att.skipped)); return; }
    if (!this.decoded) this.decoded = [];
    var layerButtons = [];
    for (var l = 0; l < att.layers; l++) {
      layerButtons.push(button(String(l), l === st.layer, (function (layer) {
        return function () { st.layer = layer; body.textContent = ""; self.drawAttention(body); };
      })(l), "tx-layer"));
    }
    var headButtons = [button("mean", st.head < 0, function () { st.head = -1; body.textContent = ""; self.drawAttention(body); })];
    for (var h = 0; h < att.heads; h++) {
      headButtons.push(button(String(h), h === st.head, (function (head) {
        return function () { st.head = head; body.textContent = ""; self.drawAttention(body); };
      })(h), "tx-head-button"));
    }
    body.appendChild(group("layer", layerButtons));
    body.appendChild(group("head", headButtons));
    if (!this.decoded[st.layer]) {
      var raw = atob(att.data[st.layer]);
      var bytes = new Uint8Array(raw.length);
      for (var b = 0; b < raw.length; b++) bytes[b] = raw.charCodeAt(b);
      this.decoded[st.layer] = bytes;
    }
    var bytesL = this.decoded[st.layer];
    var n = att.size;
    var heads = att.heads;
    var head = st.head;
    var matrix = new Float32Array(n * n);
    var peak = 0;
    for (var i = 0; i < n * n; i++) {
      var v = 0;
      if (head >= 0) v = bytesL[head * n * n + i] / 255;
      else { for (var hh = 0; hh < heads; hh++) v += bytesL[hh * n * n + i]; v = v / 255 / heads; }
      matrix[i] = v;
      if (v > peak) peak = v;
    }
    peak = peak || 1;
    var tokens = att.tokens;
    body.appendChild(el("p", "tx-note", "Row: the attending token (query); column: the token attended to (key). " +
      "Colour scaled to the largest weight of this map (" + peak.toFixed(3) + ")."));
    body.appendChild(heatmap({
      rows: n,
      cols: n,
      value: function (r, c) { return matrix[r * n + c]; },
      colour: function (v) { return colour(ATT, v, peak); },
      rowLabel: function (r) { return tokens[r]; },
      colLabel: function (c) { return tokens[c]; },
      describe: function (r, c, v) {
        return tokens[r] + " → " + tokens[c] + ": " + v.toFixed(3) + " (layer " + st.layer + ", " + (head < 0 ? "mean of heads" : "head " + head) + ")";
      }
    }));
  };

  Card.prototype.drawCurves = function (body) {
    var evals = this.evaluations();
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
        ["ΔA^F ↑", e.delta_af], ["completeness error", e.completeness_error]].forEach(function (row) {
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

  function curveChart(curves, floor) {
    var W = 320, H = 200, L = 38, B = 28, T = 8, R = 8;
    var chart = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img" });
    var x = function (f) { return L + f * (W - L - R); };
    var y = function (p) { return H - B - p * (H - B - T); };
    chart.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - B - T, fill: "none", stroke: "#d0d7de" }));
    [0, 0.5, 1].forEach(function (v) {
      var ty = svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
      ty.textContent = v.toFixed(1);
      chart.appendChild(ty);
      var tx = svg("text", { x: x(v), y: H - B + 12, "text-anchor": "middle" });
      tx.textContent = v.toFixed(1);
      chart.appendChild(tx);
    });
    var xl = svg("text", { x: L + (W - L - R) / 2, y: H - 4, "text-anchor": "middle" });
    xl.textContent = "fraction removed / inserted";
    chart.appendChild(xl);
    var yl = svg("text", { x: 10, y: T + (H - B - T) / 2, "text-anchor": "middle", transform: "rotate(-90 10 " + (T + (H - B - T) / 2) + ")" });
    yl.textContent = "p(class)";
    chart.appendChild(yl);
    var legend = el("div", "tx-legend");
    var lines = CURVES.slice();
    if (floor && floor.morf) {
      curves = Object.assign({ floor: floor.morf }, curves);
      lines.push(["floor", "random scores, most relevant first", "rgb(140,149,159)", "4 3"]);
    }
    lines.forEach(function (c) {
      var curve = curves[c[0]];
      if (!curve || !curve.fractions || !curve.fractions.length) return;
      var pts = curve.fractions.map(function (f, i) { return x(f).toFixed(1) + "," + y(curve.probabilities[i] || 0).toFixed(1); });
      var line = svg("polyline", { points: pts.join(" "), fill: "none", stroke: c[2], "stroke-width": 2, "stroke-dasharray": c[3] || "none" });
      var title = svg("title");
      title.textContent = c[1];
      line.appendChild(title);
      chart.appendChild(line);
      var item = el("span");
      var sw = el("span", "tx-swatch");
      sw.style.background = c[2];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(c[0] + ": " + c[1]));
      legend.appendChild(item);
    });
    var box = el("div");
    box.appendChild(chart);
    box.appendChild(legend);
    return box;
  }

  // A canvas heatmap with labels when cells are big enough and a readout on hover; fast for 512×512.
  function heatmap(spec) {
    var rows = spec.rows, cols = spec.cols;
    var cell = Math.max(1, Math.min(18, Math.floor(720 / Math.max(rows, cols, 1))));
    if (rows < 16) cell = Math.max(cell, Math.min(18, Math.floor(720 / Math.max(cols, 1))));
    var ch = Math.max(cell, rows <= 16 ? 14 : cell);
    var labels = cell >= 9;
    var clip = function (s) { s = String(s); return s.length > 12 ? s.slice(0, 11) + "…" : s; };
    var canvas = el("canvas");
    var ctx = canvas.getContext("2d");
    ctx.font = "10px system-ui, sans-serif";
    var widest = function (n, label) {
      var w = 0;
      for (var i = 0; i < n; i++) w = Math.max(w, ctx.measureText(clip(label(i))).width);
      return Math.ceil(w) + 8;
    };
    var left = labels || rows <= 16 ? widest(rows, spec.rowLabel) : 4;
    var top = labels ? widest(cols, spec.colLabel) : 4;
    var ratio = window.devicePixelRatio || 1;
    var width = left + cols * cell + 4, height = top + rows * ch + 4;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var v = spec.value(r, c);
        if (!isNum(v) || v === 0) continue;
        ctx.fillStyle = spec.colour(v, r, c);
        ctx.fillRect(left + c * cell, top + r * ch, cell, ch);
      }
    }
    ctx.strokeStyle = "#d0d7de";
    ctx.strokeRect(left - 0.5, top - 0.5, cols * cell + 1, rows * ch + 1);
    ctx.fillStyle = "#1f2328";
    ctx.font = "10px system-ui, sans-serif";
    if (left > 4) {
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      for (var rr = 0; rr < rows; rr++) ctx.fillText(clip(spec.rowLabel(rr)), left - 4, top + rr * ch + ch / 2);
    }
    if (labels) {
      ctx.textAlign = "left";
      for (var cc = 0; cc < cols; cc++) {
        ctx.save();
        ctx.translate(left + cc * cell + cell / 2, top - 4);
        ctx.rotate(-Math.PI / 2);
        ctx.fillText(clip(spec.colLabel(cc)), 0, 0);
        ctx.restore();
      }
    }
    var wrap = el("div");
    var scroll = el("div", "tx-canvas-wrap");
    scroll.appendChild(canvas);
    var readout = el("div", "tx-readout", "Hover a cell to see its value.");
    canvas.addEventListener("mousemove", function (ev) {
      var box = canvas.getBoundingClientRect();
      var c2 = Math.floor((ev.clientX - box.left - left) / cell);
      var r2 = Math.floor((ev.clientY - box.top - top) / ch);
      if (r2 < 0 || c2 < 0 || r2 >= rows || c2 >= cols) return;
      readout.textContent = spec.describe(r2, c2, spec.value(r2, c2));
    });
    wrap.appendChild(readout);
    wrap.appendChild(scroll);
    return wrap;
  }

  // --------------------------------------------------------- the text list
  function renderTexts() {
    var section = el("section");
    var all = data.texts.map(function (entry, i) { return i; });
    var state = { page: 0, filter: "", matches: all };
    var toolbar = el("div", "tx-toolbar");
    var list = el("div", "tx-list");
    var pager = el("div", "tx-pager");
    if (data.texts.length > PAGE_SIZE) {
      var search = el("input");
      search.type = "search";
      search.placeholder = "filter texts…";
      search.setAttribute("aria-label", "filter texts");
      search.addEventListener("input", function () {
        var q = search.value.toLowerCase();
        state.matches = all.filter(function (i) { return data.texts[i].text.toLowerCase().indexOf(q) >= 0; });
        state.page = 0;
        draw();
      });
      toolbar.appendChild(search);
    }
    toolbar.appendChild(pager);
    section.appendChild(toolbar);
    section.appendChild(list);

    function draw() {
      var pages = Math.max(1, Math.ceil(state.matches.length / PAGE_SIZE));
      state.page = Math.min(state.page, pages - 1);
      var from = state.page * PAGE_SIZE;
      var shown = state.matches.slice(from, from + PAGE_SIZE);
      pager.textContent = "";
      if (pages > 1 || state.matches.length !== all.length) {
        var prev = button("‹ previous", false, function () { state.page -= 1; draw(); }, "tx-prev");
        prev.disabled = state.page === 0;
        var next = button("next ›", false, function () { state.page += 1; draw(); }, "tx-next");
        next.disabled = state.page >= pages - 1;
        pager.appendChild(prev);
        pager.appendChild(el("span", "tx-page", shown.length ?
          "texts " + (from + 1) + "–" + (from + shown.length) + " of " + state.matches.length + " (page " + (state.page + 1) + "/" + pages + ")" :
          "no text matches"));
        pager.appendChild(next);
      }
      list.textContent = "";
      shown.forEach(function (i) { list.appendChild(new Card(data.texts[i], i).node); });
      window.scrollTo(0, Math.min(window.scrollY, section.offsetTop));
    }
    draw();
    return section;
  }

  root.textContent = "";
  root.appendChild(renderHeader());
  var summary = renderSummary();
  if (summary) root.appendChild(summary);
  var sanity = renderSanity();
  if (sanity) root.appendChild(sanity);
  root.appendChild(renderTexts());
  document.documentElement.dataset.ready = "true";
})();
