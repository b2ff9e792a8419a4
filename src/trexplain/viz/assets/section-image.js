/* trexplain image card: the card of an entry whose layout is "image" (a ViT input).
   The input image (a PNG data URL) is drawn on a canvas with its patch scores on top: signed green/red (or
   unsigned purple) at opacity |score| / largest |patch score| times the slider's opacity, with a colour bar.
   Special tokens (CLS, distillation) are chips; layer scores, when the method has them, are small multiples.
   Scores are per position: special tokens first, then patches row-major. Entries come in either record form:
   "explanation" ({method, targets, scores[k][T], layer_scores[L][k][T]}) or "target" ({method, target_index,
   scores[T], layer_scores[L][T]}). Every string reaches the page through textContent or a property. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  TX.cards = TX.cards || {};
  var WHITE = [255, 255, 255];
  var UNSIGNED = [109, 40, 217];
  var VIEW = 256;  // px: the longer side of the main canvas
  var THUMB = 96;  // px: the longer side of a per-layer map
  var PNG_URL = "data:image/png;base64,";

  // One (method, target) view per item: {method, target, scores, layers} whatever the record form.
  function views(entry, util) {
    var out = [];
    (entry.explanations || []).forEach(function (exp, e) {
      if (Array.isArray(exp.targets)) {
        exp.targets.forEach(function (t, k) {
          out.push({
            exp: e, method: exp.method, target: t, scores: exp.scores[k] || [],
            layers: exp.layer_scores ? exp.layer_scores.map(function (layer) { return layer[k] || []; }) : null
          });
        });
      } else {
        var t = util.isNum(exp.target_index) ? exp.target_index : (entry.labels || []).indexOf(exp.target);
        out.push({ exp: e, method: exp.method, target: t, scores: exp.scores || [], layers: exp.layer_scores || null });
      }
    });
    return out;
  }

  function peakOf(values, util) {
    var peak = 0;
    values.forEach(function (v) { if (util.isNum(v)) peak = Math.max(peak, Math.abs(v)); });
    return peak;
  }

  function label(entry, t) {
    var labels = entry.labels || [];
    return t >= 0 && t < labels.length ? String(labels[t]) : "class " + t;
  }

  function size(pair, fallback) {
    return Array.isArray(pair) && pair.length === 2 && pair[0] > 0 && pair[1] > 0 ? [pair[0] | 0, pair[1] | 0] : fallback;
  }

  function ImageCard(entry, number, util) {
    this.entry = entry;
    this.util = util;
    this.grid = size(entry.grid, [1, 1]);
    var p = entry.patch_size;
    this.patchSize = size(Array.isArray(p) ? p : [p, p], null);
    this.imageSize = size(entry.image_size,
      this.patchSize ? [this.grid[0] * this.patchSize[0], this.grid[1] * this.patchSize[1]] : this.grid);
    this.views = views(entry, util);
    this.patches = this.grid[0] * this.grid[1];
    var methods = [];
    this.views.forEach(function (v) { if (methods.indexOf(v.exp) < 0) methods.push(v.exp); });
    this.methods = methods;
    this.state = { exp: methods.length ? methods[0] : 0, target: entry.predicted, opacity: 0.6 };
    this.node = util.el("article", "tx-card tx-image-card");
    this.node.dataset.index = String(number);
    this.number = number;
    this.picture = null;
    this.build();
  }

  ImageCard.prototype.view = function () {
    var st = this.state;
    var mine = this.views.filter(function (v) { return v.exp === st.exp; });
    var hit = mine.filter(function (v) { return v.target === st.target; });
    return hit.length ? hit[0] : mine[0];
  };

  ImageCard.prototype.build = function () {
    var util = this.util, entry = this.entry, self = this;
    var node = this.node;
    var head = util.el("div", "tx-head");
    head.appendChild(util.el("span", "tx-num", "#" + (this.number + 1)));
    if (entry.source !== undefined && entry.source !== null) head.appendChild(util.el("span", "tx-image-source", entry.source));
    head.appendChild(util.el("span", null, "prediction"));
    var probs = util.el("div", "tx-probs");
    (entry.labels || []).forEach(function (name, c) {
      var p = (entry.probabilities || [])[c];
      var item = util.el("span", "tx-prob" + (c === entry.predicted ? " tx-predicted" : ""));
      item.appendChild(util.el("span", null, name));
      var bar = util.el("span", "tx-prob-bar");
      var fill = util.el("i");
      fill.style.width = (util.isNum(p) ? p * 100 : 0).toFixed(1) + "%";
      bar.appendChild(fill);
      item.appendChild(bar);
      item.appendChild(util.el("span", null, util.fixed(p, 2)));
      item.title = name + ": probability " + util.fixed(p, 4);
      probs.appendChild(item);
    });
    head.appendChild(probs);
    node.appendChild(head);
    this.controls = util.el("div", "tx-controls");
    node.appendChild(this.controls);
    var body = util.el("div", "tx-image-body");
    var left = util.el("div", "tx-image-main");
    var scale = Math.max(1, Math.floor(VIEW / Math.max(this.imageSize[0], this.imageSize[1])));
    this.canvas = util.el("canvas", "tx-image-canvas");
    this.canvas.width = this.imageSize[1] * scale;
    this.canvas.height = this.imageSize[0] * scale;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "input image with patch scores");
    left.appendChild(this.canvas);
    this.bar = util.el("div");
    left.appendChild(this.bar);
    this.readout = util.el("div", "tx-readout");
    left.appendChild(this.readout);
    body.appendChild(left);
    var right = util.el("div", "tx-image-side");
    this.specials = util.el("div", "tx-chips tx-image-specials");
    right.appendChild(this.specials);
    right.appendChild(util.el("div", "tx-note", "image " + this.imageSize[0] + " × " + this.imageSize[1] + " px, " +
      this.grid[0] + " × " + this.grid[1] + " patches" +
      (this.patchSize ? " of " + this.patchSize[0] + " × " + this.patchSize[1] + " px" : "")));
    if (entry.preprocessing && typeof entry.preprocessing === "object") {
      var pre = util.el("details", "tx-image-pre");
      pre.appendChild(util.el("summary", null, "preprocessing"));
      pre.appendChild(util.el("pre", null, JSON.stringify(entry.preprocessing, null, 1)));
      right.appendChild(pre);
    }
    body.appendChild(right);
    node.appendChild(body);
    this.layers = util.el("div", "tx-image-layers");
    node.appendChild(this.layers);
    this.curves = util.el("div", "tx-image-curves");
    node.appendChild(this.curves);
    this.canvas.addEventListener("mousemove", function (ev) { self.hover(ev); });
    if (typeof entry.image === "string" && entry.image.indexOf(PNG_URL) === 0) {
      var picture = new Image();
      picture.onload = function () { self.picture = picture; self.draw(); };
      picture.onerror = function () { self.draw(); };
      picture.src = entry.image;
    }
    this.update();
  };

  ImageCard.prototype.set = function (patch) {
    Object.keys(patch).forEach(function (k) { this.state[k] = patch[k]; }, this);
    this.update();
  };

  ImageCard.prototype.update = function () {
    var view = this.view();
    this.renderControls(view);
    if (!view) { this.draw(); return; }
    var scores = view.scores;
    var special = Math.max(0, scores.length - this.patches);
    this.current = {
      view: view, special: special, patches: scores.slice(special, special + this.patches),
      signed: this.util.isSignedMethod(view.method)
    };
    this.current.peak = peakOf(this.current.patches, this.util);
    this.node.classList.toggle("tx-unsigned", !this.current.signed);
    this.renderSpecials(scores.slice(0, special));
    this.renderBar();
    this.renderLayers(view, special);
    this.renderCurves(view);
    this.readout.textContent = "Hover a patch to see its score for " + label(this.entry, view.target) + ".";
    this.draw();
  };

  ImageCard.prototype.renderControls = function (view) {
    var util = this.util, self = this, st = this.state, entry = this.entry;
    var box = this.controls;
    box.textContent = "";
    var allViews = this.views;
    box.appendChild(util.group("method", this.methods.map(function (e) {
      var name = allViews.filter(function (v) { return v.exp === e; })[0].method;
      var b = util.button(name, e === st.exp, function () { self.set({ exp: e }); }, "tx-method");
      b.dataset.method = String(name);
      return b;
    })));
    var targets = allViews.filter(function (v) { return v.exp === st.exp; });
    box.appendChild(util.group("class", targets.map(function (v) {
      var name = label(entry, v.target);
      var b = util.button(name, view && v.target === view.target, function () { self.set({ target: v.target }); }, "tx-class");
      b.dataset.label = name;
      return b;
    })));
    var slider = util.el("input", "tx-opacity");
    slider.type = "range";
    slider.min = "0";
    slider.max = "100";
    slider.value = String(Math.round(st.opacity * 100));
    slider.setAttribute("aria-label", "overlay opacity");
    var shown = util.el("span", "tx-opacity-value", slider.value + "%");
    slider.addEventListener("input", function () {
      st.opacity = Number(slider.value) / 100;
      shown.textContent = slider.value + "%";
      self.draw();
    });
    box.appendChild(util.group("overlay opacity", [slider, shown]));
  };

  ImageCard.prototype.colourOf = function (v, peak) {
    return this.current.signed ? this.util.signedColour(v, peak) : this.util.colour(UNSIGNED, v, peak);
  };

  ImageCard.prototype.renderSpecials = function (values) {
    var util = this.util, self = this, names = this.entry.special_tokens || [];
    var box = this.specials;
    box.textContent = "";
    values.forEach(function (v, i) {
      var name = i < names.length ? String(names[i]) : "token " + i;
      var c = util.chip(name + " " + util.signed(v));
      c.style.backgroundColor = self.colourOf(v, self.current.peak);
      var strength = self.current.peak > 0 && util.isNum(v) ? Math.abs(v) / self.current.peak : 0;
      if (strength > 0.6) c.style.color = "#fff";  // readable on a strong colour
      c.dataset.token = name;
      box.appendChild(c);
    });
    if (values.length) box.appendChild(util.el("span", "tx-note", "special tokens (not drawn on the image)"));
  };

  ImageCard.prototype.renderBar = function () {
    var util = this.util, cur = this.current, peak = cur.peak;
    var tgt = label(this.entry, cur.view.target);
    this.bar.textContent = "";
    var caption = cur.signed ? "green supports " + tgt + ", red opposes it" : "unsigned: darker = more important";
    this.bar.appendChild(cur.signed ?
      util.colourBar([util.NEG, WHITE, util.POS], util.precise(-peak), util.precise(peak), "0", caption) :
      util.colourBar([WHITE, UNSIGNED], "0", util.precise(peak), null, caption));
    this.bar.dataset.low = String(cur.signed ? -peak : 0);
    this.bar.dataset.high = String(peak);
  };

  // Paint patch values of a [gh, gw] grid on ctx over a width × height box.
  ImageCard.prototype.paintPatches = function (ctx, values, peak, width, height) {
    var gh = this.grid[0], gw = this.grid[1];
    for (var r = 0; r < gh; r++) {
      for (var c = 0; c < gw; c++) {
        var v = values[r * gw + c];
        if (!this.util.isNum(v) || v === 0 || peak <= 0) continue;
        ctx.fillStyle = this.colourOf(v, peak);
        var x0 = Math.round(c * width / gw), x1 = Math.round((c + 1) * width / gw);
        var y0 = Math.round(r * height / gh), y1 = Math.round((r + 1) * height / gh);
        ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
      }
    }
  };

  ImageCard.prototype.draw = function () {
    var ctx = this.canvas.getContext("2d");
    var w = this.canvas.width, h = this.canvas.height;
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, w, h);
    if (this.picture) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.picture, 0, 0, w, h);
    }
    if (this.current) {
      ctx.globalAlpha = this.state.opacity;
      this.paintPatches(ctx, this.current.patches, this.current.peak, w, h);
      ctx.globalAlpha = 1;
    }
    this.canvas.dataset.drawn = this.picture ? "image" : "scores";
    this.canvas.dataset.opacity = String(this.state.opacity);
  };

  ImageCard.prototype.hover = function (ev) {
    if (!this.current) return;
    var box = this.canvas.getBoundingClientRect();
    var c = Math.floor((ev.clientX - box.left) / box.width * this.grid[1]);
    var r = Math.floor((ev.clientY - box.top) / box.height * this.grid[0]);
    if (r < 0 || c < 0 || r >= this.grid[0] || c >= this.grid[1]) return;
    var v = this.current.patches[r * this.grid[1] + c];
    this.readout.textContent = "patch (row " + r + ", column " + c + "): " + this.util.signed(v) + " for " +
      label(this.entry, this.current.view.target) + " (" + this.current.view.method + ")";
  };

  ImageCard.prototype.renderLayers = function (view, special) {
    var util = this.util, self = this, box = this.layers;
    box.textContent = "";
    if (!view.layers || !view.layers.length) return;
    var rows = view.layers.map(function (row) { return row.slice(special, special + self.patches); });
    var peak = 0;
    rows.forEach(function (row) { peak = Math.max(peak, peakOf(row, util)); });
    var site = util.methodInfo(view.method).layer_site || "block";
    box.appendChild(util.el("h4", null, "Patch relevance per layer"));
    box.appendChild(util.el("div", "tx-note", "one map per layer (" + String(site) + "), one colour scale for all: " +
      "largest |score| " + util.precise(peak)));
    var strip = util.el("div", "tx-image-multiples");
    var cell = Math.max(2, Math.floor(THUMB / Math.max(this.grid[0], this.grid[1])));
    rows.forEach(function (row, l) {
      var fig = util.el("figure", "tx-image-layer");
      var canvas = util.el("canvas");
      canvas.width = self.grid[1] * cell;
      canvas.height = self.grid[0] * cell;
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      self.paintPatches(ctx, row, peak, canvas.width, canvas.height);
      canvas.dataset.layer = String(l);
      fig.appendChild(canvas);
      fig.appendChild(util.el("figcaption", null, String(site).replace("block", "block " + l)));
      strip.appendChild(fig);
    });
    box.appendChild(strip);
  };

  // The patch evaluation of this method and class (entry.evaluation, as the text cards read it), beside the
  // random floor's: deletion / insertion curves and Chefer's perturbation AUCs.
  ImageCard.prototype.renderCurves = function (view) {
    var util = this.util, entry = this.entry, box = this.curves;
    box.textContent = "";
    var name = label(entry, view.target);
    var pick = function (method) {
      return (entry.evaluation || []).filter(function (e) {
        return e && e.method === method && (e.target === name || e.target === view.target);
      })[0];
    };
    var result = pick(view.method);
    if (!result) return;
    var floor = view.method === "random" ? null : pick("random");
    box.appendChild(util.el("h4", null, "Patch removal (" + [result.strategy, result.level].filter(Boolean).join(", ") + ")"));
    box.appendChild(util.curveChart(result.curves || {}, floor && floor.curves));
    var table = util.el("table", "tx-table");
    var area = function (e, key) {
      var c = e && e.curves && e.curves[key];
      if (!c || !c.fractions || c.fractions.length < 2) return null;
      var sum = 0;
      for (var i = 1; i < c.fractions.length; i++) {
        sum += (c.fractions[i] - c.fractions[i - 1]) * (c.probabilities[i] + c.probabilities[i - 1]) / 2;
      }
      return sum;
    };
    var head = util.el("tr");
    ["", view.method, "random"].forEach(function (t) { head.appendChild(util.el("th", null, t)); });
    table.appendChild(head);
    [["AOPC comprehensiveness ↑", function (e) { return e && e.aopc_comprehensiveness; }],
      ["AOPC sufficiency ↓", function (e) { return e && e.aopc_sufficiency; }],
      ["insertion AUC ↑", function (e) { return area(e, "insertion"); }],
      ["positive perturbation AUC ↓", function (e) { return area(e, "positive"); }],
      ["negative perturbation AUC ↑", function (e) { return area(e, "negative"); }]].forEach(function (row) {
      var v = row[1](result);
      if (!util.isNum(v)) return;
      var tr = util.el("tr");
      tr.appendChild(util.el("td", null, row[0]));
      tr.appendChild(util.el("td", null, util.fixed(v, 4)));
      tr.appendChild(util.el("td", null, util.fixed(row[1](floor), 4)));
      table.appendChild(tr);
    });
    box.appendChild(table);
  };

  TX.cards.image = function (entry, number, util) { return new ImageCard(entry, number, util).node; };
})();
