/* trexplain compare section: several models on the same texts (`payload.comparison`, from
   viz.payload.comparison_payload). Per text, one column per model (its name as heading) and one row per method:
   the words tinted on one colour scale that every model shares for that text and method (stated beside the
   row), each model's top words and base value, and how far each model agrees with the first (Spearman ρ and
   top-k overlap of the shared words, and whether the predicted labels agree). Below, each model's full card
   (tokens, bars, diagnostics) from the shared renderer. Every string reaches the page through textContent. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.sections = TX.sections || [];

  var TOP_WORDS = 3;

  function plural(n, noun) { return n + " " + noun + (n === 1 ? "" : "s"); }
  function percent(part, whole) {
    var p = whole > 0 ? 100 * part / whole : 0;
    return (p >= 1 || p === 0 ? p.toFixed(0) : p.toPrecision(2)) + "%";
  }
  function signedPrecise(R, v) { return R.isNum(v) ? (v >= 0 ? "+" : "") + R.precise(v) : "n/a"; }

  function tinted(R, entry, exp, scale) {
    // The text with each word's background at |score| / scale of the method's colour (first target's scores).
    var box = R.el("div", "tx-text tx-cmp-words");
    var list = R.units(entry, "word");
    var vals = R.values(entry, exp, 0, "word");
    var isSigned = R.isSignedMethod(exp.method);
    var cursor = 0;
    list.forEach(function (u, i) {
      if (u.end <= u.start || u.start < cursor) return;
      if (u.start > cursor) box.appendChild(document.createTextNode(entry.text.slice(cursor, u.start)));
      var span = R.el("span", "tx-u", entry.text.slice(u.start, u.end));
      span.style.backgroundColor = R.scoreColour(isSigned, vals[i], scale);
      span.title = u.label + ": " + R.signed(vals[i]);
      span.dataset.score = String(vals[i]);
      box.appendChild(span);
      cursor = u.end;
    });
    if (cursor < entry.text.length) box.appendChild(document.createTextNode(entry.text.slice(cursor)));
    var own = vals.reduce(function (m, v) { return R.isNum(v) ? Math.max(m, Math.abs(v)) : m; }, 0);
    return { node: box, units: list, values: vals, peak: own };
  }

  function topWords(R, drawn) {
    var order = drawn.values.map(function (_, i) { return i; }).filter(function (i) { return R.isNum(drawn.values[i]); });
    order.sort(function (a, b) { return drawn.values[b] - drawn.values[a] || a - b; });
    return "top: " + order.slice(0, TOP_WORDS).map(function (i) {
      return drawn.units[i].label + " " + signedPrecise(R, drawn.values[i]);
    }).join(", ");
  }

  function agreementText(R, models, a) {
    var rho = R.isNum(a.spearman) ? "ρ " + (a.spearman >= 0 ? "+" : "") + a.spearman.toFixed(2) : "ρ –";
    var top = a.top_k ? "top-" + a.top_k + " overlap " + a.top_k_overlap + "/" + a.top_k : "no shared words";
    return (models.length > 2 ? "vs " + models[a.model] + ": " : "") + rho + " over " +
      plural(a.common_words, "shared word") + " · " + top;
  }

  function predictionCell(R, entry) {
    var td = R.el("td", "tx-cmp-pred");
    var p = entry.probabilities[entry.predicted];
    td.appendChild(R.el("b", null, entry.labels[entry.predicted]));
    td.appendChild(document.createTextNode(" " + R.fixed(p, 2)));
    td.title = entry.labels.map(function (label, c) { return label + " " + R.fixed(entry.probabilities[c], 4); }).join(", ");
    return td;
  }

  function methodRow(R, value, text, item, m) {
    var method = item.method;
    var isSigned = R.isSignedMethod(method);
    var tr = R.el("tr", "tx-cmp-method");
    tr.dataset.method = method;
    var th = R.el("th", "tx-cmp-scale");
    th.appendChild(R.el("div", "tx-cmp-name", method));
    var top = R.precise(item.scale);
    th.appendChild(R.colourBar(isSigned ? [R.NEG, [255, 255, 255], R.POS] : [[255, 255, 255], R.UNSIGNED],
      isSigned ? "−" + top : "0", (isSigned ? "+" : "") + top, isSigned ? "0" : null, null));
    var all = value.models.length === 2 ? "both models" : "all " + value.models.length + " models";
    th.appendChild(R.el("div", "tx-note", "one scale for " + all + ": full colour at |score| " + top +
      " (the largest of any model on this text)"));
    tr.appendChild(th);
    text.entries.forEach(function (entry, j) {
      var exp = entry.explanations[m];
      var td = R.el("td", "tx-cmp-cell");
      td.dataset.model = value.models[j];
      td.dataset.peak = String(item.scale);
      var drawn = tinted(R, entry, exp, item.scale);
      td.appendChild(drawn.node);
      td.appendChild(R.el("div", "tx-note", "scores for " + entry.labels[exp.targets[0]] + "; largest |score| " +
        R.precise(drawn.peak) + " (" + percent(drawn.peak, item.scale) + " of the scale); " + topWords(R, drawn)));
      var base = item.base_values[j];
      if (R.isNum(base)) {
        td.appendChild(R.el("div", "tx-note tx-cmp-base", "base value " + R.precise(base) +
          " (output with every word removed; base + Σ scores = output)"));
      }
      tr.appendChild(td);
    });
    var agree = R.el("td", "tx-cmp-agree");
    item.agreement.forEach(function (a) { agree.appendChild(R.el("div", null, agreementText(R, value.models, a))); });
    tr.appendChild(agree);
    return tr;
  }

  function fullCards(R, value, text, number) {
    var details = R.el("details", "tx-section tx-cmp-cards");
    details.appendChild(R.el("summary", null, "Tokens, bars and diagnostics per model (each card on its own scale)"));
    details.addEventListener("toggle", function () {
      if (!details.open || details.childNodes.length > 1) return;
      var row = R.el("div", "tx-cmp-columns");
      text.entries.forEach(function (entry, j) {
        var column = R.el("div", "tx-cmp-column");
        column.appendChild(R.el("h3", null, value.models[j]));
        column.appendChild(new R.Card(entry, number).node);
        row.appendChild(column);
      });
      details.appendChild(row);
    });
    return details;
  }

  function textCard(R, value, text, i) {
    var card = R.el("article", "tx-card tx-cmp-text");
    card.dataset.index = String(i);
    var head = R.el("div", "tx-head");
    head.appendChild(R.el("span", "tx-num", "#" + (i + 1)));
    head.appendChild(R.el("span", "tx-cmp-quote", text.text));
    card.appendChild(head);
    var table = R.el("table", "tx-table tx-cmp-grid");
    var names = R.el("tr");
    names.appendChild(R.el("th", null, "method · scale"));
    value.models.forEach(function (name) { names.appendChild(R.el("th", "tx-cmp-model", name)); });
    names.appendChild(R.el("th", null, "agreement with " + value.models[0]));
    table.appendChild(names);
    var prediction = R.el("tr", "tx-cmp-prediction");
    prediction.appendChild(R.el("th", null, "prediction"));
    text.entries.forEach(function (entry) { prediction.appendChild(predictionCell(R, entry)); });
    prediction.appendChild(R.el("td", "tx-cmp-labels " + (text.labels_agree ? "tx-cmp-same" : "tx-cmp-differ"),
      text.labels_agree ? "same predicted label" : "predicted labels differ"));
    table.appendChild(prediction);
    text.methods.forEach(function (item, m) {
      table.appendChild(methodRow(R, value, text, item, m));
    });
    var wrap = R.el("div", "tx-cmp-wrap");
    wrap.appendChild(table);
    card.appendChild(wrap);
    card.appendChild(fullCards(R, value, text, i));
    return card;
  }

  function render(value) {
    var R = TX.report;
    var section = R.el("section", "tx-cmp");
    section.appendChild(R.el("h2", null, "Models side by side"));
    section.appendChild(R.el("div", "tx-meta tx-cmp-count", plural(value.texts.length, "text") + " · " +
      plural(value.models.length, "model") + " · " + plural(value.methods.length, "method") + ": " +
      value.methods.join(", ")));
    section.appendChild(R.el("p", "tx-note", "Green supports, red opposes the class each model explains (its " +
      "prediction); unsigned methods in purple, darker = more important. Within a text and method every model is " +
      "coloured on the same scale, so a model with small scores looks pale. Agreement: Spearman ρ of the word " +
      "scores and the overlap of the top words, over the words both models' texts share."));
    value.texts.forEach(function (text, i) { section.appendChild(textCard(R, value, text, i)); });
    return section;
  }

  TX.sections.push({ key: "comparison", render: render });
})();
