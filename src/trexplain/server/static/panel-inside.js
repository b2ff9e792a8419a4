/* Panels "Masked words" (a model with a masked-LM head: each layer's guesses for a masked word) and
   "Neighbours" (with `serve --index DIR`: the corpus tokens nearest to a clicked token, layer by layer). */
(function () {
  "use strict";
  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];

  function tokens(ctx, body, onPick) {
    // The text's tokens as buttons (from the explanation's record), for picking the query.
    var el = ctx.util.el;
    var row = el("div", "app-words", "Tokenising…");
    body.appendChild(row);
    ctx.explain().then(function (payload) {
      var entry = payload.texts[0];
      row.textContent = "";
      entry.tokens.forEach(function (t, i) {
        var b = ctx.util.button(t, false, function () {
          Array.prototype.forEach.call(row.children, function (c) { c.setAttribute("aria-pressed", "false"); });
          b.setAttribute("aria-pressed", "true");
          onPick(i, entry);
        }, "app-token");
        b.disabled = entry.special[i];
        row.appendChild(b);
      });
    }, function (e) { row.textContent = ""; ctx.error(row, e); });
  }

  function table(el, head, rows) {
    // A cell is a string, or a node (e.g. a context with its word marked).
    var t = el("table", "app-table");
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    t.appendChild(tr);
    rows.forEach(function (r) {
      var line = el("tr");
      r.forEach(function (v) {
        var td = el("td");
        td.appendChild(v instanceof Node ? v : document.createTextNode(String(v)));
        line.appendChild(td);
      });
      t.appendChild(line);
    });
    return t;
  }

  function marked(el, context) {
    // The server's context "… [[word]] …" with the word highlighted (<mark>), every part as text.
    var span = el("span", "app-context");
    context.split(/\[\[(.*?)\]\]/).forEach(function (part, i) {
      span.appendChild(i % 2 ? el("mark", "app-context-word", part) : document.createTextNode(part));
    });
    return span;
  }

  TX.panels.push({
    key: "masked",
    title: "Masked words",
    order: 35,
    available: function (ctx) { return !!ctx.model().masked_lm; },
    render: function (ctx, body) {
      var el = ctx.util.el;
      if (!ctx.state.text) { body.appendChild(el("p", "tx-note", "Type a text above and press Explain.")); return; }
      var view = el("div", "app-view", "Click a word: each layer's top guesses for it, masked.");
      var last = null;
      body.appendChild(ctx.exportBar("masked", view, function () { return last; }));
      tokens(ctx, body, function (i, entry) {
        var w = entry.word_ids[i];
        var word = entry.text.slice(entry.words[w][0], entry.words[w][1]);
        view.textContent = "Predicting…";
        ctx.api("/api/masked", { text: entry.text, model: ctx.model().name, word: word, k: 5 }).then(function (r) {
          last = r;
          view.textContent = "";
          if (r.rank_note) view.appendChild(el("p", "tx-note app-rank-note", r.rank_note));
          view.appendChild(el("p", "tx-note", "masked: " + r.masked_text));
          var ranked = r.ranked_token || word;
          view.appendChild(table(el, ["layer", "top guesses", "rank of “" + ranked + "”"], r.layers.map(function (l) {
            return [l.layer, l.tokens.map(function (t, k) { return t + " " + l.probabilities[k].toFixed(3); }).join(" · "),
              l.word_rank == null ? "–" : l.word_rank];
          })));
        }, function (e) { view.textContent = ""; ctx.error(view, e); });
      });
      body.appendChild(view);
    }
  });

  TX.panels.push({
    key: "neighbours",
    title: "Neighbours",
    order: 36,
    available: function (ctx) { return !!ctx.model().index; },
    render: function (ctx, body) {
      var el = ctx.util.el;
      if (!ctx.state.text) { body.appendChild(el("p", "tx-note", "Type a text above and press Explain.")); return; }
      var layers = ctx.model().index.layers;
      var layer = document.createElement("select");
      layer.className = "app-layer";
      layers.forEach(function (l) {
        var o = document.createElement("option");
        o.value = String(l);
        o.textContent = l === 0 ? "embeddings" : "after block " + (l - 1);
        o.selected = l === layers[layers.length - 1];
        layer.appendChild(o);
      });
      layer.setAttribute("aria-label", "layer");
      var row = el("div", "app-row");
      row.appendChild(el("span", "app-label", "hidden state"));
      row.appendChild(layer);
      body.appendChild(row);
      var view = el("div", "app-view", "Click a token: its nearest corpus tokens at the chosen layer.");
      var last = null;
      body.appendChild(ctx.exportBar("neighbours", view, function () { return last; }));
      tokens(ctx, body, function (i, entry) {
        view.textContent = "Searching…";
        ctx.api("/api/neighbours", { text: entry.text, model: ctx.model().name, token: i, layer: Number(layer.value), k: 10 })
          .then(function (r) {
            last = r;
            view.textContent = "";
            view.appendChild(table(el, ["similarity", "token", "context"], r.neighbours.map(function (n) {
              return [n.similarity.toFixed(3), n.token, marked(el, n.context)];
            })));
          }, function (e) { view.textContent = ""; ctx.error(view, e); });
      });
      body.appendChild(view);
    }
  });
})();
