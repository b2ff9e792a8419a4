/* trexplain report renderer: draws the JSON in #tx-data. No dependencies, no network.
   Every string from the data reaches the page through textContent, attributes set as properties,
   or canvas fillText; nothing is parsed as HTML.

   Plug-ins: files named `section-*.js` beside this one are inlined before it (viz/html.py) and register
   themselves on `window.trexplain`:
     sections.push({key, render(value, data, util) -> Node})  a top-level section drawn after the sanity
                                                              section when `data[key]` is present;
     cards[kind] = function (entry, number, util) -> Node      the card of a text entry whose
                                                              `entry.layout` is `kind` (e.g. "image").
   `trexplain.render(data, root)` draws a payload into any element (the web app calls it). */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  TX.sections = TX.sections || [];
  TX.cards = TX.cards || {};

  var PAGE_SIZE = 10;
  var POS = [22, 163, 74];
  var NEG = [220, 38, 38];
  var ATT = [9, 105, 218];
  var UNSIGNED = [109, 40, 217];
  var THUMB = 52;  // px per attention thumbnail; larger maps are max-pooled down to it
  var HEAD_ROW = 16;  // px per token row in the head view
  var LINK_FLOOR = 0.02;  // the head view draws links of at least 2% of the scale's top …
  var LINK_BUDGET = 2000;  // … and, with no token chosen, only the strongest 2000 of them
  var CURVES = [
    ["morf", "most relevant removed first", "rgb(220,38,38)"],
    ["lerf", "least relevant removed first", "rgb(22,163,74)"],
    ["insertion", "insertion from empty", "rgb(9,105,218)"]
  ];
  var SVG_NS = "http://www.w3.org/2000/svg";

  var data = null;  // the payload being drawn (set by `render`)
  var root = null;

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
  function scoreColour(isSigned, v, peak) { return isSigned ? signedColour(v, peak) : colour(UNSIGNED, v, peak); }
  function tint(hue, v, peak) {
    // The opaque colour of hue at opacity |v| / peak over white, for canvas pixels.
    var a = peak > 0 ? Math.min(1, Math.abs(v) / peak) : 0;
    return [255 - (255 - hue[0]) * a, 255 - (255 - hue[1]) * a, 255 - (255 - hue[2]) * a];
  }
  function cssColour(c) { return "rgb(" + c.join(",") + ")"; }
  function own(object, key) { return !!object && Object.prototype.hasOwnProperty.call(object, key); }
  function methodInfo(name) { return own(data.methods, name) ? data.methods[name] : {}; }
  function isSignedMethod(name) { return methodInfo(name).signed !== false; }
  function siteLabel(site, layer) {
    // One numbering everywhere: blocks 0 … L-1; "block input" → "block 3 input", "after block" → "after block 3".
    return String(site || "block").replace("block", "block " + layer);
  }
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

  // ------------------------------------------------------------- model card
  // A safe subset of Markdown drawn as DOM nodes: headings, paragraphs, lists, tables, rules, fenced code and
  // inline bold, italic, code and links. Card text reaches the page through textContent only; a link shows its
  // text and its URL as text and is never followed.
  var INLINE = [
    [/^`([^`]+)`/, "code"],
    [/^\*\*(\S[\s\S]*?)\*\*/, "strong"],
    [/^__(\S[\s\S]*?)__(?![A-Za-z0-9])/, "strong"],
    [/^\*(\S[\s\S]*?)\*/, "em"],
    [/^_(\S[\s\S]*?)_(?![A-Za-z0-9])/, "em"],
    [/^\[([^\]]*)\]\(\s*((?:[^()\s]|\([^()\s]*\))*)(?:\s+"[^"]*")?\s*\)/, "link"]
  ];
  var LIST = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  var HEADING = /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
  var TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

  function inline(parent, text) {
    var plain = "";
    var i = 0;
    function flush() { if (plain) parent.appendChild(document.createTextNode(plain)); plain = ""; }
    while (i < text.length) {
      var ch = text.charAt(i);
      if (ch === "\\" && /[\\`*_[\]()#|-]/.test(text.charAt(i + 1))) { plain += text.charAt(i + 1); i += 2; continue; }
      var m = null, kind = null;
      if ("`*_[".indexOf(ch) >= 0 && !(ch === "_" && /[A-Za-z0-9]/.test(text.charAt(i - 1)))) {
        var rest = text.slice(i);
        for (var r = 0; r < INLINE.length && !m; r++) { m = INLINE[r][0].exec(rest); kind = INLINE[r][1]; }
      }
      if (!m) { plain += ch; i += 1; continue; }
      flush();
      if (kind === "code") {
        parent.appendChild(el("code", null, m[1]));
      } else if (kind === "link") {
        var link = inline(el("span", "tx-md-link"), m[1]);
        link.appendChild(el("span", "tx-md-url", " (" + m[2] + ")"));
        parent.appendChild(link);
      } else {
        parent.appendChild(inline(el(kind), m[1]));
      }
      i += m[0].length;
    }
    flush();
    return parent;
  }
  function tableCells(line) {
    var out = [""];
    var s = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    for (var i = 0; i < s.length; i++) {
      var ch = s.charAt(i);
      if (ch === "\\" && s.charAt(i + 1) === "|") { out[out.length - 1] += "|"; i += 1; }
      else if (ch === "|") out.push("");
      else out[out.length - 1] += ch;
    }
    return out.map(function (c) { return c.trim(); });
  }
  function markdownTable(box, lines, i) {
    var head = tableCells(lines[i]);
    var align = tableCells(lines[i + 1]).map(function (c) {
      return /^:-+:$/.test(c) ? "center" : /-:$/.test(c) ? "right" : "left";
    });
    var table = el("table", "tx-md-table");
    function row(cells, tag) {
      var tr = el("tr");
      head.forEach(function (_, j) {
        var cell = inline(el(tag), cells[j] || "");
        cell.style.textAlign = align[j] || "left";
        tr.appendChild(cell);
      });
      table.appendChild(tr);
    }
    if (head.some(function (c) { return c; })) row(head, "th");  // "| | |" is a table without a header
    for (i += 2; i < lines.length && lines[i].trim() && lines[i].indexOf("|") >= 0; i++) row(tableCells(lines[i]), "td");
    box.appendChild(table);
    return i;
  }
  function markdownList(parent, lines, i) {
    // Items at the first item's indent; deeper items nest in the item above; other lines continue an item.
    var first = LIST.exec(lines[i]);
    var indent = first[1].length;
    var node = parent.appendChild(el(/\d/.test(first[2]) ? "ol" : "ul"));
    if (/\d/.test(first[2])) node.start = parseInt(first[2], 10);
    var item = null;
    var words = [];
    function flush() { if (words.length) inline(item, words.join(" ")); words = []; }
    while (i < lines.length && lines[i].trim() && !HEADING.test(lines[i])) {
      var m = LIST.exec(lines[i]);
      var depth = /^\s*/.exec(lines[i])[0].length;
      if (depth < indent) break;
      if (m && depth === indent) {
        flush();
        item = node.appendChild(el("li"));
        words = [m[3]];
        i += 1;
      } else if (m) {
        flush();
        i = markdownList(item, lines, i);
      } else {
        words.push(lines[i].trim());
        i += 1;
      }
    }
    flush();
    return i;
  }
  function markdown(source) {
    var box = el("div", "tx-card-text");
    var lines = String(source).replace(/\r\n?/g, "\n").split("\n");
    var para = [];
    function flush() { if (para.length) box.appendChild(inline(el("p"), para.join(" "))); para = []; }
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      var m = HEADING.exec(line);
      if (/^\s*```/.test(line)) {
        flush();
        var code = [];
        for (i += 1; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
        box.appendChild(el("pre", null, code.join("\n")));
        i += 1;
      } else if (!line.trim()) {
        flush();
        i += 1;
      } else if (m) {
        flush();
        box.appendChild(inline(el("h" + Math.min(6, m[1].length + 2)), m[2]));  // # → h3: the page owns h1, h2
        i += 1;
      } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush();
        box.appendChild(el("hr"));
        i += 1;
      } else if (line.indexOf("|") >= 0 && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
        flush();
        i = markdownTable(box, lines, i);
      } else if (LIST.test(line)) {
        flush();
        i = markdownList(box, lines, i);
      } else {
        para.push(line.trim());
        i += 1;
      }
    }
    flush();
    return box;
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
    var entries = data.texts || [];
    if (entries.length) {
      var images = entries.every(function (entry) { return entry.layout === "image"; });
      facts.push(entries.length + (images ? " image" : " text") + (entries.length === 1 ? "" : "s"));
    }
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
      var card = el("details", "tx-model-card");
      card.appendChild(el("summary", null, "Model card"));
      card.appendChild(markdown(model.card));
      head.appendChild(card);
    }
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
    var checks = data.sanity;
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

  // ------------------------------------------------------------ diagnostics
  // One line per diagnostic the methods record; the identity checks' meanings come with the data.
  var MEANINGS = {
    seconds: "time to explain this text, all its classes together (seconds)",
    truncated_tokens: "tokens cut off the end of the text: the model never saw them",
    steps: "integration nodes (gradient evaluations) along the path, the most any class needed",
    f_input: "the class logit at the input",
    f_baseline: "the class logit at the baseline",
    score_sum: "sum of the token scores",
    completeness_error: "|score sum − (f(input) − f(baseline))|, in logits",
    relative_error: "completeness error ÷ |f(input) − f(baseline)|",
    layer_score_sum: "sum of the token scores at each block input, block 0 first",
    layer_completeness_error: "completeness error at each block input, block 0 first",
    logit: "the explained class logit",
    relevance_sum: "sum of the token relevances",
    conservation: "relevance sum ÷ logit (1 = all of the logit reaches the tokens)",
    n_features: "features switched on and off (words, or tokens with level=token)",
    forwards: "model forward passes spent on this text",
    n_samples: "sampled coalitions of features (KernelSHAP: besides the empty and the full input)",
    seed: "seed of the sampler (the same seed gives the same scores)",
    r2: "weighted R² of the local linear fit (1 = it reproduces the sampled outputs)",
    intercept: "the local linear fit's value with every feature removed",
    exact: "true: every coalition was enumerated, so the Shapley values are exact",
    base_value: "f with every feature removed",
    full_value: "f of the whole input",
    base_plus_sum: "base value + sum of the Shapley values",
    efficiency_error: "|base value + sum of the Shapley values − f(input)|",
    reconstructed: "true: rebuilt from the paper's description (no public code to compare with)"
  };
  function precise(v) { return isNum(v) ? String(Number(v.toPrecision(4))) : "–"; }
  function shown(v) {
    if (isNum(v)) return precise(v);
    if (Array.isArray(v) && v.every(function (x) { return isNum(x) || x === null; })) return v.map(precise).join(", ");
    return short(v);
  }
  function identityError(identity, k) {
    var pick = function (list) { return Array.isArray(list) ? (list.length > 1 ? list[k] : list[0]) : null; };
    return { total: pick(identity.total), expected: pick(identity.expected), error: pick(identity.error) };
  }

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
      var meaning = own(data.identities, identity.kind) ? data.identities[identity.kind] : "";
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

  // ---------------------------------------------------------------- attention
  function inflate(text) {
    // One layer's zlib-compressed uint8 weights (see viz/payload.py), unpacked by the browser itself.
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  function AttentionMaps(att, layers, given) {
    // Per block: the heads' uint8 weights as stored, and their mean and max over heads (0–1) computed up front;
    // over all blocks: the mean of the blocks' means and the max of their maxes. One head's map is built on demand.
    // A lazy entry (the web app's) brings the means, maxes and pooled head thumbnails instead (`given`); a block's
    // heads arrive when first shown (`load`, through `trexplain.loadAttentionLayer`).
    var n = att.size;
    var nn = n * n;
    this.n = n;
    this.heads = att.heads;
    this.tokens = att.tokens;
    this.bytes = layers;
    this.att = att;
    this.thumbs = given ? given.thumbs : null;
    this.mean = given ? given.mean : [];
    this.max = given ? given.max : [];
    this.allMean = new Float32Array(nn);
    this.allMax = new Float32Array(nn);
    for (var l = 0; l < layers.length; l++) {
      if (!given) {
        var bytes = layers[l];
        var sum = new Float32Array(nn);
        var top = new Float32Array(nn);
        for (var h = 0; h < att.heads; h++) {
          for (var i = 0, at = h * nn; i < nn; i++, at++) {
            var v = bytes[at];
            sum[i] += v;
            if (v > top[i]) top[i] = v;
          }
        }
        for (var j = 0; j < nn; j++) {
          sum[j] /= 255 * att.heads;
          top[j] /= 255;
        }
        this.mean.push(sum);
        this.max.push(top);
      }
      for (var m = 0, mean = this.mean[l], most = this.max[l]; m < nn; m++) {
        this.allMean[m] += mean[m] / layers.length;
        if (most[m] > this.allMax[m]) this.allMax[m] = most[m];
      }
    }
  }
  AttentionMaps.prototype.load = function (layer) {
    var self = this;
    if (layer < 0 || this.bytes[layer]) return Promise.resolve(this);
    return TX.loadAttentionLayer(this.att, layer).then(inflate).then(function (b) { self.bytes[layer] = b; return self; });
  };
  AttentionMaps.prototype.map = function (layer, head) {
    // layer -1: every block; head "mean", "max" or a head's index.
    if (head === "mean") return layer < 0 ? this.allMean : this.mean[layer];
    if (head === "max") return layer < 0 ? this.allMax : this.max[layer];
    var nn = this.n * this.n;
    var out = new Float32Array(nn);
    var bytes = this.bytes[layer];
    for (var i = 0; i < nn; i++) out[i] = bytes[head * nn + i] / 255;
    return out;
  };

  function selectionName(layer, head) {
    return (layer < 0 ? "all blocks" : "block " + layer) + " · " +
      (head === "mean" ? "mean of heads" : head === "max" ? "max over heads" : "head " + head);
  }

  function thumbnail(maps, layer, head, shared) {
    // A size × size canvas of one map (max-pooled when the map is larger), straight from the stored bytes for a head.
    var size = Math.min(maps.n, THUMB);
    var perHead = typeof head === "number";
    var pooledAlready = perHead && !maps.bytes[layer];  // a lazy entry's thumbnail, pooled by the server
    var n = pooledAlready ? size : maps.n;
    var src = pooledAlready ? maps.thumbs[layer] : perHead ? maps.bytes[layer] : maps.map(layer, head);
    var offset = perHead ? head * n * n : 0;
    var scale = perHead ? 1 / 255 : 1;
    var pooled = new Float32Array(size * size);
    var cols = new Int32Array(n);
    for (var c = 0; c < n; c++) cols[c] = Math.floor(c * size / n);
    for (var r = 0; r < n; r++) {
      var base = Math.floor(r * size / n) * size;
      for (var c2 = 0, at = offset + r * n; c2 < n; c2++, at++) {
        if (src[at] > pooled[base + cols[c2]]) pooled[base + cols[c2]] = src[at];
      }
    }
    var peak = 0;
    for (var p = 0; p < pooled.length; p++) if (pooled[p] > peak) peak = pooled[p];
    peak *= scale;
    var canvas = el("canvas");
    canvas.width = size;
    canvas.height = size;
    var ctx = canvas.getContext("2d");
    var image = ctx.createImageData(size, size);
    var top = shared ? 1 : peak || 1;
    for (var q = 0; q < pooled.length; q++) {
      var colourOf = tint(ATT, pooled[q] * scale, top);
      image.data[4 * q] = colourOf[0];
      image.data[4 * q + 1] = colourOf[1];
      image.data[4 * q + 2] = colourOf[2];
      image.data[4 * q + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    return { canvas: canvas, peak: peak };
  }

  Card.prototype.attentionMaps = function () {
    if (!this.maps) {
      var att = this.entry.attention;
      var unit = function (b) {
        var out = new Float32Array(b.length);
        for (var i = 0; i < b.length; i++) out[i] = b[i] / 255;
        return out;
      };
      var all = function (list) { return Promise.all(list.map(inflate)); };
      this.maps = att.lazy ? Promise.all([all(att.mean), all(att.max), all(att.thumbs)]).then(function (p) {
        return new AttentionMaps(att, att.mean.map(function () { return null; }),
          { mean: p[0].map(unit), max: p[1].map(unit), thumbs: p[2] });
      }) : all(att.data).then(function (layers) { return new AttentionMaps(att, layers); });
    }
    return this.maps;
  };

  Card.prototype.drawAttention = function (body) {
    var self = this;
    var st = this.state;
    var att = this.entry.attention;
    if (att.skipped) { body.appendChild(el("p", "tx-note", att.skipped)); return; }
    if (typeof DecompressionStream === "undefined") {
      body.appendChild(el("p", "tx-note", "This browser cannot unpack the attention maps (no DecompressionStream); " +
        "current Chrome, Edge, Firefox and Safari can."));
      return;
    }
    var redraw = function (patch) {
      return function () {
        Object.keys(patch).forEach(function (k) { st[k] = patch[k]; });
        body.textContent = "";
        self.drawAttention(body);
      };
    };
    var toMap = st.attView === "overview" ? st.attMapView : st.attView;
    var aggregate = typeof st.head === "number" ? "mean" : st.head;
    var blocks = [button("all", st.layer < 0, redraw({ layer: -1, head: aggregate, attView: toMap }), "tx-layer")];
    for (var l = 0; l < att.layers; l++) {
      blocks.push(button(String(l), l === st.layer, redraw({ layer: l, attView: toMap }), "tx-layer"));
    }
    var heads = ["mean", "max"].map(function (a) {
      return button(a, st.head === a, redraw({ head: a, attView: toMap }), "tx-agg-button");
    });
    for (var h = 0; h < att.heads; h++) {
      var pick = redraw({ head: h, layer: Math.max(0, st.layer), attView: toMap });
      heads.push(button(String(h), st.head === h, pick, "tx-head-button"));
    }
    body.appendChild(group("block", blocks));
    body.appendChild(group("head", heads));
    body.appendChild(group("show", [
      button("overview", st.attView === "overview", redraw({ attView: "overview" }), "tx-att-view"),
      button("matrix", st.attView === "matrix", redraw({ attView: "matrix", attMapView: "matrix" }), "tx-att-view"),
      button("head view", st.attView === "lines", redraw({ attView: "lines", attMapView: "lines" }), "tx-att-view")
    ]));
    body.appendChild(group("colour", [
      button("each map", !st.attShared, redraw({ attShared: false }), "tx-att-scale"),
      button("0 – 1 for all", st.attShared, redraw({ attShared: true }), "tx-att-scale")
    ]));
    var view = el("div", "tx-att-body", "Unpacking the attention maps…");
    body.appendChild(view);
    var token = this.attDraw = (this.attDraw || 0) + 1;
    this.attentionMaps().then(function (maps) {
      return st.attView === "overview" || typeof st.head !== "number" ? maps : maps.load(st.layer);
    }).then(function (maps) {
      if (token !== self.attDraw) return;  // a later click redrew the section meanwhile
      view.textContent = "";
      if (st.attView === "overview") self.drawOverview(view, maps, redraw);
      else self.drawMap(view, maps);
    }, function (error) {
      view.textContent = "The attention maps could not be unpacked: " + error;
    });
  };

  Card.prototype.drawOverview = function (view, maps, redraw) {
    var st = this.state;
    var n = maps.n;
    var layers = maps.bytes.length;
    view.appendChild(colourBar([[255, 255, 255], ATT], "0", st.attShared ? "1" : "map max", null,
      st.attShared ? "every map on one scale" : "each map scaled to its own largest weight (hover for it)"));
    view.appendChild(el("p", "tx-note", "Rows: blocks 0 … " + (layers - 1) + ", then all blocks together; columns: " +
      "mean and max over heads, then each head. A map's rows are queries (the attending tokens), its columns keys" +
      (n > THUMB ? "; " + n + " × " + n + " maps are max-pooled to " + THUMB + " × " + THUMB : "") +
      ". Click one to enlarge it."));
    var grid = el("div", "tx-att-grid");
    grid.style.gridTemplateColumns = "max-content repeat(" + (maps.heads + 2) + ", " + THUMB + "px)";
    var columns = ["mean", "max"];
    for (var h = 0; h < maps.heads; h++) columns.push(h);
    grid.appendChild(el("span"));
    columns.forEach(function (c) { grid.appendChild(el("span", "tx-att-col", typeof c === "number" ? "head " + c : c)); });
    for (var l = 0; l <= layers; l++) {
      var layer = l < layers ? l : -1;
      grid.appendChild(el("span", "tx-att-row", layer < 0 ? "all blocks" : "block " + layer));
      columns.forEach(function (head) {
        if (layer < 0 && typeof head === "number") return;  // head h of one block is unrelated to head h of another
        var thumb = thumbnail(maps, layer, head, st.attShared);
        var name = selectionName(layer, head);
        var enlarge = redraw({ layer: layer, head: head, attView: st.attMapView });
        var b = button("", st.layer === layer && st.head === head, enlarge,
          "tx-thumb" + (typeof head === "number" ? "" : " tx-thumb-agg"));
        b.title = name + ": largest weight " + fixed(thumb.peak, 3);
        b.setAttribute("aria-label", name);
        b.appendChild(thumb.canvas);
        grid.appendChild(b);
      });
    }
    var wrap = el("div", "tx-canvas-wrap");
    wrap.appendChild(grid);
    view.appendChild(wrap);
  };

  Card.prototype.drawMap = function (view, maps) {
    var st = this.state;
    var n = maps.n;
    var tokens = maps.tokens;
    var weights = maps.map(st.layer, st.head);
    var peak = 0;
    for (var i = 0; i < weights.length; i++) if (weights[i] > peak) peak = weights[i];
    var top = st.attShared ? 1 : peak || 1;
    var name = selectionName(st.layer, st.head);
    view.appendChild(el("h4", "tx-att-title", name));
    view.appendChild(colourBar([[255, 255, 255], ATT], "0", fixed(top, 3), null,
      st.attShared ? "one scale for every map" : "scaled to this map's largest weight"));
    if (st.attView === "lines") { view.appendChild(headView(weights, n, tokens, top)); return; }
    view.appendChild(el("p", "tx-note", "Row: the attending token (query); column: the token attended to (key)."));
    view.appendChild(heatmap({
      rows: n,
      cols: n,
      value: function (r, c) { return weights[r * n + c]; },
      colour: function (v) { return tint(ATT, v, top); },
      rowLabel: function (r) { return tokens[r]; },
      colLabel: function (c) { return tokens[c]; },
      describe: function (r, c, v) { return tokens[r] + " → " + tokens[c] + ": " + v.toFixed(3) + " (" + name + ")"; }
    }));
  };

  function linkFloor(weights, top) {
    // The weakest weight drawn for all tokens at once: LINK_FLOOR of the top, raised (in steps of top / 255)
    // until at most LINK_BUDGET links remain, so that long texts stay readable and fast.
    var bins = new Int32Array(256);
    for (var i = 0; i < weights.length; i++) if (weights[i] > 0) bins[Math.min(255, Math.floor(weights[i] / top * 255))] += 1;
    var kept = 0;
    for (var b = 255; b >= 0; b--) {
      kept += bins[b];
      if (kept > LINK_BUDGET) return Math.max(top * LINK_FLOOR, (b + 1) / 255 * top);
    }
    return top * LINK_FLOOR;
  }

  function headView(weights, n, tokens, top) {
    // bertviz-style: queries on the left, keys on the right, one line per link with opacity = weight / top.
    // Hovering a token shows its links alone (where a query attends, what attends to a key); a click pins it.
    var width = 180;
    var height = n * HEAD_ROW;
    var floors = { all: linkFloor(weights, top), one: top * LINK_FLOOR };
    var box = el("div");
    var note = el("p", "tx-note");
    var hint = "Hover or click a token: left, where it attends; right, what attends to it.";
    var readout = el("div", "tx-readout", hint);
    var view = el("div", "tx-hv");
    var columns = { q: el("div", "tx-hv-col tx-hv-q"), k: el("div", "tx-hv-col tx-hv-k") };
    var spans = { q: [], k: [] };
    var canvas = el("canvas");
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    var ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ["q", "k"].forEach(function (side) {
      tokens.forEach(function (t, i) {
        var span = el("span", "tx-hv-tok", t);
        span.dataset.i = String(i);
        span.dataset.side = side;
        columns[side].appendChild(span);
        spans[side].push(span);
      });
    });
    view.appendChild(columns.q);
    view.appendChild(canvas);
    view.appendChild(columns.k);
    var pinned = null;
    var marked = [];
    function weight(side, i, j) { return side === "q" ? weights[i * n + j] : weights[j * n + i]; }
    function draw(focus) {
      marked.forEach(function (span) { span.style.backgroundColor = ""; span.classList.remove("tx-hot"); });
      marked = [];
      var buckets = [[], [], [], [], [], [], [], [], [], []];
      var links = 0;
      var floor = focus ? floors.one : floors.all;
      var add = function (q, k, w) {
        if (w < floor || w <= 0) return;
        buckets[Math.min(9, Math.floor(w / top * 10))].push(q, k);
        links += 1;
      };
      if (!focus) {
        for (var q = 0; q < n; q++) for (var k = 0; k < n; k++) add(q, k, weights[q * n + k]);
      } else {
        var other = focus.side === "q" ? "k" : "q";
        spans[focus.side][focus.i].classList.add("tx-hot");
        marked.push(spans[focus.side][focus.i]);
        for (var j = 0; j < n; j++) {
          var w = weight(focus.side, focus.i, j);
          if (focus.side === "q") add(focus.i, j, w); else add(j, focus.i, w);
          if (w >= floor && w > 0) {
            spans[other][j].style.backgroundColor = colour(ATT, w, top);
            marked.push(spans[other][j]);
          }
        }
      }
      ctx.clearRect(0, 0, width, height);
      ctx.lineWidth = focus ? 2 : 1;
      buckets.forEach(function (pairs, b) {
        if (!pairs.length) return;
        ctx.strokeStyle = "rgba(" + ATT.join(",") + "," + ((b + 1) / 10).toFixed(1) + ")";
        ctx.beginPath();
        for (var p = 0; p < pairs.length; p += 2) {
          ctx.moveTo(0, (pairs[p] + 0.5) * HEAD_ROW);
          ctx.lineTo(width, (pairs[p + 1] + 0.5) * HEAD_ROW);
        }
        ctx.stroke();
      });
      note.textContent = links + " links drawn (weights ≥ " + fixed(floor, 3) + (floor > floors.one ?
        ": the strongest " + LINK_BUDGET + " at most" : ", " + LINK_FLOOR * 100 + "% of the scale's top") + ")" +
        (focus ? "" : "; hover or click a token to see its own.");
      readout.textContent = focus ? strongest(focus) : hint;
    }
    function strongest(focus) {
      var order = tokens.map(function (_, j) { return j; });
      order.sort(function (a, b) { return weight(focus.side, focus.i, b) - weight(focus.side, focus.i, a); });
      var top5 = order.slice(0, 5).map(function (j) { return tokens[j] + " " + weight(focus.side, focus.i, j).toFixed(3); });
      return "“" + tokens[focus.i] + "” (" + (focus.side === "q" ? "query " + focus.i + ") attends to: " :
        "key " + focus.i + ") is attended to by: ") + top5.join(" · ");
    }
    function tokenAt(ev) {
      var node = ev.target && ev.target.closest ? ev.target.closest(".tx-hv-tok") : null;
      return node ? { side: node.dataset.side, i: Number(node.dataset.i) } : null;
    }
    view.addEventListener("mouseover", function (ev) { var t = tokenAt(ev); if (t) draw(t); });
    view.addEventListener("mouseleave", function () { draw(pinned); });
    view.addEventListener("click", function (ev) {
      var t = tokenAt(ev);
      if (!t) return;
      pinned = pinned && pinned.side === t.side && pinned.i === t.i ? null : t;
      draw(pinned || t);
    });
    draw(null);
    box.appendChild(note);
    box.appendChild(readout);
    var scroll = el("div", "tx-hv-scroll");
    scroll.appendChild(view);
    box.appendChild(scroll);
    return box;
  }

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

  // A colour bar: the ramp's colours from left to right, its end values, an optional middle value and a caption.
  function colourBar(ramp, from, to, middle, caption) {
    var bar = el("div", "tx-cbar");
    bar.appendChild(el("span", "tx-cbar-end", from));
    var strip = el("span", "tx-cbar-ramp");
    strip.style.background = "linear-gradient(to right, " + ramp.map(cssColour).join(", ") + ")";
    if (middle !== null) strip.appendChild(el("span", "tx-cbar-mid", middle));
    bar.appendChild(strip);
    bar.appendChild(el("span", "tx-cbar-end", to));
    if (caption) bar.appendChild(el("span", "tx-note", caption));
    return bar;
  }

  // A canvas heatmap: cells are painted as pixels and scaled up (fast for 512 × 512), labels drawn where cells are
  // big enough, a readout on hover. spec.colour(v, row, col) gives an opaque [r, g, b]; zero and missing stay white.
  function heatmap(spec) {
    var rows = spec.rows, cols = spec.cols;
    var cw = spec.cellWidth || Math.max(1, Math.min(18, Math.floor(720 / Math.max(rows, cols, 1))));
    if (!spec.cellWidth && rows < 16) cw = Math.max(cw, Math.min(18, Math.floor(720 / Math.max(cols, 1))));
    var ch = spec.cellHeight || Math.max(cw, rows <= 16 ? 14 : cw);
    var clip = function (s) { s = String(s); return s.length > 14 ? s.slice(0, 13) + "…" : s; };
    var canvas = el("canvas");
    var ctx = canvas.getContext("2d");
    ctx.font = "11px system-ui, sans-serif";
    var widest = function (n, label) {
      var w = 0;
      for (var i = 0; i < n; i++) w = Math.max(w, ctx.measureText(clip(label(i))).width);
      return Math.ceil(w) + 8;
    };
    var left = ch >= 9 ? widest(rows, spec.rowLabel) : 4;
    var top = cw >= 9 ? widest(cols, spec.colLabel) : 4;
    var right = spec.rightLabel ? widest(rows, spec.rightLabel) + 4 : 4;
    var ratio = window.devicePixelRatio || 1;
    var width = left + cols * cw + right, height = top + rows * ch + 4;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "heatmap: rows " + spec.rowLabel(0) + " … " + spec.rowLabel(rows - 1) +
      ", columns " + spec.colLabel(0) + " … " + spec.colLabel(cols - 1));
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    var cells = document.createElement("canvas");
    cells.width = Math.max(1, cols);
    cells.height = Math.max(1, rows);
    var cellCtx = cells.getContext("2d");
    var image = cellCtx.createImageData(cells.width, cells.height);
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var v = spec.value(r, c);
        var paint = isNum(v) && v !== 0 ? spec.colour(v, r, c) : [255, 255, 255];
        var o = 4 * (r * cols + c);
        image.data[o] = paint[0];
        image.data[o + 1] = paint[1];
        image.data[o + 2] = paint[2];
        image.data[o + 3] = 255;
      }
    }
    cellCtx.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, left, top, cols * cw, rows * ch);
    ctx.strokeStyle = "#d0d7de";
    ctx.strokeRect(left - 0.5, top - 0.5, cols * cw + 1, rows * ch + 1);
    ctx.fillStyle = "#1f2328";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    if (left > 4) {
      ctx.textAlign = "right";
      for (var rr = 0; rr < rows; rr++) ctx.fillText(clip(spec.rowLabel(rr)), left - 4, top + rr * ch + ch / 2);
    }
    if (spec.rightLabel) {
      ctx.textAlign = "left";
      for (var rl = 0; rl < rows; rl++) ctx.fillText(clip(spec.rightLabel(rl)), left + cols * cw + 6, top + rl * ch + ch / 2);
    }
    if (top > 4) {
      ctx.textAlign = "left";
      for (var cc = 0; cc < cols; cc++) {
        ctx.save();
        ctx.translate(left + cc * cw + cw / 2, top - 4);
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
      var c2 = Math.floor((ev.clientX - box.left - left) / cw);
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
    var noun = data.texts.every(function (entry) { return entry.layout === "image"; }) ? "image" : "text";
    var state = { page: 0, filter: "", matches: all };
    var toolbar = el("div", "tx-toolbar");
    var list = el("div", "tx-list");
    var pager = el("div", "tx-pager");
    if (data.texts.length > PAGE_SIZE) {
      var search = el("input");
      search.type = "search";
      search.placeholder = "filter " + noun + "s…";
      search.setAttribute("aria-label", "filter " + noun + "s");
      search.addEventListener("input", function () {
        var q = search.value.toLowerCase();
        state.matches = all.filter(function (i) {
          var entry = data.texts[i];
          var name = typeof entry.text === "string" ? entry.text : String(entry.source || "");  // images: the file name
          return name.toLowerCase().indexOf(q) >= 0;
        });
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
          noun + "s " + (from + 1) + "–" + (from + shown.length) + " of " + state.matches.length + " (page " + (state.page + 1) + "/" + pages + ")" :
          "no " + noun + " matches"));
        pager.appendChild(next);
      }
      list.textContent = "";
      shown.forEach(function (i) { list.appendChild(card(data.texts[i], i)); });
      window.scrollTo(0, Math.min(window.scrollY, section.offsetTop));
    }
    draw();
    return section;
  }

  function card(entry, number) {
    var kind = entry.layout;  // the layout's kind, spread into the record by `layout.to_dict`
    if (typeof kind === "string" && own(TX.cards, kind)) return TX.cards[kind](entry, number, TX.util);
    return new Card(entry, number).node;
  }

  TX.util = {
    el: el, svg: svg, isNum: isNum, signed: signed, fixed: fixed, precise: precise, colour: colour,
    signedColour: signedColour, scoreColour: scoreColour, cssColour: cssColour, button: button, group: group,
    chip: chip, markdown: markdown, summaryTable: summaryTable, curveChart: curveChart, colourBar: colourBar,
    heatmap: heatmap, methodInfo: methodInfo, isSignedMethod: isSignedMethod, own: own, POS: POS, NEG: NEG
  };

  TX.render = function (payload, into) {
    data = payload;
    root = into;
    root.textContent = "";
    root.appendChild(renderHeader());
    var summary = renderSummary();
    if (summary) root.appendChild(summary);
    var sanity = renderSanity();
    if (sanity) root.appendChild(sanity);
    TX.sections.forEach(function (section) {
      if (!own(data, section.key) || data[section.key] === null) return;
      var node = section.render(data[section.key], data, TX.util);
      if (node) root.appendChild(node);
    });
    if (data.texts && data.texts.length) root.appendChild(renderTexts());
  };

  var embedded = document.getElementById("tx-data");
  if (!embedded) return;
  TX.render(JSON.parse(embedded.textContent), document.getElementById("tx-root"));
  if (window.parent !== window && window.ResizeObserver) {
    // Inside a notebook's iframe: tell the page around it how tall this document is, whenever that changes
    // (viz/html.py's `iframe` listens and resizes the frame). The message carries one number and nothing else.
    var posted = 0;
    new ResizeObserver(function () {
      var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
      if (height !== posted) window.parent.postMessage({ trexplainHeight: height }, "*");
      posted = height;
    }).observe(document.documentElement);
  }
  document.documentElement.dataset.ready = "true";
})();
