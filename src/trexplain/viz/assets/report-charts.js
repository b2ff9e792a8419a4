/* trexplain report renderer, part "charts": charts: removal curves, colour bars and canvas heatmaps. viz/html.py
   inlines the parts (report-*.js, in the order of its REPORT_PARTS), then the section-*.js plug-ins, then
   report.js; the parts share their names on window.trexplain.report. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  var REPORT = TX.report = TX.report || {};
  var CURVES = REPORT.CURVES, cssColour = REPORT.cssColour, el = REPORT.el, isNum = REPORT.isNum, svg =
    REPORT.svg;

  function curveChart(curves, floor) {
    var W = 320, H = 200, L = 38, B = 28, T = 8, R = 8;
    var chart = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img" });
    var x = function (f) { return L + f * (W - L - R); };
    var y = function (p) { return H - B - p * (H - B - T); };
    chart.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - B - T, fill: "none", stroke: "#d0d7de" }));
    [0, 0.5, 1].forEach(function (v) {
      var ty = svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
      ty.textContent = v.toFixed(1);
      chart.appendChild(ty);
      var tx = svg("text", { x: x(v), y: H - B + 12, "text-anchor": "middle" });
      tx.textContent = v.toFixed(1);
      chart.appendChild(tx);
    });
    var xl = svg("text", { x: L + (W - L - R) / 2, y: H - 4, "text-anchor": "middle" });
    xl.textContent = "fraction removed / inserted";
    chart.appendChild(xl);
    var yl = svg("text", { x: 10, y: T + (H - B - T) / 2, "text-anchor": "middle", transform: "rotate(-90 10 " + (T + (H - B - T) / 2) + ")" });
    yl.textContent = "p(class)";
    chart.appendChild(yl);
    var legend = el("div", "tx-legend");
    var lines = CURVES.slice();
    if (floor && floor.morf) {
      curves = Object.assign({ floor: floor.morf }, curves);
      lines.push(["floor", "random scores, most relevant first", "rgb(140,149,159)", "4 3"]);
    }
    lines.forEach(function (c) {
      var curve = curves[c[0]];
      if (!curve || !curve.fractions || !curve.fractions.length) return;
      var pts = curve.fractions.map(function (f, i) { return x(f).toFixed(1) + "," + y(curve.probabilities[i] || 0).toFixed(1); });
      var line = svg("polyline", { points: pts.join(" "), fill: "none", stroke: c[2], "stroke-width": 2, "stroke-dasharray": c[3] || "none" });
      var title = svg("title");
      title.textContent = c[1];
      line.appendChild(title);
      chart.appendChild(line);
      var item = el("span");
      var sw = el("span", "tx-swatch");
      sw.style.background = c[2];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(c[0] + ": " + c[1]));
      legend.appendChild(item);
    });
    var box = el("div");
    box.appendChild(chart);
    box.appendChild(legend);
    return box;
  }

  // A colour bar: the ramp's colours from left to right, its end values, an optional middle value and a caption.
  function colourBar(ramp, from, to, middle, caption) {
    var bar = el("div", "tx-cbar");
    bar.appendChild(el("span", "tx-cbar-end", from));
    var strip = el("span", "tx-cbar-ramp");
    strip.style.background = "linear-gradient(to right, " + ramp.map(cssColour).join(", ") + ")";
    if (middle !== null) strip.appendChild(el("span", "tx-cbar-mid", middle));
    bar.appendChild(strip);
    bar.appendChild(el("span", "tx-cbar-end", to));
    if (caption) bar.appendChild(el("span", "tx-note", caption));
    return bar;
  }

  // A canvas heatmap: cells are painted as pixels and scaled up (fast for 512 × 512), labels drawn where cells are
  // big enough, a readout on hover. spec.colour(v, row, col) gives an opaque [r, g, b]; zero and missing stay white.
  function heatmap(spec) {
    var rows = spec.rows, cols = spec.cols;
    var cw = spec.cellWidth || Math.max(1, Math.min(18, Math.floor(720 / Math.max(rows, cols, 1))));
    if (!spec.cellWidth && rows < 16) cw = Math.max(cw, Math.min(18, Math.floor(720 / Math.max(cols, 1))));
    var ch = spec.cellHeight || Math.max(cw, rows <= 16 ? 14 : cw);
    var clip = function (s) { s = String(s); return s.length > 14 ? s.slice(0, 13) + "…" : s; };
    var canvas = el("canvas");
    var ctx = canvas.getContext("2d");
    ctx.font = "11px system-ui, sans-serif";
    var widest = function (n, label) {
      var w = 0;
      for (var i = 0; i < n; i++) w = Math.max(w, ctx.measureText(clip(label(i))).width);
      return Math.ceil(w) + 8;
    };
    var left = ch >= 9 ? widest(rows, spec.rowLabel) : 4;
    var top = cw >= 9 ? widest(cols, spec.colLabel) : 4;
    var right = spec.rightLabel ? widest(rows, spec.rightLabel) + 4 : 4;
    var ratio = window.devicePixelRatio || 1;
    var width = left + cols * cw + right, height = top + rows * ch + 4;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "heatmap: rows " + spec.rowLabel(0) + " … " + spec.rowLabel(rows - 1) +
      ", columns " + spec.colLabel(0) + " … " + spec.colLabel(cols - 1));
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    var cells = document.createElement("canvas");
    cells.width = Math.max(1, cols);
    cells.height = Math.max(1, rows);
    var cellCtx = cells.getContext("2d");
    var image = cellCtx.createImageData(cells.width, cells.height);
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var v = spec.value(r, c);
        var paint = isNum(v) && v !== 0 ? spec.colour(v, r, c) : [255, 255, 255];
        var o = 4 * (r * cols + c);
        image.data[o] = paint[0];
        image.data[o + 1] = paint[1];
        image.data[o + 2] = paint[2];
        image.data[o + 3] = 255;
      }
    }
    cellCtx.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, left, top, cols * cw, rows * ch);
    ctx.strokeStyle = "#d0d7de";
    ctx.strokeRect(left - 0.5, top - 0.5, cols * cw + 1, rows * ch + 1);
    ctx.fillStyle = "#1f2328";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    if (left > 4) {
      ctx.textAlign = "right";
      for (var rr = 0; rr < rows; rr++) ctx.fillText(clip(spec.rowLabel(rr)), left - 4, top + rr * ch + ch / 2);
    }
    if (spec.rightLabel) {
      ctx.textAlign = "left";
      for (var rl = 0; rl < rows; rl++) ctx.fillText(clip(spec.rightLabel(rl)), left + cols * cw + 6, top + rl * ch + ch / 2);
    }
    if (top > 4) {
      ctx.textAlign = "left";
      for (var cc = 0; cc < cols; cc++) {
        ctx.save();
        ctx.translate(left + cc * cw + cw / 2, top - 4);
        ctx.rotate(-Math.PI / 2);
        ctx.fillText(clip(spec.colLabel(cc)), 0, 0);
        ctx.restore();
      }
    }
    var wrap = el("div");
    var scroll = el("div", "tx-canvas-wrap");
    scroll.appendChild(canvas);
    var readout = el("div", "tx-readout", "Hover a cell to see its value.");
    canvas.addEventListener("mousemove", function (ev) {
      var box = canvas.getBoundingClientRect();
      var c2 = Math.floor((ev.clientX - box.left - left) / cw);
      var r2 = Math.floor((ev.clientY - box.top - top) / ch);
      if (r2 < 0 || c2 < 0 || r2 >= rows || c2 >= cols) return;
      readout.textContent = spec.describe(r2, c2, spec.value(r2, c2));
    });
    wrap.appendChild(readout);
    wrap.appendChild(scroll);
    return wrap;
  }



  REPORT.curveChart = curveChart; REPORT.colourBar = colourBar; REPORT.heatmap = heatmap;
})();
