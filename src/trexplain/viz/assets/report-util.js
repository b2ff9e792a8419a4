/* trexplain report renderer, part "util": shared constants and helpers of the report renderer: elements, numbers,
   colours, buttons, the per-text values and the diagnostics' meanings. viz/html.py inlines the parts (report-*.js,
   in the order of its REPORT_PARTS), then the section-*.js plug-ins, then report.js; the parts share their names
   on window.trexplain.report. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  var REPORT = TX.report = TX.report || {};

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
  function methodInfo(name) { return own(REPORT.data.methods, name) ? REPORT.data.methods[name] : {}; }
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



  REPORT.PAGE_SIZE = PAGE_SIZE; REPORT.POS = POS; REPORT.NEG = NEG; REPORT.ATT = ATT; REPORT.UNSIGNED = UNSIGNED;
  REPORT.THUMB = THUMB; REPORT.HEAD_ROW = HEAD_ROW; REPORT.LINK_FLOOR = LINK_FLOOR; REPORT.LINK_BUDGET =
  LINK_BUDGET; REPORT.CURVES = CURVES; REPORT.SVG_NS = SVG_NS; REPORT.el = el; REPORT.svg = svg; REPORT.isNum =
  isNum; REPORT.signed = signed; REPORT.fixed = fixed; REPORT.colour = colour; REPORT.signedColour = signedColour;
  REPORT.scoreColour = scoreColour; REPORT.tint = tint; REPORT.cssColour = cssColour; REPORT.own = own;
  REPORT.methodInfo = methodInfo; REPORT.isSignedMethod = isSignedMethod; REPORT.siteLabel = siteLabel;
  REPORT.button = button; REPORT.group = group; REPORT.chip = chip; REPORT.short = short; REPORT.units = units;
  REPORT.aggregate = aggregate; REPORT.alongAxis = alongAxis; REPORT.values = values; REPORT.peakOf = peakOf;
  REPORT.MEANINGS = MEANINGS; REPORT.precise = precise; REPORT.shown = shown; REPORT.identityError =
  identityError;
})();
