/* trexplain report renderer, part "attention": the attention section of a card: thumbnails per layer and head, one
   map, the head view. viz/html.py inlines the parts (report-*.js, in the order of its REPORT_PARTS), then the
   section-*.js plug-ins, then report.js; the parts share their names on window.trexplain.report. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  var REPORT = TX.report = TX.report || {};
  var ATT = REPORT.ATT, Card = REPORT.Card, HEAD_ROW = REPORT.HEAD_ROW, LINK_BUDGET = REPORT.LINK_BUDGET,
    LINK_FLOOR = REPORT.LINK_FLOOR, THUMB = REPORT.THUMB, aggregate = REPORT.aggregate, button = REPORT.button,
    colour = REPORT.colour, colourBar = REPORT.colourBar, el = REPORT.el, fixed = REPORT.fixed, group =
    REPORT.group, heatmap = REPORT.heatmap, own = REPORT.own, tint = REPORT.tint;

  // ---------------------------------------------------------------- attention
  function inflate(text) {
    // One layer's zlib-compressed uint8 weights (see viz/payload.py), unpacked by the browser itself.
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  function AttentionMaps(att, layers, given) {
    // Per block: the heads' uint8 weights as stored, and their mean and max over heads (0–1) computed up front;
    // over all blocks: the mean of the blocks' means and the max of their maxes. One head's map is built on demand.
    // A lazy entry (the web app's) brings the means, maxes and pooled head thumbnails instead (`given`); a block's
    // heads arrive when first shown (`load`, through `trexplain.loadAttentionLayer`).
    var n = att.size;
    var nn = n * n;
    this.n = n;
    this.heads = att.heads;
    this.tokens = att.tokens;
    this.bytes = layers;
    this.att = att;
    this.thumbs = given ? given.thumbs : null;
    this.mean = given ? given.mean : [];
    this.max = given ? given.max : [];
    this.allMean = new Float32Array(nn);
    this.allMax = new Float32Array(nn);
    for (var l = 0; l < layers.length; l++) {
      if (!given) {
        var bytes = layers[l];
        var sum = new Float32Array(nn);
        var top = new Float32Array(nn);
        for (var h = 0; h < att.heads; h++) {
          for (var i = 0, at = h * nn; i < nn; i++, at++) {
            var v = bytes[at];
            sum[i] += v;
            if (v > top[i]) top[i] = v;
          }
        }
        for (var j = 0; j < nn; j++) {
          sum[j] /= 255 * att.heads;
          top[j] /= 255;
        }
        this.mean.push(sum);
        this.max.push(top);
      }
      for (var m = 0, mean = this.mean[l], most = this.max[l]; m < nn; m++) {
        this.allMean[m] += mean[m] / layers.length;
        if (most[m] > this.allMax[m]) this.allMax[m] = most[m];
      }
    }
  }
  AttentionMaps.prototype.load = function (layer) {
    var self = this;
    if (layer < 0 || this.bytes[layer]) return Promise.resolve(this);
    return TX.loadAttentionLayer(this.att, layer).then(inflate).then(function (b) { self.bytes[layer] = b; return self; });
  };
  AttentionMaps.prototype.map = function (layer, head) {
    // layer -1: every block; head "mean", "max" or a head's index.
    if (head === "mean") return layer < 0 ? this.allMean : this.mean[layer];
    if (head === "max") return layer < 0 ? this.allMax : this.max[layer];
    var nn = this.n * this.n;
    var out = new Float32Array(nn);
    var bytes = this.bytes[layer];
    for (var i = 0; i < nn; i++) out[i] = bytes[head * nn + i] / 255;
    return out;
  };

  function selectionName(layer, head) {
    return (layer < 0 ? "all blocks" : "block " + layer) + " · " +
      (head === "mean" ? "mean of heads" : head === "max" ? "max over heads" : "head " + head);
  }

  function thumbnail(maps, layer, head, shared) {
    // A size × size canvas of one map (max-pooled when the map is larger), straight from the stored bytes for a head.
    var size = Math.min(maps.n, THUMB);
    var perHead = typeof head === "number";
    var pooledAlready = perHead && !maps.bytes[layer];  // a lazy entry's thumbnail, pooled by the server
    var n = pooledAlready ? size : maps.n;
    var src = pooledAlready ? maps.thumbs[layer] : perHead ? maps.bytes[layer] : maps.map(layer, head);
    var offset = perHead ? head * n * n : 0;
    var scale = perHead ? 1 / 255 : 1;
    var pooled = new Float32Array(size * size);
    var cols = new Int32Array(n);
    for (var c = 0; c < n; c++) cols[c] = Math.floor(c * size / n);
    for (var r = 0; r < n; r++) {
      var base = Math.floor(r * size / n) * size;
      for (var c2 = 0, at = offset + r * n; c2 < n; c2++, at++) {
        if (src[at] > pooled[base + cols[c2]]) pooled[base + cols[c2]] = src[at];
      }
    }
    var peak = 0;
    for (var p = 0; p < pooled.length; p++) if (pooled[p] > peak) peak = pooled[p];
    peak *= scale;
    var canvas = el("canvas");
    canvas.width = size;
    canvas.height = size;
    var ctx = canvas.getContext("2d");
    var image = ctx.createImageData(size, size);
    var top = shared ? 1 : peak || 1;
    for (var q = 0; q < pooled.length; q++) {
      var colourOf = tint(ATT, pooled[q] * scale, top);
      image.data[4 * q] = colourOf[0];
      image.data[4 * q + 1] = colourOf[1];
      image.data[4 * q + 2] = colourOf[2];
      image.data[4 * q + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    return { canvas: canvas, peak: peak };
  }

  Card.prototype.attentionMaps = function () {
    if (!this.maps) {
      var att = this.entry.attention;
      var unit = function (b) {
        var out = new Float32Array(b.length);
        for (var i = 0; i < b.length; i++) out[i] = b[i] / 255;
        return out;
      };
      var all = function (list) { return Promise.all(list.map(inflate)); };
      this.maps = att.lazy ? Promise.all([all(att.mean), all(att.max), all(att.thumbs)]).then(function (p) {
        return new AttentionMaps(att, att.mean.map(function () { return null; }),
          { mean: p[0].map(unit), max: p[1].map(unit), thumbs: p[2] });
      }) : all(att.data).then(function (layers) { return new AttentionMaps(att, layers); });
    }
    return this.maps;
  };

  Card.prototype.drawAttention = function (body) {
    var self = this;
    var st = this.state;
    var att = this.entry.attention;
    if (att.skipped) { body.appendChild(el("p", "tx-note", att.skipped)); return; }
    if (typeof DecompressionStream === "undefined") {
      body.appendChild(el("p", "tx-note", "This browser cannot unpack the attention maps (no DecompressionStream); " +
        "current Chrome, Edge, Firefox and Safari can."));
      return;
    }
    var redraw = function (patch) {
      return function () {
        Object.keys(patch).forEach(function (k) { st[k] = patch[k]; });
        body.textContent = "";
        self.drawAttention(body);
      };
    };
    var toMap = st.attView === "overview" ? st.attMapView : st.attView;
    var aggregate = typeof st.head === "number" ? "mean" : st.head;
    var blocks = [button("all", st.layer < 0, redraw({ layer: -1, head: aggregate, attView: toMap }), "tx-layer")];
    for (var l = 0; l < att.layers; l++) {
      blocks.push(button(String(l), l === st.layer, redraw({ layer: l, attView: toMap }), "tx-layer"));
    }
    var heads = ["mean", "max"].map(function (a) {
      return button(a, st.head === a, redraw({ head: a, attView: toMap }), "tx-agg-button");
    });
    for (var h = 0; h < att.heads; h++) {
      var pick = redraw({ head: h, layer: Math.max(0, st.layer), attView: toMap });
      heads.push(button(String(h), st.head === h, pick, "tx-head-button"));
    }
    body.appendChild(group("block", blocks));
    body.appendChild(group("head", heads));
    body.appendChild(group("show", [
      button("overview", st.attView === "overview", redraw({ attView: "overview" }), "tx-att-view"),
      button("matrix", st.attView === "matrix", redraw({ attView: "matrix", attMapView: "matrix" }), "tx-att-view"),
      button("head view", st.attView === "lines", redraw({ attView: "lines", attMapView: "lines" }), "tx-att-view")
    ]));
    body.appendChild(group("colour", [
      button("each map", !st.attShared, redraw({ attShared: false }), "tx-att-scale"),
      button("0 – 1 for all", st.attShared, redraw({ attShared: true }), "tx-att-scale")
    ]));
    var view = el("div", "tx-att-body", "Unpacking the attention maps…");
    body.appendChild(view);
    var token = this.attDraw = (this.attDraw || 0) + 1;
    this.attentionMaps().then(function (maps) {
      return st.attView === "overview" || typeof st.head !== "number" ? maps : maps.load(st.layer);
    }).then(function (maps) {
      if (token !== self.attDraw) return;  // a later click redrew the section meanwhile
      view.textContent = "";
      if (st.attView === "overview") self.drawOverview(view, maps, redraw);
      else self.drawMap(view, maps);
    }, function (error) {
      view.textContent = "The attention maps could not be unpacked: " + error;
    });
  };

  Card.prototype.drawOverview = function (view, maps, redraw) {
    var st = this.state;
    var n = maps.n;
    var layers = maps.bytes.length;
    view.appendChild(colourBar([[255, 255, 255], ATT], "0", st.attShared ? "1" : "map max", null,
      st.attShared ? "every map on one scale" : "each map scaled to its own largest weight (hover for it)"));
    view.appendChild(el("p", "tx-note", "Rows: blocks 0 … " + (layers - 1) + ", then all blocks together; columns: " +
      "mean and max over heads, then each head. A map's rows are queries (the attending tokens), its columns keys" +
      (n > THUMB ? "; " + n + " × " + n + " maps are max-pooled to " + THUMB + " × " + THUMB : "") +
      ". Click one to enlarge it."));
    var grid = el("div", "tx-att-grid");
    grid.style.gridTemplateColumns = "max-content repeat(" + (maps.heads + 2) + ", " + THUMB + "px)";
    var columns = ["mean", "max"];
    for (var h = 0; h < maps.heads; h++) columns.push(h);
    grid.appendChild(el("span"));
    columns.forEach(function (c) { grid.appendChild(el("span", "tx-att-col", typeof c === "number" ? "head " + c : c)); });
    for (var l = 0; l <= layers; l++) {
      var layer = l < layers ? l : -1;
      grid.appendChild(el("span", "tx-att-row", layer < 0 ? "all blocks" : "block " + layer));
      columns.forEach(function (head) {
        if (layer < 0 && typeof head === "number") return;  // head h of one block is unrelated to head h of another
        var thumb = thumbnail(maps, layer, head, st.attShared);
        var name = selectionName(layer, head);
        var enlarge = redraw({ layer: layer, head: head, attView: st.attMapView });
        var b = button("", st.layer === layer && st.head === head, enlarge,
          "tx-thumb" + (typeof head === "number" ? "" : " tx-thumb-agg"));
        b.title = name + ": largest weight " + fixed(thumb.peak, 3);
        b.setAttribute("aria-label", name);
        b.appendChild(thumb.canvas);
        grid.appendChild(b);
      });
    }
    var wrap = el("div", "tx-canvas-wrap");
    wrap.appendChild(grid);
    view.appendChild(wrap);
  };

  Card.prototype.drawMap = function (view, maps) {
    var st = this.state;
    var n = maps.n;
    var tokens = maps.tokens;
    var weights = maps.map(st.layer, st.head);
    var peak = 0;
    for (var i = 0; i < weights.length; i++) if (weights[i] > peak) peak = weights[i];
    var top = st.attShared ? 1 : peak || 1;
    var name = selectionName(st.layer, st.head);
    view.appendChild(el("h4", "tx-att-title", name));
    view.appendChild(colourBar([[255, 255, 255], ATT], "0", fixed(top, 3), null,
      st.attShared ? "one scale for every map" : "scaled to this map's largest weight"));
    if (st.attView === "lines") { view.appendChild(headView(weights, n, tokens, top)); return; }
    view.appendChild(el("p", "tx-note", "Row: the attending token (query); column: the token attended to (key)."));
    view.appendChild(heatmap({
      rows: n,
      cols: n,
      value: function (r, c) { return weights[r * n + c]; },
      colour: function (v) { return tint(ATT, v, top); },
      rowLabel: function (r) { return tokens[r]; },
      colLabel: function (c) { return tokens[c]; },
      describe: function (r, c, v) { return tokens[r] + " → " + tokens[c] + ": " + v.toFixed(3) + " (" + name + ")"; }
    }));
  };

  function linkFloor(weights, top) {
    // The weakest weight drawn for all tokens at once: LINK_FLOOR of the top, raised (in steps of top / 255)
    // until at most LINK_BUDGET links remain, so that long texts stay readable and fast.
    var bins = new Int32Array(256);
    for (var i = 0; i < weights.length; i++) if (weights[i] > 0) bins[Math.min(255, Math.floor(weights[i] / top * 255))] += 1;
    var kept = 0;
    for (var b = 255; b >= 0; b--) {
      kept += bins[b];
      if (kept > LINK_BUDGET) return Math.max(top * LINK_FLOOR, (b + 1) / 255 * top);
    }
    return top * LINK_FLOOR;
  }

  function headView(weights, n, tokens, top) {
    // bertviz-style: queries on the left, keys on the right, one line per link with opacity = weight / top.
    // Hovering a token shows its links alone (where a query attends, what attends to a key); a click pins it.
    var width = 180;
    var height = n * HEAD_ROW;
    var floors = { all: linkFloor(weights, top), one: top * LINK_FLOOR };
    var box = el("div");
    var note = el("p", "tx-note");
    var hint = "Hover or click a token: left, where it attends; right, what attends to it.";
    var readout = el("div", "tx-readout", hint);
    var view = el("div", "tx-hv");
    var columns = { q: el("div", "tx-hv-col tx-hv-q"), k: el("div", "tx-hv-col tx-hv-k") };
    var spans = { q: [], k: [] };
    var canvas = el("canvas");
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    var ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ["q", "k"].forEach(function (side) {
      tokens.forEach(function (t, i) {
        var span = el("span", "tx-hv-tok", t);
        span.dataset.i = String(i);
        span.dataset.side = side;
        columns[side].appendChild(span);
        spans[side].push(span);
      });
    });
    view.appendChild(columns.q);
    view.appendChild(canvas);
    view.appendChild(columns.k);
    var pinned = null;
    var marked = [];
    function weight(side, i, j) { return side === "q" ? weights[i * n + j] : weights[j * n + i]; }
    function draw(focus) {
      marked.forEach(function (span) { span.style.backgroundColor = ""; span.classList.remove("tx-hot"); });
      marked = [];
      var buckets = [[], [], [], [], [], [], [], [], [], []];
      var links = 0;
      var floor = focus ? floors.one : floors.all;
      var add = function (q, k, w) {
        if (w < floor || w <= 0) return;
        buckets[Math.min(9, Math.floor(w / top * 10))].push(q, k);
        links += 1;
      };
      if (!focus) {
        for (var q = 0; q < n; q++) for (var k = 0; k < n; k++) add(q, k, weights[q * n + k]);
      } else {
        var other = focus.side === "q" ? "k" : "q";
        spans[focus.side][focus.i].classList.add("tx-hot");
        marked.push(spans[focus.side][focus.i]);
        for (var j = 0; j < n; j++) {
          var w = weight(focus.side, focus.i, j);
          if (focus.side === "q") add(focus.i, j, w); else add(j, focus.i, w);
          if (w >= floor && w > 0) {
            spans[other][j].style.backgroundColor = colour(ATT, w, top);
            marked.push(spans[other][j]);
          }
        }
      }
      ctx.clearRect(0, 0, width, height);
      ctx.lineWidth = focus ? 2 : 1;
      buckets.forEach(function (pairs, b) {
        if (!pairs.length) return;
        ctx.strokeStyle = "rgba(" + ATT.join(",") + "," + ((b + 1) / 10).toFixed(1) + ")";
        ctx.beginPath();
        for (var p = 0; p < pairs.length; p += 2) {
          ctx.moveTo(0, (pairs[p] + 0.5) * HEAD_ROW);
          ctx.lineTo(width, (pairs[p + 1] + 0.5) * HEAD_ROW);
        }
        ctx.stroke();
      });
      note.textContent = links + " links drawn (weights ≥ " + fixed(floor, 3) + (floor > floors.one ?
        ": the strongest " + LINK_BUDGET + " at most" : ", " + LINK_FLOOR * 100 + "% of the scale's top") + ")" +
        (focus ? "" : "; hover or click a token to see its own.");
      readout.textContent = focus ? strongest(focus) : hint;
    }
    function strongest(focus) {
      var order = tokens.map(function (_, j) { return j; });
      order.sort(function (a, b) { return weight(focus.side, focus.i, b) - weight(focus.side, focus.i, a); });
      var top5 = order.slice(0, 5).map(function (j) { return tokens[j] + " " + weight(focus.side, focus.i, j).toFixed(3); });
      return "“" + tokens[focus.i] + "” (" + (focus.side === "q" ? "query " + focus.i + ") attends to: " :
        "key " + focus.i + ") is attended to by: ") + top5.join(" · ");
    }
    function tokenAt(ev) {
      var node = ev.target && ev.target.closest ? ev.target.closest(".tx-hv-tok") : null;
      return node ? { side: node.dataset.side, i: Number(node.dataset.i) } : null;
    }
    view.addEventListener("mouseover", function (ev) { var t = tokenAt(ev); if (t) draw(t); });
    view.addEventListener("mouseleave", function () { draw(pinned); });
    view.addEventListener("click", function (ev) {
      var t = tokenAt(ev);
      if (!t) return;
      pinned = pinned && pinned.side === t.side && pinned.i === t.i ? null : t;
      draw(pinned || t);
    });
    draw(null);
    box.appendChild(note);
    box.appendChild(readout);
    var scroll = el("div", "tx-hv-scroll");
    scroll.appendChild(view);
    box.appendChild(scroll);
    return box;
  }



  REPORT.inflate = inflate; REPORT.AttentionMaps = AttentionMaps; REPORT.selectionName = selectionName;
  REPORT.thumbnail = thumbnail; REPORT.linkFloor = linkFloor; REPORT.headView = headView;
})();
