/* trexplain serve: the app's own controls. Drawing is the report's renderer (report.js, served from the same
   files the HTML report inlines): `trexplain.render(payload, element)`. Panels are separate files
   (`panel-*.js`, loaded before this one) that register `trexplain.panels.push({key, title, order,
   available(ctx), render(ctx, body)})`; a panel shows when `available` says so (e.g. an index is served).

   Every string from the server or the user reaches the page through textContent; no cookies: a token
   given as `#token=…` in the URL is kept in memory only. The URL's fragment holds the state (model(s), text,
   methods, class, panel), so a link reopens the same view. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  TX.panels = TX.panels || [];
  var U = TX.util;
  var el = U.el;
  var token = null;
  var STATE_KEYS = ["panel", "model", "model2", "methods", "target", "truncate", "windows", "text"];

  // ------------------------------------------------------------------ server calls
  function ApiError(status, error) {
    this.status = status;
    this.error = error || {};
    this.message = (error && error.message) || ("HTTP " + status);
  }

  function api(path, body, method) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    var init = { method: method || (body === undefined ? "GET" : "POST"), headers: headers, credentials: "omit" };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(path, init).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new ApiError(response.status, data.error);
        return data;
      }, function () { throw new ApiError(response.status, { message: "the server sent no JSON" }); });
    });
  }

  function job(path, body, onProgress) {
    // Start a job and poll it; returns {promise, cancel}. onProgress(job) gets each poll's state.
    var id = null;
    var stopped = false;
    var remove = function () { api("/api/jobs/" + encodeURIComponent(id), undefined, "DELETE").catch(function () {}); };
    var promise = api(path, body).then(function (first) {
      id = first.id;
      if (stopped) remove();  // cancelled before the server had answered with the job's id
      return new Promise(function (resolve, reject) {
        function poll() {
          api("/api/jobs/" + encodeURIComponent(id)).then(function (state) {
            if (onProgress) onProgress(state);
            if (state.state === "done") resolve(state.result);
            else if (state.state === "cancelled") reject(new ApiError(499, { message: "cancelled" }));
            else setTimeout(poll, stopped ? 50 : 200);
          }, reject);
        }
        poll();
      });
    });
    return {
      promise: promise,
      cancel: function () {
        stopped = true;
        if (id) remove();
      }
    };
  }

  function progressLine(state) {
    var parts = (state.progress || []).filter(function (s) { return !s.finished; }).map(function (s) {
      return s.label + (s.total ? " " + s.done + "/" + s.total : "");
    });
    return state.state + (parts.length ? ": " + parts.join(" · ") : "") + " (" + state.seconds.toFixed(1) + " s)";
  }

  // ------------------------------------------------------------------ state in the URL
  var state = { panel: "explain", model: "", model2: "", methods: "", target: "predicted", truncate: "", windows: "",
    text: "" };

  function readHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (params.has("token")) {
      token = params.get("token");
      params.delete("token");
      history.replaceState(null, "", location.pathname + location.search + (params.toString() ? "#" + params : ""));
    }
    STATE_KEYS.forEach(function (k) { if (params.has(k)) state[k] = params.get(k); });
  }

  function writeHash() {
    var params = new URLSearchParams();
    STATE_KEYS.forEach(function (k) { if (state[k]) params.set(k, state[k]); });
    history.replaceState(null, "", "#" + params.toString());
  }

  // ------------------------------------------------------------------ export
  // The view is drawn as SVG from its laid-out DOM: boxes as <rect>/<path>, words as <text>, canvases and images
  // as <image>, inline charts as nested <svg>; no foreignObject, so Inkscape, Word and LaTeX render it. A copy of
  // the view is laid out beside it with its scroll boxes opened, so the export holds the whole view, not the part
  // scrolled into sight.
  var SVG_NS = "http://www.w3.org/2000/svg", XLINK_NS = "http://www.w3.org/1999/xlink";
  var SCALES = [1, 2, 3, 4];
  var MAX_SIDE = 16384;  // Chromium's largest canvas side
  var SHAPE_STYLE = ["fill", "fill-opacity", "stroke", "stroke-width", "stroke-opacity", "stroke-dasharray", "opacity",
    "font-size", "font-family", "font-weight", "text-anchor", "dominant-baseline"];

  function node(tag, attrs) {
    var n = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
    return n;
  }

  function seen(colour) {
    return !!colour && colour !== "transparent" && !/^rgba\(.*,\s*0\)$/.test(colour);
  }

  function scrolls(cs) {
    return /auto|scroll/.test(cs.overflowX + cs.overflowY);
  }

  function clips(cs) {
    return /hidden|clip/.test(cs.overflowX + cs.overflowY);
  }

  function expanded(view) {
    // A copy of the view laid out off-screen in the same parent (the panel's CSS applies), scroll boxes opened.
    var copy = view.cloneNode(true);
    var from = view.querySelectorAll("canvas"), to = copy.querySelectorAll("canvas");
    for (var i = 0; i < to.length; i++) {
      to[i].width = from[i].width;
      to[i].height = from[i].height;
      to[i].getContext("2d").drawImage(from[i], 0, 0);
    }
    copy.style.position = "absolute";
    copy.style.left = "-100000px";
    copy.style.top = "0";
    copy.style.width = view.getBoundingClientRect().width + "px";
    copy.setAttribute("aria-hidden", "true");
    copy.querySelectorAll("details:not([open]) > :not(summary)").forEach(function (n) { n.remove(); });
    view.parentNode.appendChild(copy);
    [copy].concat(Array.prototype.slice.call(copy.querySelectorAll("*"))).forEach(function (n) {
      if (n.namespaceURI !== "http://www.w3.org/1999/xhtml" || !scrolls(getComputedStyle(n))) return;
      n.style.overflow = "visible";
      n.style.maxHeight = "none";
      n.style.maxWidth = "none";
      n.style.height = "auto";
    });
    return copy;
  }

  function extent(copy) {
    // The copy's full size: its own box and every descendant's, from its top-left corner.
    var origin = copy.getBoundingClientRect();
    var right = origin.right, bottom = origin.bottom;
    copy.querySelectorAll("*").forEach(function (n) {
      var r = n.getBoundingClientRect();
      if (!r.width && !r.height) return;
      right = Math.max(right, r.right);
      bottom = Math.max(bottom, r.bottom);
    });
    return { x: origin.left, y: origin.top, width: Math.ceil(right - origin.left), height: Math.ceil(bottom - origin.top) };
  }

  function inside(r, clip) {
    return !clip || (r.left + r.width / 2 >= clip.left && r.left + r.width / 2 <= clip.right &&
      r.top + r.height / 2 >= clip.top && r.top + r.height / 2 <= clip.bottom);
  }

  var gradients = 0;

  function gradient(css, out) {
    // A CSS linear-gradient (colour bars) as an SVG <linearGradient> with even stops; its fill URL, or null.
    var colours = css.indexOf("linear-gradient(") === 0 ? css.match(/rgba?\([^)]*\)/g) : null;
    if (!colours || colours.length < 2) return null;
    var across = /to right/.test(css), id = "tx-gradient-" + (++gradients);
    var g = node("linearGradient", { id: id, x1: 0, y1: 0, x2: across ? 1 : 0, y2: across ? 0 : 1 });
    colours.forEach(function (c, i) { g.appendChild(node("stop", { offset: i / (colours.length - 1), "stop-color": c })); });
    out.appendChild(g);
    return "url(#" + id + ")";
  }

  function box(n, cs, r, at, out) {
    // The element's background (a colour or a linear gradient) and borders.
    var x = r.left - at.x, y = r.top - at.y, radius = parseFloat(cs.borderTopLeftRadius) || 0;
    var fill = seen(cs.backgroundColor) ? cs.backgroundColor : null;
    var painted = cs.backgroundImage !== "none" ? gradient(cs.backgroundImage, out) : null;
    [fill, painted].forEach(function (f) {
      if (f) out.appendChild(node("rect", { x: x, y: y, width: r.width, height: r.height, rx: Math.min(radius, r.height / 2), fill: f }));
    });
    var sides = [["Top", x, y, x + r.width, y], ["Right", x + r.width, y, x + r.width, y + r.height],
      ["Bottom", x, y + r.height, x + r.width, y + r.height], ["Left", x, y, x, y + r.height]];
    sides.forEach(function (s) {
      var w = parseFloat(cs["border" + s[0] + "Width"]) || 0, colour = cs["border" + s[0] + "Color"];
      if (!w || cs["border" + s[0] + "Style"] === "none" || !seen(colour)) return;
      out.appendChild(node("path", { d: "M" + s[1] + " " + s[2] + "L" + s[3] + " " + s[4], stroke: colour, "stroke-width": w }));
    });
  }

  function image(src, r, at, out) {
    var img = node("image", { x: r.left - at.x, y: r.top - at.y, width: r.width, height: r.height, preserveAspectRatio: "none" });
    img.setAttributeNS(XLINK_NS, "xlink:href", src);
    out.appendChild(img);
  }

  function chart(n, r, at, out) {
    // An inline SVG chart: a copy with each shape's computed style written on it (the page's CSS stays behind).
    var copy = n.cloneNode(true);
    var live = n.querySelectorAll("*"), copies = copy.querySelectorAll("*");
    for (var i = 0; i < live.length; i++) {
      var cs = getComputedStyle(live[i]);
      SHAPE_STYLE.forEach(function (p) { var v = cs.getPropertyValue(p); if (v) copies[i].setAttribute(p, v); });
      copies[i].removeAttribute("class");
    }
    copy.removeAttribute("class");
    copy.removeAttribute("style");
    copy.setAttribute("x", r.left - at.x);
    copy.setAttribute("y", r.top - at.y);
    copy.setAttribute("width", r.width);
    copy.setAttribute("height", r.height);
    out.appendChild(copy);
  }

  var graphemes = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

  function pieces(text) {
    // [start, end) of each word (a run of non-space) in `text`.
    var out = [], re = /\S+/g, m;
    while ((m = re.exec(text))) out.push([m.index, m.index + m[0].length]);
    return out;
  }

  function words(t, cs, at, clip, out) {
    var text = t.data, range = document.createRange();
    var upper = cs.textTransform === "uppercase", size = parseFloat(cs.fontSize) || 14;
    function emit(start, end, r) {
      if (!r.width || !inside(r, clip)) return;
      var s = text.slice(start, end);
      var label = node("text", { x: (r.left - at.x).toFixed(2), y: (r.top - at.y + r.height * 0.8).toFixed(2),
        "font-family": cs.fontFamily, "font-size": size, fill: cs.color, textLength: r.width.toFixed(2),
        lengthAdjust: "spacingAndGlyphs" });
      if (parseInt(cs.fontWeight, 10) >= 600) label.setAttribute("font-weight", "bold");
      if (cs.fontStyle === "italic") label.setAttribute("font-style", "italic");
      label.textContent = upper ? s.toUpperCase() : s;
      out.appendChild(label);
    }
    pieces(text).forEach(function (p) {
      range.setStart(t, p[0]);
      range.setEnd(t, p[1]);
      var rects = range.getClientRects();
      if (rects.length <= 1) { if (rects.length) emit(p[0], p[1], rects[0]); return; }
      var parts = graphemes ? Array.from(graphemes.segment(text.slice(p[0], p[1]))).map(function (g) { return g.segment; }) :
        Array.from(text.slice(p[0], p[1]));
      var at0 = p[0];
      parts.forEach(function (g) {
        range.setStart(t, at0);
        range.setEnd(t, at0 + g.length);
        var r = range.getBoundingClientRect();
        emit(at0, at0 + g.length, r);
        at0 += g.length;
      });
    });
  }

  function paint(n, at, clip, out) {
    if (n.nodeType === Node.TEXT_NODE) {
      if (/\S/.test(n.data)) words(n, getComputedStyle(n.parentElement), at, clip, out);
      return;
    }
    if (n.nodeType !== Node.ELEMENT_NODE) return;
    var cs = getComputedStyle(n);
    if (cs.display === "none" || cs.visibility === "hidden" || cs.opacity === "0") return;
    var r = n.getBoundingClientRect();
    if (n.namespaceURI === SVG_NS) { if (r.width) chart(n, r, at, out); return; }
    box(n, cs, r, at, out);
    var tag = n.tagName.toLowerCase();
    if (tag === "canvas") { if (r.width) image(n.toDataURL("image/png"), r, at, out); return; }
    if (tag === "img") { if (r.width && n.src) image(n.src, r, at, out); return; }
    if (clips(cs)) {
      var c = { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
      clip = clip ? { left: Math.max(c.left, clip.left), top: Math.max(c.top, clip.top),
        right: Math.min(c.right, clip.right), bottom: Math.min(c.bottom, clip.bottom) } : c;
    }
    n.childNodes.forEach(function (child) { paint(child, at, clip, out); });
  }

  function svgOf(view) {
    // {svg (text), width, height}: the whole view as vector drawing.
    var copy = expanded(view);
    try {
      var at = extent(copy);
      var root = node("svg", { width: at.width, height: at.height, viewBox: "0 0 " + at.width + " " + at.height, version: "1.1" });
      root.setAttribute("xmlns:xlink", XLINK_NS);
      root.appendChild(node("rect", { x: 0, y: 0, width: at.width, height: at.height, fill: "#ffffff" }));
      paint(copy, at, null, root);
      return { svg: new XMLSerializer().serializeToString(root), width: at.width, height: at.height };
    } finally {
      copy.remove();
    }
  }

  function pngOf(view, scale) {
    // {blob, scale}: the view's SVG drawn on a canvas `scale` times its size (less where a side would pass
    // Chromium's limit; the scale used is returned).
    var out = svgOf(view);
    var used = Math.min(scale, MAX_SIDE / out.width, MAX_SIDE / out.height);
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () {
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(out.width * used));
        canvas.height = Math.max(1, Math.round(out.height * used));
        var c2 = canvas.getContext("2d");
        c2.scale(used, used);
        c2.drawImage(img, 0, 0, out.width, out.height);
        canvas.toBlob(function (blob) { if (blob) resolve({ blob: blob, scale: used }); else reject(new Error("no PNG")); }, "image/png");
      };
      img.onerror = function () { reject(new Error("the view could not be drawn as an image")); };
      img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(out.svg);
    });
  }

  function download(blob, name) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function exportBar(name, view, data) {
    // PNG (at a chosen scale), SVG and JSON of one view: `view` the element to draw, `data()` what the view shows.
    var bar = el("div", "app-export-bar");
    var status = el("span", "tx-note");
    var scale = document.createElement("select");
    scale.className = "app-export-scale";
    scale.setAttribute("aria-label", "PNG scale");
    SCALES.forEach(function (s) {
      var o = document.createElement("option");
      o.value = String(s);
      o.textContent = s + "×";
      o.selected = s === 2;
      scale.appendChild(o);
    });
    function run(kind) {
      status.textContent = "";
      var done = new Promise(function (resolve) {
        if (kind === "json") resolve({ blob: new Blob([JSON.stringify(data(), null, 2)], { type: "application/json" }) });
        else if (kind === "svg") resolve({ blob: new Blob([svgOf(view).svg], { type: "image/svg+xml" }) });
        else resolve(pngOf(view, Number(scale.value)));
      });
      done.then(function (o) {
        download(o.blob, "trexplain-" + name + "." + kind);
        status.textContent = "saved " + kind.toUpperCase() +
          (o.scale !== undefined && o.scale < Number(scale.value) ? " at " + o.scale.toFixed(2) + "× (the largest canvas)" : "");
      }, function (e) { status.textContent = "export failed: " + e.message; });
    }
    bar.appendChild(el("span", "tx-note", "export"));
    bar.appendChild(scale);
    ["png", "svg", "json"].forEach(function (kind) {
      bar.appendChild(U.button(kind.toUpperCase(), false, function () { run(kind); }, "app-export-" + kind));
    });
    bar.appendChild(status);
    return bar;
  }

  // ------------------------------------------------------------------ the shared context for panels
  var cache = {};
  var ctx = {
    api: api,
    job: job,
    progressLine: progressLine,
    exportBar: exportBar,
    util: U,
    state: state,
    info: null,
    model: function (name) {
      var found = ctx.info.models.filter(function (m) { return m.name === (name || state.model); });
      return found[0] || ctx.info.models[0];
    },
    methods: function () { return state.methods ? state.methods.split(",") : [ctx.info.default_method]; },
    target: function () {
      var t = state.target || "predicted";
      return /^\d+$/.test(t) ? Number(t) : t;
    },
    explain: function (text, model) {
      // The report payload of `text` (default: the current one) with the chosen methods and class, cached.
      var body = { texts: [text === undefined ? state.text : text], model: model || ctx.model().name,
        methods: ctx.methods(), target: ctx.target(), truncate: state.truncate === "1", windows: state.windows === "1",
        format: "report" };
      var key = JSON.stringify(body);
      if (!cache[key]) {
        var keys = Object.keys(cache);
        if (keys.length >= 64) delete cache[keys[0]];  // the oldest: a session stays small
        cache[key] = api("/api/explain", body).catch(function (e) { delete cache[key]; throw e; });
      }
      return cache[key];
    },
    render: function (payload, into) {
      // Draw with the shared renderer; a payload's card controls (method, class) stay the renderer's own.
      TX.render(payload, into);
      return into;
    },
    error: function (into, e) {
      if (e.error && e.error.type === "InputTooLongError") return tooLong(into, e);
      var box = el("div", "app-error");
      box.appendChild(el("b", null, e.error && e.error.limit ? "limit " + e.error.limit + ": " : "error: "));
      box.appendChild(document.createTextNode(e.message || String(e)));
      into.appendChild(box);
    },
    set: function (patch) {
      Object.keys(patch).forEach(function (k) { state[k] = patch[k] === null ? "" : String(patch[k]); });
      var area = document.getElementById("app-text");
      if (area && area.value !== state.text) area.value = state.text;
      writeHash();
      draw();
    }
  };
  TX.app = ctx;

  function tooLong(into, e) {
    // A text longer than the model takes: the app's own two ways out (its first part, or all of it in windows), not
    // a command-line flag.
    var box = el("div", "app-error app-too-long");
    box.appendChild(el("b", null, "too long: "));
    box.appendChild(document.createTextNode(e.message.split(". ")[0].replace(/^text \d+ has/, "this text has") + ". "));
    if (["explain", "whatif"].indexOf(state.panel) < 0) {  // the panels whose explanations can be cut or windowed
      box.appendChild(document.createTextNode("This view needs the whole text in one model input: shorten it above."));
      into.appendChild(box);
      return;
    }
    var choices = el("div", "app-row");
    choices.appendChild(U.button("explain its first part (truncate)", false,
      function () { ctx.set({ truncate: "1", windows: null }); }, "app-truncate"));
    choices.appendChild(U.button("explain all of it in windows", false,
      function () { ctx.set({ windows: "1", truncate: null }); }, "app-windows"));
    box.appendChild(choices);
    box.appendChild(el("p", "tx-note", "truncate: the model sees only the first part, and the explanation records where " +
      "the text was cut. windows: overlapping parts the model takes, each token's score the mean over the windows " +
      "that hold it (slower). Or shorten the text above."));
    into.appendChild(box);
  }

  TX.loadAttentionLayer = function (att, layer) {
    // Called by report.js for a lazy attention entry: one block's per-head maps, fetched when first shown.
    var src = att.source || {};
    return api("/api/attention", { text: src.text, model: src.model, layer: layer }).then(function (r) { return r.data; });
  };

  // ------------------------------------------------------------------ the page
  var root = document.getElementById("app");
  var controls, tabs, main;

  function option(select, value, label, chosen) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    o.selected = value === chosen;
    select.appendChild(o);
  }

  function buildControls() {
    controls = el("form", "app-controls");
    controls.addEventListener("submit", function (ev) { ev.preventDefault(); });
    var area = el("textarea", "app-text");
    area.id = "app-text";
    area.rows = 3;
    area.placeholder = "Type or paste a text…";
    area.maxLength = ctx.info.limits.max_chars;
    area.value = state.text;
    area.setAttribute("aria-label", "text to explain");
    controls.appendChild(area);

    var row = el("div", "app-row");
    var model = document.createElement("select");
    model.id = "app-model";
    model.setAttribute("aria-label", "model");
    ctx.info.models.forEach(function (m) { option(model, m.name, m.name, ctx.model().name); });
    row.appendChild(labelled("model", model));

    var methods = el("div", "app-methods");
    methods.id = "app-methods";
    var chosen = ctx.methods();
    Object.keys(ctx.info.methods).forEach(function (name) {
      var box = document.createElement("input");
      box.type = "checkbox";
      box.value = name;
      box.checked = chosen.indexOf(name) >= 0;
      box.id = "app-method-" + name;
      var label = el("label", "app-method");
      label.title = ctx.info.methods[name].summary + " (" + ctx.info.methods[name].cost + ")";
      label.appendChild(box);
      label.appendChild(document.createTextNode(name));
      methods.appendChild(label);
    });
    row.appendChild(labelled("methods", methods));

    var target = document.createElement("select");
    target.id = "app-target";
    target.setAttribute("aria-label", "class");
    option(target, "predicted", "predicted class", state.target);
    option(target, "all", "every class", state.target);
    ctx.model().labels.forEach(function (label, i) { option(target, String(i), label, state.target); });
    row.appendChild(labelled("class", target));

    var go = el("button", "app-go", "Explain");
    go.type = "submit";
    go.id = "app-go";
    row.appendChild(go);
    controls.appendChild(row);

    function apply() {
      var names = Array.prototype.filter.call(methods.querySelectorAll("input"), function (b) { return b.checked; })
        .map(function (b) { return b.value; });
      ctx.set({ text: area.value, model: model.value, methods: names.join(","), target: target.value,
        truncate: area.value === state.text ? state.truncate : null,  // a new text is not cut unasked
        windows: area.value === state.text ? state.windows : null });
    }
    go.addEventListener("click", apply);
    target.addEventListener("change", apply);
    model.addEventListener("change", function () { state.target = "predicted"; apply(); rebuild(); });
    methods.addEventListener("change", apply);
    area.addEventListener("keydown", function (ev) { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) apply(); });
    return controls;
  }

  function labelled(text, node) {
    var box = el("div", "app-field");
    box.appendChild(el("span", "app-label", text));
    box.appendChild(node);
    return box;
  }

  function panels() {
    return TX.panels.filter(function (p) { return !p.available || p.available(ctx); })
      .sort(function (a, b) { return (a.order || 50) - (b.order || 50); });
  }

  function buildTabs() {
    tabs = el("nav", "app-tabs");
    panels().forEach(function (p) {
      var b = U.button(p.title, p.key === state.panel, function () { ctx.set({ panel: p.key }); }, "app-tab");
      b.dataset.panel = p.key;
      tabs.appendChild(b);
    });
    return tabs;
  }

  function draw() {
    var list = panels();
    var panel = list.filter(function (p) { return p.key === state.panel; })[0] || list[0];
    Array.prototype.forEach.call(tabs.children, function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.panel === panel.key));
    });
    main.textContent = "";
    var body = el("section", "app-panel app-panel-" + panel.key);
    main.appendChild(body);
    panel.render(ctx, body);
  }

  function rebuild() {
    root.textContent = "";
    var header = el("header", "app-header");
    header.appendChild(el("h1", null, "trexplain"));
    header.appendChild(el("span", "tx-note", "explore a model: type a text, pick methods and a class, then look inside"));
    var docs = el("a", "app-docs", "API docs");
    docs.href = "/docs";
    header.appendChild(docs);
    root.appendChild(header);
    root.appendChild(buildControls());
    root.appendChild(buildTabs());
    main = el("main", "app-main");
    root.appendChild(main);
    draw();
    document.documentElement.dataset.ready = "true";
  }

  readHash();
  api("/api/models").then(function (info) {
    ctx.info = info;
    if (!state.model) state.model = info.models[0].name;
    rebuild();
  }, function (e) {
    root.textContent = "";
    ctx.error(root, e.status === 401 ? { message: "this server needs its token: open the URL it printed (…/#token=…)" } : e);
    document.documentElement.dataset.ready = "true";
  });
})();
