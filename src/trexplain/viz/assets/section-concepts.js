/* trexplain plug-in: the concepts section (data.concepts from trexplain.concepts.report.payload).
   Click a class to see its concepts ranked by importance for that class, with their top words (interpreto's
   plot_concepts); click a concept to see its top inputs with the activating words highlighted; the examples are
   concept × word heatmaps. Each metric has a line saying what it means (data.concepts.metric_meanings). With
   view "explain" the first example is the page's subject: its prediction, the concepts that fire in it and what
   each contributes, before the set. Every string reaches the page through textContent. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  TX.sections = TX.sections || [];

  var KINDS = [
    ["ablation", "ablation", "logit change when the concept is removed"],
    ["concept_x_gradient", "concept × gradient", "code × ∂logit/∂code, summed over the text's rows"],
    ["gradient", "gradient", "∂logit/∂code (interpreto's concept_output_gradient)"]
  ];
  var ACT = [109, 40, 217];  // activation hue (codes are unsigned for most methods)
  var HEAT_ROWS = 8;

  function finite(v) { return typeof v === "number" && isFinite(v); }

  function conceptName(u, c) {
    return c.label ? "#" + c.index + " " + c.label : "#" + c.index;
  }

  // The text with each word's background tinted by its activation: non-negative activations from the text's
  // smallest (white) to its largest (full ACT hue), so the most activating tokens stand out even where every token
  // activates; signed ones by |activation| / peak, negative in red.
  function highlighted(u, text, tokens) {
    var box = u.el("span", "tx-cc-text");
    var cursor = 0;
    var vals = (tokens || []).map(function (t) { return t.activation; }).filter(finite);
    var lo = vals.length ? Math.min.apply(null, vals) : 0, hi = vals.length ? Math.max.apply(null, vals) : 0;
    var signedScale = lo < 0, peak = peakOf(vals);
    var strength = function (v) {
      if (signedScale) return Math.abs(v) / peak;
      return hi > lo ? (v - lo) / (hi - lo) : (v > 0 ? 1 : 0);
    };
    (tokens || []).slice().sort(function (a, b) { return a.start - b.start; }).forEach(function (t) {
      if (t.start < cursor) return;
      if (t.start > cursor) box.appendChild(document.createTextNode(text.slice(cursor, t.start)));
      var piece = u.el("span", "tx-cc-tok", text.slice(t.start, t.end));
      if (finite(t.activation) && strength(t.activation) > 0) {
        piece.style.background = u.colour(t.activation >= 0 ? ACT : u.NEG, strength(t.activation), 1);
      }
      piece.title = finite(t.activation) ? t.activation.toPrecision(3) : "";
      box.appendChild(piece);
      cursor = t.end;
    });
    if (cursor < text.length) box.appendChild(document.createTextNode(text.slice(cursor)));
    return box;
  }

  function peakOf(values) {
    var peak = 0;
    values.forEach(function (v) { if (finite(v)) peak = Math.max(peak, Math.abs(v)); });
    return peak > 0 ? peak : 1;
  }

  function detail(u, concept) {
    var box = u.el("div", "tx-cc-detail");
    var words = concept.top_words || [];
    if (words.length) {
      var chips = u.el("div", "tx-chips");
      words.forEach(function (w) {
        chips.appendChild(u.chip(w.word + " " + u.fixed(w.activation, 2) + (w.count ? " ×" + w.count : "")));
      });
      box.appendChild(u.el("div", "tx-note", "top words"));
      box.appendChild(chips);
    }
    var inputs = concept.top_inputs || [];
    box.appendChild(u.el("div", "tx-note", "top inputs (activating words tinted)"));
    var list = u.el("ol", "tx-cc-inputs");
    inputs.forEach(function (entry) {
      var item = u.el("li");
      item.appendChild(u.el("span", "tx-cc-act", u.fixed(entry.activation, 3)));
      item.appendChild(entry.tokens && entry.tokens.length ?
        highlighted(u, entry.text, entry.tokens) : u.el("span", "tx-cc-text", entry.text));
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function classView(u, value, state, body) {
    var concepts = (value.interpretation || {}).concepts || [];
    var perClass = ((value.importance || {}).per_class || {})[state.kind] || null;
    body.textContent = "";
    var scores = concepts.map(function (c) {
      return perClass && perClass[state.cls] ? perClass[state.cls][c.index] : null;
    });
    var known = scores.some(finite);
    if (!known) {
      body.appendChild(u.el("p", "tx-note", perClass ?
        "No text of the importance sample is predicted as this class." : "No importance was computed."));
    }
    var order = concepts.map(function (c, i) { return i; });
    order.sort(function (a, b) {
      var x = finite(scores[a]) ? scores[a] : -Infinity, y = finite(scores[b]) ? scores[b] : -Infinity;
      return y - x || a - b;
    });
    var peak = peakOf(scores);
    var list = u.el("div", "tx-cc-list");
    order.forEach(function (i) {
      var c = concepts[i], v = scores[i];
      var row = u.el("div", "tx-cc-row");
      var head = u.button("", state.open === c.index, function () {
        state.open = state.open === c.index ? null : c.index;
        classView(u, value, state, body);
      }, "tx-cc-head");
      head.appendChild(u.el("span", "tx-cc-name", conceptName(u, c)));
      var bar = u.el("span", "tx-cc-bar");
      var fill = u.el("span", "tx-cc-fill" + (finite(v) && v < 0 ? " tx-cc-neg" : ""));
      fill.style.width = (finite(v) ? Math.round(100 * Math.abs(v) / peak) : 0) + "%";
      fill.style.background = finite(v) ? u.signedColour(v, peak / 0.85) : "transparent";
      bar.appendChild(fill);
      head.appendChild(bar);
      head.appendChild(u.el("span", "tx-cc-value", finite(v) ? u.signed(v) : "–"));
      head.appendChild(u.el("span", "tx-cc-words", (c.top_words || []).slice(0, 6).map(function (w) {
        return w.word;
      }).join(", ")));
      row.appendChild(head);
      if (state.open === c.index) row.appendChild(detail(u, c));
      list.appendChild(row);
    });
    body.appendChild(list);
  }

  function deletionView(u, deletion) {
    if (!deletion || !deletion.aopc) return null;
    var box = u.el("div", "tx-cc-deletion");
    box.appendChild(u.el("h3", null, "Can the importance ranking be trusted? Concept deletion"));
    box.appendChild(u.el("p", "tx-note",
      "Concepts removed one by one, most important for the predicted class first; AOPC = mean drop of that " +
      "class's probability (higher is better; random order is the floor)."));
    var table = u.el("table", "tx-cc-aopc");
    var head = u.el("tr");
    ["importance", "AOPC ↑"].forEach(function (h) { head.appendChild(u.el("th", null, h)); });
    table.appendChild(head);
    var names = Object.keys(deletion.aopc);
    var floor = deletion.aopc.random;
    names.forEach(function (name) {
      var tr = u.el("tr");
      tr.appendChild(u.el("td", null, name));
      var cell = u.el("td", "tx-num", u.fixed(deletion.aopc[name], 3));
      if (name !== "random" && finite(floor) && deletion.aopc[name] <= floor) cell.className += " tx-cc-weak";
      tr.appendChild(cell);
      table.appendChild(tr);
    });
    box.appendChild(table);
    var curves = deletion.mean_curve || {};
    var W = 320, H = 160, L = 36, B = 24, T = 8, R = 8;
    var chart = u.svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "class": "tx-cc-chart" });
    chart.appendChild(u.svg("rect", { x: L, y: T, width: W - L - R, height: H - B - T, fill: "none", stroke: "#d0d7de" }));
    var colours = { ablation: "rgb(220,38,38)", concept_x_gradient: "rgb(9,105,218)", gradient: "rgb(22,163,74)", random: "rgb(140,149,159)" };
    var legend = u.el("div", "tx-legend");
    names.forEach(function (name) {
      var curve = curves[name];
      if (!curve || curve.length < 2) return;
      var pts = curve.map(function (p, i) {
        var x = L + (i / (curve.length - 1)) * (W - L - R), y = H - B - (finite(p) ? p : 0) * (H - B - T);
        return x.toFixed(1) + "," + y.toFixed(1);
      });
      chart.appendChild(u.svg("polyline", {
        points: pts.join(" "), fill: "none", stroke: colours[name] || "#444", "stroke-width": 2,
        "stroke-dasharray": name === "random" ? "4 3" : "none"
      }));
      var item = u.el("span");
      var sw = u.el("span", "tx-swatch");
      sw.style.background = colours[name] || "#444";
      item.appendChild(sw);
      item.appendChild(document.createTextNode(name));
      legend.appendChild(item);
    });
    [0, 1].forEach(function (v) {
      var t = u.svg("text", { x: L - 4, y: H - B - v * (H - B - T) + 3, "text-anchor": "end" });
      t.textContent = v.toFixed(1);
      chart.appendChild(t);
    });
    var xl = u.svg("text", { x: L + (W - L - R) / 2, y: H - 6, "text-anchor": "middle" });
    xl.textContent = "concepts removed";
    chart.appendChild(xl);
    box.appendChild(chart);
    box.appendChild(legend);
    return box;
  }

  function exampleView(u, value, example) {
    var concepts = (value.interpretation || {}).concepts || [];
    var box = u.el("div", "tx-cc-example");
    var probs = example.probabilities || {};
    box.appendChild(u.el("div", "tx-meta", "predicted " + example.predicted + " (" +
      u.fixed(probs[example.predicted], 3) + ")"));
    var spans = (example.tokens || {}).spans || [], codes = (example.tokens || {}).codes || [];
    var rows = (example.concepts || []).slice(0, HEAT_ROWS);
    var all = [];
    codes.forEach(function (r) { rows.forEach(function (c) { all.push(r[c.index]); }); });
    var peak = peakOf(all);
    var label = function (r) {
      var c = rows[r];
      var name = concepts[c.index] && concepts[c.index].label;
      return "#" + c.index + (name ? " " + name : "");
    };
    var token = function (t) { return example.text.slice(spans[t][0], spans[t][1]); };
    var state = { concept: rows.length ? rows[0].index : null };
    var text = u.el("div", "tx-cc-line");
    var draw = function () {
      text.textContent = "";
      if (state.concept === null) return;
      var tokens = spans.map(function (s, t) { return { start: s[0], end: s[1], activation: codes[t][state.concept] }; });
      text.appendChild(u.el("span", "tx-note", "#" + state.concept + " over the text: "));
      text.appendChild(highlighted(u, example.text, tokens));
    };
    if (spans.length && rows.length) {
      box.appendChild(u.heatmap({
        rows: rows.length, cols: spans.length,
        value: function (r, c) { return codes[c][rows[r].index]; },
        colour: function (v) {
          var hue = v >= 0 ? ACT : u.NEG, a = Math.min(1, Math.abs(v) / peak);
          return [255 - (255 - hue[0]) * a, 255 - (255 - hue[1]) * a, 255 - (255 - hue[2]) * a].map(Math.round);
        },
        rowLabel: label, colLabel: token,
        rightLabel: function (r) { return "abl " + u.fixed(rows[r].ablation, 2); },
        describe: function (r, c, v) { return label(r) + " on “" + token(c) + "”: " + u.fixed(v, 3); }
      }));
      var buttons = rows.map(function (c) {
        return u.button("#" + c.index, state.concept === c.index, function () {
          state.concept = c.index;
          buttons.forEach(function (b, i) { b.setAttribute("aria-pressed", rows[i].index === c.index ? "true" : "false"); });
          draw();
        });
      });
      box.appendChild(u.group("concept", buttons));
    }
    draw();
    box.appendChild(text);
    return box;
  }

  // One row per metric: name, value, and one line on what it measures (from the payload, shared with the terminal).
  function metricsView(u, metrics, meanings) {
    var rows = [];
    ["r2", "mse", "wasserstein", "fraction_nonzero", "sparsity_ratio", "stability"].forEach(function (k) {
      if (finite(metrics[k])) rows.push([k, u.fixed(metrics[k], 3), meanings[k]]);
    });
    var fid = metrics.fidelity;
    if (fid && finite(fid.accuracy)) {
      rows.push(["fidelity accuracy", u.fixed(fid.accuracy, 3) + (fid.texts ? " (" + fid.texts + " texts)" : ""),
        meanings["fidelity accuracy"]]);
    }
    if (fid && finite(fid.kl)) rows.push(["fidelity KL (nats)", u.fixed(fid.kl, 4), meanings["fidelity KL"]]);
    var table = u.el("table", "tx-cc-metrics");
    rows.forEach(function (r) {
      var tr = u.el("tr");
      tr.appendChild(u.el("th", null, r[0]));
      tr.appendChild(u.el("td", "tx-num", r[1]));
      tr.appendChild(u.el("td", "tx-note", r[2] || ""));
      table.appendChild(tr);
    });
    return table;
  }

  // The concepts that fire in one explained text: code, ablation (bar) and concept × gradient, strongest first.
  function contributionsView(u, value, example, top) {
    var concepts = (value.interpretation || {}).concepts || [];
    var rows = (example.concepts || []).slice(0, top);
    var peak = peakOf(rows.map(function (c) { return c.ablation; }));
    var table = u.el("table", "tx-cc-fire");
    var head = u.el("tr");
    ["concept", "top words", "code", "ablation", "concept × gradient"].forEach(function (h) {
      head.appendChild(u.el("th", null, h));
    });
    table.appendChild(head);
    rows.forEach(function (c) {
      var tr = u.el("tr");
      var entry = concepts[c.index] || {};
      tr.appendChild(u.el("td", "tx-cc-name", conceptName(u, { index: c.index, label: c.label || entry.label })));
      tr.appendChild(u.el("td", "tx-cc-words", (c.top_words || []).join(", ") || "–"));
      tr.appendChild(u.el("td", "tx-num", u.fixed(c.code, 3)));
      var cell = u.el("td", "tx-num tx-cc-abl", u.signed(c.ablation));
      if (finite(c.ablation)) cell.style.background = u.signedColour(c.ablation, peak / 0.85);
      tr.appendChild(cell);
      tr.appendChild(u.el("td", "tx-num", u.signed(c.concept_x_gradient)));
      table.appendChild(tr);
    });
    return table;
  }

  function explainView(u, value, example) {
    var box = u.el("section", "tx-cc-explain");
    box.appendChild(u.el("h2", null, "One text in terms of concepts"));
    box.appendChild(exampleView(u, value, example));
    box.appendChild(u.el("p", "tx-note",
      "Concepts by |ablation|: the drop of the predicted class's logit when the concept is removed at the layer " +
      "(positive = it supports the prediction); code = how strongly it fires in this text; concept × gradient = " +
      "code × ∂logit/∂code."));
    box.appendChild(contributionsView(u, value, example, HEAT_ROWS));
    return box;
  }

  function render(value, data, u) {
    var meta = value.meta || {};
    var classes = meta.labels || [];
    var perClass = (value.importance || {}).per_class || {};
    var kinds = KINDS.filter(function (k) { return u.own(perClass, k[0]); });
    var state = {
      cls: meta["class"] && classes.indexOf(meta["class"]) >= 0 ? classes.indexOf(meta["class"]) : 0,
      kind: kinds.length ? kinds[0][0] : "ablation",
      open: null
    };
    var section = u.el("section", "tx-concepts");
    var examples = value.examples || [];
    var explaining = value.view === "explain" && examples.length > 0;
    if (explaining) section.appendChild(explainView(u, value, examples[0]));
    section.appendChild(u.el("h2", null, explaining ? "The concepts" : "Concepts"));
    section.appendChild(u.el("div", "tx-meta", meta.method + " × " + meta.n_concepts + " at " + meta.site + " (" +
      meta.granularity + "), fitted on " + meta.texts_used + " texts" +
      (meta["class"] ? " predicted " + meta["class"] : "")));
    section.appendChild(metricsView(u, value.metrics || {}, value.metric_meanings || {}));
    var body = u.el("div");
    var classButtons = classes.map(function (name, i) {
      return u.button(name, i === state.cls, function () {
        state.cls = i;
        classButtons.forEach(function (b, j) { b.setAttribute("aria-pressed", j === i ? "true" : "false"); });
        classView(u, value, state, body);
      }, "tx-cc-class");
    });
    var kindButtons = kinds.map(function (k) {
      var b = u.button(k[1], k[0] === state.kind, function () {
        state.kind = k[0];
        kindButtons.forEach(function (x, j) { x.setAttribute("aria-pressed", kinds[j][0] === k[0] ? "true" : "false"); });
        classView(u, value, state, body);
      });
      b.title = k[2];
      return b;
    });
    var controls = u.el("div", "tx-toolbar");
    controls.appendChild(u.group("class", classButtons));
    if (kindButtons.length) controls.appendChild(u.group("importance", kindButtons));
    section.appendChild(controls);
    section.appendChild(u.el("p", "tx-note",
      "Concepts ranked by their mean importance for the class over the texts predicted as it; click one for its " +
      "top words and inputs."));
    section.appendChild(body);
    classView(u, value, state, body);
    var deletion = deletionView(u, value.deletion);
    if (deletion) section.appendChild(deletion);
    if (examples.length && !explaining) {
      section.appendChild(u.el("h3", null, "Concepts over a text's words"));
      examples.forEach(function (ex) { section.appendChild(exampleView(u, value, ex)); });
    }
    return section;
  }

  TX.sections.push({ key: "concepts", render: render });
})();
