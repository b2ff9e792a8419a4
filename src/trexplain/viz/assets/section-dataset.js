/* trexplain report plug-in: the dataset views of a run (`payload.dataset`, from trexplain.runs.summary).
   Per method: the words that matter per class (mean score with its t-interval, frequency, a class selector and
   a bar chart with interval whiskers), words with the largest total and mean relevance per predicted class,
   word relevance by class, faithfulness distributions, plausibility against human rationales, and lists
   worth a look.
   Every string reaches the page through textContent. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.sections = TX.sections || [];

  var LISTS = [
    ["lowest_confidence", "Lowest-confidence predictions", "confidence"],
    ["highest_identity_error", "Highest identity errors", "error"],
    ["method_disagreement", "Methods disagree most (mean Spearman ρ of word scores)", "correlation"],
    ["special_or_punctuation", "Driven by special tokens or punctuation (share of |relevance|)", "share"]
  ];
  var METRICS = [
    ["comprehensiveness", "AOPC comprehensiveness (↑)"],
    ["sufficiency", "AOPC sufficiency (↓)"],
    ["identity_error", "identity error (↓)"]
  ];

  var CHART_WORDS = 10;  // bars per direction in the chart of words that matter

  function num(v, d) { return typeof v === "number" && isFinite(v) ? v.toFixed(d) : "–"; }
  function percent(v) { return typeof v === "number" && isFinite(v) ? (100 * v).toFixed(1) + "%" : "–"; }

  function table(util, head, rows) {
    var t = util.el("table", "tx-table tx-ds-table");
    var tr = util.el("tr");
    head.forEach(function (h) { tr.appendChild(util.el("th", h === "text" ? "tx-ds-text" : null, h)); });
    t.appendChild(tr);
    rows.forEach(function (cells) {
      var line = util.el("tr");
      cells.forEach(function (c) {
        var td = util.el("td", c && c.cls ? c.cls : null, c && typeof c === "object" ? c.text : c);
        if (c && c.bg) td.style.background = c.bg;
        if (c && c.title) td.title = c.title;
        line.appendChild(td);
      });
      t.appendChild(line);
    });
    return t;
  }

  function wordTables(util, words) {
    var box = util.el("div", "tx-ds-classes");
    Object.keys(words).forEach(function (label) {
      var card = util.el("div", "tx-ds-class");
      card.appendChild(util.el("h3", null, "predicted " + label));
      [["total", "largest total relevance"], ["mean", "largest mean relevance"]].forEach(function (kind) {
        card.appendChild(util.el("div", "tx-ds-caption", kind[1]));
        if (!words[label][kind[0]].length) {
          card.appendChild(util.el("p", "tx-ds-caption", "no word seen often enough"));
          return;
        }
        card.appendChild(table(util, ["word", "total", "mean", "count"], words[label][kind[0]].map(function (r) {
          return [{ text: r.word, cls: "tx-ds-word" }, num(r.total, 3), num(r.mean, 3), String(r.count)];
        })));
      });
      box.appendChild(card);
    });
    return box;
  }

  function wordChart(util, entry) {
    var rows = entry["for"].slice(0, CHART_WORDS).concat(entry.against.slice(0, CHART_WORDS));
    var peak = 0;
    rows.forEach(function (r) { peak = Math.max(peak, Math.abs(r.low), Math.abs(r.high)); });
    var LABEL = 170, W = 360, ROW = 18, H = rows.length * ROW + 18, mid = LABEL + W / 2;
    var scale = peak > 0 ? (W / 2 - 6) / peak : 0;
    var s = util.svg("svg", { width: LABEL + W, height: H, viewBox: "0 0 " + (LABEL + W) + " " + H, role: "img",
      "class": "tx-gw-chart" });
    s.appendChild(util.svg("line", { x1: mid, x2: mid, y1: 0, y2: H - 16, stroke: "#57606a" }));
    rows.forEach(function (r, i) {
      var y = i * ROW, x = mid + scale * Math.min(0, r.mean), width = Math.max(1, scale * Math.abs(r.mean));
      var name = util.svg("text", { x: LABEL - 6, y: y + 13, "text-anchor": "end", "font-size": 11, "class": "tx-gw-label" });
      name.textContent = r.word.length > 24 ? r.word.slice(0, 23) + "…" : r.word;
      var bar = util.svg("rect", { x: x, y: y + 3, width: width, height: ROW - 6, fill: util.cssColour(r.mean >= 0 ? util.POS : util.NEG),
        "fill-opacity": 0.75 });
      var tip = util.svg("title");
      tip.textContent = r.word + ": " + num(r.mean, 3) + " [" + num(r.low, 3) + ", " + num(r.high, 3) + "], " + r.count + " texts";
      bar.appendChild(tip);
      var whisker = util.svg("path", { d: "M" + (mid + scale * r.low) + " " + (y + ROW / 2) + "H" + (mid + scale * r.high) +
        "M" + (mid + scale * r.low) + " " + (y + 5) + "v" + (ROW - 10) + "M" + (mid + scale * r.high) + " " + (y + 5) + "v" +
        (ROW - 10), stroke: "#24292f", fill: "none", "class": "tx-gw-whisker" });
      [name, bar, whisker].forEach(function (n) { s.appendChild(n); });
    });
    [[LABEL, "start", -peak], [mid, "middle", 0], [LABEL + W, "end", peak]].forEach(function (a) {
      var t = util.svg("text", { x: a[0], y: H - 3, "text-anchor": a[1], "font-size": 11 });
      t.textContent = num(a[2], 3);
      s.appendChild(t);
    });
    return s;
  }

  function wordRows(util, rows) {
    return table(util, ["word", "mean ± CI", "frequency", "n"], rows.map(function (r) {
      var crosses = r.low <= 0 && r.high >= 0;
      return [{ text: r.word, cls: "tx-ds-word" },
        { text: num(r.mean, 3) + " ± " + num((r.high - r.low) / 2, 3), cls: crosses ? "tx-gw-weak" : null,
          title: "interval " + num(r.low, 3) + " to " + num(r.high, 3) + (crosses ? " (holds zero)" : "") },
        { text: percent(r.frequency), title: r.occurrences + " occurrences" }, String(r.count)];
    }));
  }

  function globalWords(util, found, minCount, confidence) {
    var box = util.el("div", "tx-gw");
    var classes = Object.keys(found);
    box.appendChild(util.el("p", "tx-ds-caption", "A word's score in a text is the mean of its occurrences there; " +
      "the mean over the class's texts that hold it comes with its " + Math.round(1000 * confidence) / 10 + "% t-interval over those " +
      "texts (grey where it holds zero). Minimum count: only words held by at least " + minCount + " texts are ranked."));
    if (!classes.length) return box;
    var body = util.el("div");
    var buttons = [];
    function show(label) {
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", b.textContent === label ? "true" : "false"); });
      body.textContent = "";
      var entry = found[label];
      body.appendChild(util.el("div", "tx-ds-caption", entry.texts + " texts explained for " + label + " · " +
        entry.ranked + " words held by at least " + minCount + " of them"));
      if (!entry["for"].length && !entry.against.length) {
        body.appendChild(util.el("p", "tx-ds-caption", "no word seen often enough"));
        return;
      }
      body.appendChild(wordChart(util, entry));
      var lists = util.el("div", "tx-ds-classes");
      [["for", "supporting " + label + " (mean above zero)"], ["against", "opposing " + label + " (mean below zero)"]]
        .forEach(function (kind) {
          var card = util.el("div", "tx-ds-class tx-gw-" + kind[0]);
          card.appendChild(util.el("div", "tx-ds-caption", kind[1]));
          card.appendChild(entry[kind[0]].length ? wordRows(util, entry[kind[0]]) : util.el("p", "tx-ds-caption", "none"));
          lists.appendChild(card);
        });
      body.appendChild(lists);
    }
    classes.forEach(function (c) { buttons.push(util.button(c, false, function () { show(c); }, "tx-gw-class")); });
    box.appendChild(util.group("class", buttons));
    box.appendChild(body);
    show(classes[0]);
    return box;
  }

  function byClass(util, grid) {
    var peak = 0;
    grid.mean.forEach(function (row) { row.forEach(function (v) { if (v !== null) peak = Math.max(peak, Math.abs(v)); }); });
    return table(util, ["word"].concat(grid.classes.map(function (c) { return "mean when " + c; })),
      grid.words.map(function (w, i) {
        return [{ text: w, cls: "tx-ds-word" }].concat(grid.mean[i].map(function (v, j) {
          return v === null ? "–" : { text: num(v, 3), bg: util.signedColour(v, peak), title: grid.count[i][j] + " occurrences" };
        }));
      }));
  }

  function histogram(util, label, h) {
    var box = util.el("div", "tx-ds-hist");
    box.appendChild(util.el("div", "tx-ds-caption", label + " · n " + h.n + " · mean " + num(h.mean, 3) + " · median " + num(h.median, 3)));
    if (!h.counts.length) return box;
    var W = 260, H = 80, top = Math.max.apply(null, h.counts) || 1, bw = W / h.counts.length;
    var s = util.svg("svg", { width: W, height: H + 16, viewBox: "0 0 " + W + " " + (H + 16), role: "img" });
    h.counts.forEach(function (c, i) {
      var bh = H * c / top;
      var r = util.svg("rect", { x: i * bw + 0.5, y: H - bh, width: Math.max(1, bw - 1), height: bh, fill: "rgb(9,105,218)" });
      var tip = util.svg("title");
      tip.textContent = num(h.edges[i], 3) + " to " + num(h.edges[i + 1], 3) + ": " + c;
      r.appendChild(tip);
      s.appendChild(r);
    });
    [[0, "start", h.edges[0]], [W, "end", h.edges[h.edges.length - 1]]].forEach(function (a) {
      var t = util.svg("text", { x: a[0], y: H + 13, "text-anchor": a[1], "font-size": 11 });
      t.textContent = num(a[2], 3);
      s.appendChild(t);
    });
    box.appendChild(s);
    return box;
  }

  function lists(util, found, method) {
    var box = util.el("div");
    LISTS.forEach(function (spec) {
      var entries = (found[spec[0]] || []).filter(function (e) { return !e.method || e.method === method; });
      if (!entries.length) return;
      box.appendChild(util.el("h3", null, spec[1]));
      box.appendChild(table(util, ["id", "text", "predicted", spec[2]], entries.map(function (e) {
        return [e.id, { text: e.text, cls: "tx-ds-text", title: e.text }, e.predicted, num(e[spec[2]], 3)];
      })));
    });
    return box;
  }

  function render(value, data, util) {
    var box = util.el("section", "tx-dataset");
    box.appendChild(util.el("h2", null, "Across the dataset"));
    box.appendChild(util.el("p", null, value.texts + " texts explained by " + value.methods.join(", ") +
      " with " + value.model + ". Word relevance is each text's predicted class, summed over a word's tokens " +
      "(words lower-cased; mean relevance among words seen at least " + value.min_count + " times)."));
    if (value.plausibility) {
      box.appendChild(util.el("h3", null, "Plausibility against human rationales (ERASER, word level)"));
      box.appendChild(table(util, ["method", "texts", "token F1 macro", "token F1 micro", "IOU F1 macro", "IOU F1 micro", "AUPRC"],
        value.plausibility.map(function (r) {
          return [r.method, String(r.texts), num(r.token_f1_macro, 3), num(r.token_f1_micro, 3), num(r.iou_f1_macro, 3),
            num(r.iou_f1_micro, 3), num(r.auprc, 3)];
        })));
    }
    var body = util.el("div");
    var buttons = [];
    function show(method) {
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", b.textContent === method ? "true" : "false"); });
      body.textContent = "";
      if (value.global_words && value.global_words[method]) {
        body.appendChild(util.el("h3", null, "Words that matter, per class · " + method));
        body.appendChild(globalWords(util, value.global_words[method], value.min_count, value.confidence));
      }
      body.appendChild(util.el("h3", null, "Words per predicted class · " + method));
      body.appendChild(wordTables(util, value.words[method]));
      body.appendChild(util.el("h3", null, "Word relevance by predicted class (the most frequent words)"));
      body.appendChild(byClass(util, value.by_class[method]));
      if (value.faithfulness && value.faithfulness[method]) {
        body.appendChild(util.el("h3", null, "Faithfulness over the dataset (predicted class)"));
        var row = util.el("div", "tx-ds-hists");
        METRICS.forEach(function (m) {
          if (value.faithfulness[method][m[0]]) row.appendChild(histogram(util, m[1], value.faithfulness[method][m[0]]));
        });
        body.appendChild(row);
      }
      body.appendChild(lists(util, value.lists, method));
    }
    value.methods.forEach(function (m) { buttons.push(util.button(m, false, function () { show(m); }, "tx-ds-method")); });
    if (value.methods.length > 1) box.appendChild(util.group("method", buttons));
    box.appendChild(body);
    show(value.methods[0]);
    return box;
  }

  TX.sections.push({ key: "dataset", render: render });
})();
