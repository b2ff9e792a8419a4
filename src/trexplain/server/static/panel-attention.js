/* Panel "Attention": every block × head (the report's overview and head view, where clicking a token shows
   where it attends and what attends to it). The server sends aggregates first; a block's heads on demand. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  TX.panels.push({
    key: "attention",
    title: "Attention",
    order: 30,
    available: function (ctx) { return !!ctx.model().heads; },
    render: function (ctx, body) {
      var el = ctx.util.el;
      if (!ctx.state.text) { body.appendChild(el("p", "tx-note", "Type a text above and press Explain.")); return; }
      var view = el("div", "app-view", "Computing attention…");
      var last = null;
      body.appendChild(ctx.exportBar("attention", view, function () { return last; }));
      body.appendChild(view);
      var model = ctx.model().name;
      var began = performance.now();
      Promise.all([ctx.explain(), ctx.api("/api/attention", { text: ctx.state.text, model: model })]).then(function (r) {
        var arrived = performance.now();
        var attention = Object.assign({ source: { text: ctx.state.text, model: model } }, r[1]);
        var payload = Object.assign({}, r[0], { texts: [Object.assign({}, r[0].texts[0], { attention: attention })] });
        last = { attention: r[1] };
        view.textContent = "";
        ctx.render(payload, view);
        var details = view.querySelector("details.tx-attention");
        if (details) details.open = true;
        var wait = function () {
          if (r[1].skipped || view.querySelector(".tx-att-grid canvas")) {
            // for benchmarks/bench_serve.py: panel opened → overview drawn, and data arrived → overview drawn
            document.documentElement.dataset.attentionMs = String(Math.round(performance.now() - began));
            document.documentElement.dataset.attentionRenderMs = String(Math.round(performance.now() - arrived));
          } else { requestAnimationFrame(wait); }
        };
        wait();
      }, function (e) { view.textContent = ""; ctx.error(view, e); });
    }
  });
})();
