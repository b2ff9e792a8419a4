/* Panel "Probe" (shown when trexplain.probe is installed): find a small edit of the current text that changes the
   prediction, or reaches a chosen class, every model query counted. Runs as a job (progress, cancel); the result
   is drawn by the report's probe section (section-probe.js, through trexplain.render): the original and the
   edited text one above the other, the word diff and both predictions, then both texts' cards. */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  var EDITS = ["delete", "embed", "char"];
  var memo = { target: "", edits: EDITS.slice(), rank: "", budget: 500, seed: 0, text: null, payload: null };

  function select(el, cls, label, values, chosen) {
    var s = document.createElement("select");
    s.className = cls;
    s.setAttribute("aria-label", label);
    values.forEach(function (v) {
      var o = document.createElement("option");
      o.value = v[0];
      o.textContent = v[1];
      o.selected = v[0] === chosen;
      s.appendChild(o);
    });
    return s;
  }

  function number(el, cls, label, value, max) {
    var input = el("input", cls);
    input.type = "number";
    input.min = "0";
    if (max) input.max = String(max);
    input.value = String(value);
    input.setAttribute("aria-label", label);
    return input;
  }

  TX.panels.push({
    key: "probe",
    title: "Probe",
    order: 60,
    available: function (ctx) { return !!(ctx.info.capabilities || {}).probe; },
    render: function (ctx, body) {
      var U = ctx.util, el = U.el;
      if (!ctx.state.text) { body.appendChild(el("p", "tx-note", "Type a text above, then probe it here.")); return; }
      if (memo.text !== ctx.state.text) { memo.text = ctx.state.text; memo.payload = null; }
      var labels = ctx.model().labels;
      var bar = el("div", "app-row");
      var target = select(el, "app-probe-target", "class to reach",
        [["", "any other class"]].concat(labels.map(function (l) { return [l, "reach " + l]; })), memo.target);
      var ranks = [["", "cp-lrp (default)"], ["deletion", "deletion (leave one out)"], ["random", "random"]]
        .concat(Object.keys(ctx.info.methods).filter(function (m) { return m !== "cp-lrp"; }).map(function (m) { return [m, m]; }));
      var rank = select(el, "app-probe-rank", "ranking", ranks, memo.rank);
      var edits = el("span", "app-methods");
      EDITS.forEach(function (name) {
        var box = document.createElement("input");
        box.type = "checkbox";
        box.value = name;
        box.checked = memo.edits.indexOf(name) >= 0;
        box.className = "app-probe-edit";
        var label = el("label", "app-method");
        label.appendChild(box);
        label.appendChild(document.createTextNode(name));
        edits.appendChild(label);
      });
      var budget = number(el, "app-probe-budget", "query budget", memo.budget, ctx.info.limits.max_probe_budget);
      var seed = number(el, "app-probe-seed", "seed", memo.seed);
      [["goal", target], ["ranking", rank], ["edits", edits], ["budget", budget], ["seed", seed]].forEach(function (f) {
        bar.appendChild(el("span", "app-label", f[0]));
        bar.appendChild(f[1]);
      });
      var go = U.button("Probe", false, start, "app-probe-go");
      bar.appendChild(go);
      body.appendChild(bar);
      var status = el("div", "app-progress");
      body.appendChild(status);
      var view = el("div", "app-view");
      body.appendChild(ctx.exportBar("probe", view, function () { return memo.payload && memo.payload.probe; }));
      body.appendChild(view);

      function start() {
        memo.target = target.value;
        memo.rank = rank.value;
        memo.edits = Array.prototype.filter.call(edits.querySelectorAll("input"), function (b) { return b.checked; })
          .map(function (b) { return b.value; });
        memo.budget = Number(budget.value) || 1;
        memo.seed = Number(seed.value) || 0;
        view.textContent = "";
        status.textContent = "starting…";
        var task = ctx.job("/api/probe", { text: memo.text, model: ctx.model().name, target: memo.target || null,
          edits: memo.edits, rank: memo.rank || null, budget: memo.budget, seed: memo.seed, format: "report" },
        function (s) { status.textContent = ctx.progressLine(s); status.appendChild(stop); });
        var stop = U.button("cancel", false, task.cancel, "app-cancel");
        status.appendChild(stop);
        task.promise.then(function (payload) {
          memo.payload = payload;
          status.textContent = "";
          show();
        }, function (e) { status.textContent = ""; ctx.error(status, e); });
      }

      function show() {
        view.textContent = "";
        if (!memo.payload) return;
        ctx.render(memo.payload, view);
        var again = U.button("open the edited text", false, function () {
          ctx.set({ text: memo.payload.probe.edited, panel: "explain" });
        }, "app-probe-open");
        view.insertBefore(again, view.firstChild);
      }
      show();
    }
  });
})();
