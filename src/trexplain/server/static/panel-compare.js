/* Panel "Two models": the same text, methods and class explained by two served models side by side. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  TX.panels.push({
    key: "compare",
    title: "Two models",
    order: 40,
    available: function (ctx) { return ctx.info.models.length > 1; },
    render: function (ctx, body) {
      var el = ctx.util.el;
      var first = ctx.model().name;
      var others = ctx.info.models.map(function (m) { return m.name; }).filter(function (n) { return n !== first; });
      var second = others.indexOf(ctx.state.model2) >= 0 ? ctx.state.model2 : others[0];
      var pick = document.createElement("select");
      pick.className = "app-model2";
      pick.setAttribute("aria-label", "second model");
      others.forEach(function (n) {
        var o = document.createElement("option");
        o.value = n;
        o.textContent = n;
        o.selected = n === second;
        pick.appendChild(o);
      });
      pick.addEventListener("change", function () { ctx.set({ model2: pick.value }); });
      var bar = el("div", "app-row");
      bar.appendChild(el("span", "app-label", first + " beside"));
      bar.appendChild(pick);
      body.appendChild(bar);
      if (!ctx.state.text) { body.appendChild(el("p", "tx-note", "Type a text above and press Explain.")); return; }
      var view = el("div", "app-view app-columns", "Explaining with both models…");
      var last = null;
      body.appendChild(ctx.exportBar("compare", view, function () { return last; }));
      body.appendChild(view);
      ctx.api("/api/compare", { text: ctx.state.text, models: [first, second], methods: ctx.methods(),
        target: ctx.target(), format: "report" }).then(function (r) {
        last = r;
        view.textContent = "";
        r.results.forEach(function (payload, i) {
          var column = el("div", "app-column");
          column.appendChild(el("h3", null, r.models[i]));
          var drawn = el("div");
          column.appendChild(drawn);
          view.appendChild(column);
          ctx.render(payload, drawn);
        });
      }, function (e) { view.textContent = ""; ctx.error(view, e); });
    }
  });
})();
