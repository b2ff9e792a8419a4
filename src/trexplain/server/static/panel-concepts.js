/* Panel "Concepts" (shown when serve runs with --concepts DIR): a concept folder drawn by the report's concepts
   section (section-concepts.js, through trexplain.render): per class its concepts ranked by importance with
   their top words and labels, each concept's top inputs; with a text, which concepts fire in it and how much
   each contributes to its prediction (a table, and the section's concept × token heatmap). */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  var memo = { name: "", key: null, result: null };

  function contributions(U, result) {
    var el = U.el;
    var box = el("div", "app-concepts-fire");
    var probs = result.probabilities || {};
    box.appendChild(el("p", "tx-note", "predicted " + result.predicted + " (" + U.fixed(probs[result.predicted], 3) +
      "); concepts by |ablation|: the drop of the predicted class's logit when the concept is removed"));
    var t = el("table", "app-table app-concepts-table");
    var head = el("tr");
    ["concept", "label", "top words", "code", "ablation", "concept × gradient"].forEach(function (h) {
      head.appendChild(el("th", null, h));
    });
    t.appendChild(head);
    (result.concepts || []).slice(0, 10).forEach(function (c) {
      var tr = el("tr", "app-concepts-row");
      tr.dataset.index = String(c.index);
      [String("#" + c.index), c.label || "–", (c.top_words || []).join(", ") || "–", U.fixed(c.code, 3),
        U.fixed(c.ablation, 4), U.fixed(c.concept_x_gradient, 4)].forEach(function (v, i) {
        var td = el("td", i === 2 ? "app-cell-text" : null, v);
        if (i === 4) td.style.background = U.signedColour(c.ablation, Math.max.apply(null,
          result.concepts.map(function (x) { return Math.abs(x.ablation) || 0; })) || 1);
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    box.appendChild(t);
    return box;
  }

  TX.panels.push({
    key: "concepts",
    title: "Concepts",
    order: 65,
    available: function (ctx) { return !!(ctx.info.capabilities || {}).concepts; },
    render: function (ctx, body) {
      var U = ctx.util, el = U.el;
      var folders = ctx.info.concepts || [];
      if (!memo.name || !folders.some(function (f) { return f.name === memo.name; })) memo.name = folders[0].name;
      var bar = el("div", "app-row");
      var pick = document.createElement("select");
      pick.className = "app-concepts-folder";
      pick.setAttribute("aria-label", "concept folder");
      folders.forEach(function (f) {
        var o = document.createElement("option");
        o.value = f.name;
        o.textContent = f.name + " · " + f.method + " × " + f.n_concepts + " at " + f.site + " · " + f.model;
        o.selected = f.name === memo.name;
        pick.appendChild(o);
      });
      pick.addEventListener("change", function () { memo.name = pick.value; memo.key = null; show(); });
      bar.appendChild(el("span", "app-label", "concepts"));
      bar.appendChild(pick);
      body.appendChild(bar);
      var status = el("div", "app-progress");
      body.appendChild(status);
      var view = el("div", "app-view");
      body.appendChild(ctx.exportBar("concepts", view, function () { return memo.result; }));
      body.appendChild(view);

      function show() {
        var folder = folders.filter(function (f) { return f.name === memo.name; })[0];
        var text = ctx.state.text;
        var key = memo.name + "\u0000" + text;
        if (memo.key === key && memo.result) return draw(memo.result);
        view.textContent = "";
        status.textContent = text ? "explaining the text with " + memo.name + "…" : "loading " + memo.name + "…";
        var call = text ? ctx.api("/api/concepts/explain", { text: text, concepts: memo.name }) :
          ctx.api("/api/concepts?name=" + encodeURIComponent(memo.name));
        call.then(function (r) {
          memo.key = key;
          memo.result = r;
          status.textContent = "";
          draw(r);
        }, function (e) { status.textContent = ""; ctx.error(status, e); });
        if (folder && folder.model !== ctx.model().name) {
          bar.appendChild(el("span", "tx-note", "these concepts belong to " + folder.model));
        }
      }

      function draw(r) {
        view.textContent = "";
        if (!ctx.state.text) view.appendChild(el("p", "tx-note", "Type a text above to see which concepts fire in it."));
        if (r.result) view.appendChild(contributions(U, r.result));
        var drawn = el("div", "app-concepts-view");
        view.appendChild(drawn);
        ctx.render(r.payload, drawn);
      }
      show();
    }
  });
})();
