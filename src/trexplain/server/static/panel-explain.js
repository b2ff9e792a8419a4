/* Panel "Explanation": prediction, highlighted text, bars and relevance by layer, drawn by the report's renderer;
   "evaluate" and "sanity check" run as jobs (progress, cancel) and redraw with the faithfulness table, the
   perturbation curves and the randomisation check. */
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
      var jobs = ctx.util.el("div", "app-row");
      var status = el("div", "app-progress");
      [["evaluate", false], ["sanity check", true]].forEach(function (spec) {
        jobs.appendChild(ctx.util.button(spec[0], false, function () {
          status.textContent = "";
          var line = el("span", null, "starting…");
          status.appendChild(line);
          var task = ctx.job("/api/evaluate", { texts: [ctx.state.text], model: ctx.model().name, methods: ctx.methods(),
            target: ctx.target(), sanity: spec[1], truncate: ctx.state.truncate === "1", windows: ctx.state.windows === "1",
            format: "report" }, function (s) { line.textContent = ctx.progressLine(s); });
          status.appendChild(ctx.util.button("cancel", false, task.cancel, "app-cancel"));
          task.promise.then(function (payload) {
            status.textContent = "";
            last = payload;
            view.textContent = "";
            ctx.render(payload, view);
            var curves = view.querySelector("details.tx-curves");
            if (curves) curves.open = true;
          }, function (e) { status.textContent = ""; ctx.error(status, e); });
        }, "app-job-" + (spec[1] ? "sanity" : "evaluate")));
      });
      body.insertBefore(jobs, view);
      body.insertBefore(status, view);
      ctx.explain().then(function (payload) {
        last = payload;
        view.textContent = "";
        ctx.render(payload, view);
        var windows = ((payload.texts[0].explanations[0] || {}).diagnostics || {}).windows;
        if (windows) {
          view.insertBefore(el("p", "tx-note app-windows-note", "explained in " + windows + " overlapping windows the " +
            "model takes; each token's score is its mean over the windows that hold it"), view.firstChild);
        }
        var flow = view.querySelector("details.tx-flow");  // relevance by layer: open it, the view asks for it
        if (flow) flow.open = true;
      }, function (e) { view.textContent = ""; ctx.error(view, e); });
    }
  });
})();
