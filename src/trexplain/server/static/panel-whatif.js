/* Panel "What if": click a word to remove or replace it and see the prediction and scores move; the removal
   curve of the current ranking (an evaluate job with progress and cancel). */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  var memo = { base: null, text: null };  // the original text and its edited form

  function probabilities(entry, el, before) {
    var box = el("div", "app-whatif-probs");
    entry.labels.forEach(function (label, c) {
      var p = entry.probabilities[c];
      var item = el("span", "app-delta" + (c === entry.predicted ? " app-predicted" : ""));
      var text = label + " " + p.toFixed(3);
      if (before) {
        var d = p - before.probabilities[c];
        text += " (" + (d >= 0 ? "+" : "") + d.toFixed(3) + ")";
      }
      item.textContent = text;
      box.appendChild(item);
    });
    return box;
  }

  TX.panels.push({
    key: "whatif",
    title: "What if",
    order: 20,
    render: function (ctx, body) {
      var U = ctx.util, el = U.el;
      if (!ctx.state.text) { body.appendChild(el("p", "tx-note", "Type a text above and press Explain.")); return; }
      if (memo.base !== ctx.state.text) { memo.base = ctx.state.text; memo.text = ctx.state.text; }
      var view = el("div", "app-view");
      var last = null;
      body.appendChild(ctx.exportBar("what-if", view, function () { return last; }));
      body.appendChild(view);
      var head = el("div", "app-whatif-head");
      var words = el("div", "app-words");
      var editor = el("div", "app-editor");
      var card = el("div", "app-whatif-card");
      var curve = el("div", "app-curve");
      view.appendChild(head);
      view.appendChild(el("p", "tx-note", "Click a word to remove or replace it; the prediction and the scores update."));
      view.appendChild(words);
      view.appendChild(editor);
      view.appendChild(card);

      function edit(start, end, replacement) {
        memo.text = memo.text.slice(0, start) + replacement + memo.text.slice(end);
        memo.text = memo.text.replace(/ {2,}/g, " ").trim() || memo.text;
        show();
      }

      function show() {
        head.textContent = "Working…";
        Promise.all([ctx.explain(memo.base), ctx.explain(memo.text)]).then(function (both) {
          var before = both[0].texts[0], now = both[1].texts[0];
          last = { original: both[0], edited: both[1] };
          head.textContent = "";
          var line1 = el("div", "app-whatif-line");
          line1.appendChild(el("b", null, "original: "));
          line1.appendChild(probabilities(before, el, null));
          head.appendChild(line1);
          var line2 = el("div", "app-whatif-line app-whatif-now");
          line2.appendChild(el("b", null, "edited: "));
          line2.appendChild(probabilities(now, el, before));
          head.appendChild(line2);
          var reset = U.button("reset", false, function () { memo.text = memo.base; show(); }, "app-reset");
          reset.disabled = memo.text === memo.base;
          head.appendChild(reset);
          words.textContent = "";
          now.words.forEach(function (span, i) {
            var b = U.button(now.text.slice(span[0], span[1]), false, function () { open(span); }, "app-word");
            b.dataset.i = String(i);
            words.appendChild(b);
          });
          card.textContent = "";
          ctx.render(both[1], card);
        }, function (e) { head.textContent = ""; ctx.error(head, e); });
      }

      function open(span) {
        editor.textContent = "";
        var input = el("input", "app-replace");
        input.value = memo.text.slice(span[0], span[1]);
        input.setAttribute("aria-label", "replacement");
        editor.appendChild(el("span", "tx-note", "word “" + input.value + "”: "));
        editor.appendChild(U.button("remove", false, function () { editor.textContent = ""; edit(span[0], span[1], ""); }, "app-remove"));
        editor.appendChild(input);
        editor.appendChild(U.button("replace", false, function () {
          editor.textContent = "";
          edit(span[0], span[1], input.value);
        }, "app-apply"));
        input.focus();
      }

      var run = U.button("removal curve of this ranking", false, function () {
        curve.textContent = "";
        var line = el("div", "app-progress", "starting…");
        var task = ctx.job("/api/evaluate", { texts: [memo.text], model: ctx.model().name, methods: ctx.methods().slice(0, 1),
          target: ctx.target(), format: "report" }, function (s) { line.textContent = ctx.progressLine(s); });
        var stop = U.button("cancel", false, function () { task.cancel(); }, "app-cancel");
        curve.appendChild(line);
        curve.appendChild(stop);
        task.promise.then(function (payload) {
          curve.textContent = "";
          last = payload;
          card.textContent = "";  // the edited text's card again, now with its curves and the method table
          ctx.render(payload, card);
          var details = card.querySelector("details.tx-curves");
          if (details) details.open = true;
        }, function (e) { curve.textContent = ""; ctx.error(curve, e); });
      }, "app-curve-run");
      view.insertBefore(run, card);
      view.insertBefore(curve, card);
      show();
    }
  });
})();
