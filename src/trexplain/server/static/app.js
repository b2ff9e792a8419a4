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
  var STATE_KEYS = ["panel", "model", "model2", "methods", "target", "text"];

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
  var state = { panel: "explain", model: "", model2: "", methods: "", target: "predicted", text: "" };

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
  var cssText = null;
  function styles() {
    if (cssText === null) {
      cssText = Promise.all(["/assets/report.css", "/static/app.css"].map(function (u) {
        return fetch(u, { credentials: "omit" }).then(function (r) { return r.text(); });
      })).then(function (parts) { return parts.join("\n"); });
    }
    return cssText;
  }

  function svgOf(node) {
    // The view as SVG: its DOM (canvases as PNG images) in a foreignObject with the page's style sheets.
    return styles().then(function (css) {
      var box = node.getBoundingClientRect();
      var width = Math.ceil(Math.max(box.width, node.scrollWidth)), height = Math.ceil(Math.max(box.height, node.scrollHeight));
      var clone = node.cloneNode(true);
      var originals = node.querySelectorAll("canvas");
      var copies = clone.querySelectorAll("canvas");
      for (var i = 0; i < copies.length; i++) {
        var img = document.createElement("img");
        img.src = originals[i].toDataURL("image/png");
        img.width = originals[i].clientWidth || originals[i].width;
        img.height = originals[i].clientHeight || originals[i].height;
        copies[i].replaceWith(img);
      }
      var details = clone.querySelectorAll("details");
      for (var d = 0; d < details.length; d++) if (details[d].open) details[d].setAttribute("open", "");
      clone.setAttribute("xmlns", "http://www.w3.org/1999/xhtml");
      clone.style.width = width + "px";
      var html = new XMLSerializer().serializeToString(clone);
      var style = new XMLSerializer().serializeToString(Object.assign(document.createElement("style"), { textContent: css }));
      var doc = '<svg xmlns="http://www.w3.org/2000/svg" width="' + width + '" height="' + height + '" viewBox="0 0 ' +
        width + " " + height + '"><foreignObject x="0" y="0" width="100%" height="100%"><div xmlns="http://www.w3.org/1999/xhtml" ' +
        'class="app-export">' + style + html + "</div></foreignObject></svg>";
      return { svg: doc, width: width, height: height };
    });
  }

  function pngOf(node) {
    return svgOf(node).then(function (out) {
      return new Promise(function (resolve, reject) {
        var img = new Image();
        img.onload = function () {
          var ratio = Math.min(2, window.devicePixelRatio || 1);
          var canvas = document.createElement("canvas");
          canvas.width = Math.max(1, Math.round(out.width * ratio));
          canvas.height = Math.max(1, Math.round(out.height * ratio));
          var ctx2 = canvas.getContext("2d");
          ctx2.fillStyle = "#fff";
          ctx2.fillRect(0, 0, canvas.width, canvas.height);
          ctx2.scale(ratio, ratio);
          ctx2.drawImage(img, 0, 0);
          canvas.toBlob(function (blob) { if (blob) resolve(blob); else reject(new Error("no PNG")); }, "image/png");
        };
        img.onerror = function () { reject(new Error("the view could not be drawn as an image")); };
        img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(out.svg);
      });
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
    // PNG, SVG and JSON of one view: `view` the element to draw, `data()` what the view shows.
    var bar = el("div", "app-export-bar");
    var status = el("span", "tx-note");
    function run(kind) {
      status.textContent = "";
      var done = kind === "json" ?
        Promise.resolve(new Blob([JSON.stringify(data(), null, 2)], { type: "application/json" })) :
        kind === "svg" ? svgOf(view).then(function (o) { return new Blob([o.svg], { type: "image/svg+xml" }); }) : pngOf(view);
      done.then(function (blob) { download(blob, "trexplain-" + name + "." + kind); status.textContent = "saved " + kind.toUpperCase(); },
        function (e) { status.textContent = "export failed: " + e.message; });
    }
    bar.appendChild(el("span", "tx-note", "export"));
    ["png", "svg", "json"].forEach(function (kind) {
      var b = U.button(kind.toUpperCase(), false, function () { run(kind); }, "app-export-" + kind);
      bar.appendChild(b);
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
        methods: ctx.methods(), target: ctx.target(), format: "report" };
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
      ctx.set({ text: area.value, model: model.value, methods: names.join(","), target: target.value });
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
