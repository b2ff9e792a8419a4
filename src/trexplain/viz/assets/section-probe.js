/* trexplain probe section: the original and the edited text one above the other, each highlighted by its own
   explanation (green supports, red opposes its predicted class), changed words outlined, with both predictions,
   the word diff and what the search cost. Strings reach the page by textContent only. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.sections = TX.sections || [];

  function prediction(util, labels, probabilities, predicted) {
    var line = util.el("span", "tx-probe-pred");
    labels.forEach(function (name, i) {
      var part = util.el(i === labels.indexOf(predicted) ? "strong" : "span", null,
        name + " " + util.fixed(probabilities[i], 2));
      line.appendChild(part);
      if (i + 1 < labels.length) line.appendChild(document.createTextNode("  "));
    });
    return line;
  }

  function words(explanation) {
    // The word scores of the explanation's first entry, as {start, end, score} spans of its text.
    var entry = explanation && explanation.entries && explanation.entries[0];
    return entry && Array.isArray(entry.words) ? entry.words : [];
  }

  function changedSpans(segments, side) {
    // Character spans, in the original or the edited text, of the words the probe changed.
    var spans = [], cursor = 0;
    segments.forEach(function (piece) {
      var text = String(piece[side]);
      if (piece.original !== piece.edited && text.length) spans.push([cursor, cursor + text.length]);
      cursor += text.length;
    });
    return spans;
  }

  function highlighted(util, text, scored, changed) {
    var box = util.el("div", "tx-probe-text");
    var peak = scored.reduce(function (m, w) { return Math.max(m, Math.abs(w.score)); }, 0);
    var cursor = 0;
    scored.forEach(function (w) {
      if (w.start > cursor) box.appendChild(document.createTextNode(text.slice(cursor, w.start)));
      var span = util.el("span", "tx-probe-word", text.slice(w.start, w.end));
      span.style.background = util.signedColour(w.score, peak);
      span.title = util.precise ? util.precise(w.score) : String(w.score);
      if (changed.some(function (c) { return c[0] < w.end && w.start < c[1]; })) span.classList.add("tx-probe-changed");
      box.appendChild(span);
      cursor = w.end;
    });
    if (cursor < text.length) box.appendChild(document.createTextNode(text.slice(cursor)));
    return box;
  }

  function diff(util, segments) {
    var line = util.el("div", "tx-probe-diff");
    segments.forEach(function (piece) {
      if (piece.original === piece.edited) {
        line.appendChild(document.createTextNode(piece.original));
        return;
      }
      line.appendChild(util.el("del", null, piece.original));
      line.appendChild(util.el("ins", null, piece.edited === "" ? "∅" : piece.edited));
    });
    return line;
  }

  function render(probe, data, util) {
    var section = util.el("section", "tx-section tx-probe");
    section.appendChild(util.el("h2", null, "Probe"));
    var goal = probe.target === null ? "change the prediction" : "reach " + probe.target;
    var verdict = util.el("p", probe.success ? "tx-probe-ok" : "tx-probe-fail",
      (probe.success ? "success: " : "no success (best attempt shown): ") + goal);
    section.appendChild(verdict);
    section.appendChild(diff(util, probe.segments || []));
    var explanations = probe.explanations || [];
    [["original", probe.original, probe.original_prediction, probe.original_probabilities],
     ["edited", probe.edited, probe.new_prediction, probe.new_probabilities]].forEach(function (row, i) {
      var block = util.el("div", "tx-probe-row");
      var head = util.el("div", "tx-probe-head");
      head.appendChild(util.el("span", "tx-probe-label", row[0]));
      head.appendChild(prediction(util, probe.labels, row[3], row[2]));
      block.appendChild(head);
      block.appendChild(highlighted(util, row[1], words(explanations[i]),
        changedSpans(probe.segments || [], i === 0 ? "original" : "edited")));
      section.appendChild(block);
    });
    var method = explanations.length ? explanations[0].entries[0].method : "";
    section.appendChild(util.el("p", "tx-probe-cost",
      probe.queries + " queries (" + probe.ranking_queries + " ranking + " + probe.search_queries + " search) of " +
      (probe.budget === null ? "unlimited" : probe.budget) + " · " + probe.attribution_passes +
      " attribution passes · " + probe.words_changed + "/" + probe.words_total + " words changed · ranking " +
      probe.ranking + " · edits " + probe.edits.join(", ") + (method ? " · highlights: " + method + " for each text's own prediction (green supports it, red opposes it)" : "")));
    return section;
  }

  TX.sections.push({ key: "probe", render: render });
})();
