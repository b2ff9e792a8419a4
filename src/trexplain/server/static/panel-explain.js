/* Panel "Explanation": prediction, highlighted text, bars and relevance by layer, drawn by the report's renderer. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  TX.panels.push({
    key: "explain",
    title: "Explanation",
    order: 10,
    render: function (ctx, body) {
      var el = ctx.util.el;
      if (!ctx.state.text) { body.appendChild(el("p", "tx-note", "Type a text above and press Explain.")); return; }
      var view = el("div", "app-view", "Explaining…");
      var last = null;
      body.appendChild(ctx.exportBar("explanation", view, function () { return last; }));
      body.appendChild(view);
      ctx.explain().then(function (payload) {
        last = payload;
        view.textContent = "";
        ctx.render(payload, view);
        var flow = view.querySelector("details.tx-flow");  // relevance by layer: open it, the view asks for it
        if (flow) flow.open = true;
      }, function (e) { view.textContent = ""; ctx.error(view, e); });
    }
  });
})();
