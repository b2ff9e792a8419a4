/* trexplain report renderer: draws the JSON in #tx-data. No dependencies, no network.
   Every string from the data reaches the page through textContent, attributes set as properties,
   or canvas fillText; nothing is parsed as HTML.

   Plug-ins: files named `section-*.js` beside this one are inlined before it (viz/html.py) and register
   themselves on `window.trexplain`:
     sections.push({key, render(value, data, util) -> Node})  a top-level section drawn after the sanity
                                                              section when `data[key]` is present;
     cards[kind] = function (entry, number, util) -> Node      the card of a text entry whose
                                                              `entry.layout` is `kind` (e.g. "image").
   `trexplain.render(data, root)` draws a payload into any element (the web app calls it).

   The renderer itself is split by section into the parts report-util.js, report-markdown.js, report-charts.js,
   report-summary.js, report-card.js and report-attention.js (inlined before the plug-ins, in that order); each
   shares its names on `window.trexplain.report`, and this file draws the page from them. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  TX.sections = TX.sections || [];
  TX.cards = TX.cards || {};

  var REPORT = TX.report;
  var Card = REPORT.Card, NEG = REPORT.NEG, PAGE_SIZE = REPORT.PAGE_SIZE, POS = REPORT.POS, button =
    REPORT.button, chip = REPORT.chip, colour = REPORT.colour, colourBar = REPORT.colourBar, cssColour =
    REPORT.cssColour, curveChart = REPORT.curveChart, el = REPORT.el, fixed = REPORT.fixed, group = REPORT.group,
    heatmap = REPORT.heatmap, isNum = REPORT.isNum, isSignedMethod = REPORT.isSignedMethod, markdown =
    REPORT.markdown, methodInfo = REPORT.methodInfo, own = REPORT.own, precise = REPORT.precise, renderHeader =
    REPORT.renderHeader, renderSanity = REPORT.renderSanity, renderSummary = REPORT.renderSummary, scoreColour =
    REPORT.scoreColour, shown = REPORT.shown, signed = REPORT.signed, signedColour = REPORT.signedColour,
    summaryTable = REPORT.summaryTable, svg = REPORT.svg;
  var root = null;

  // --------------------------------------------------------- the text list
  function renderTexts() {
    var section = el("section");
    var all = REPORT.data.texts.map(function (entry, i) { return i; });
    var noun = REPORT.data.texts.every(function (entry) { return entry.layout === "image"; }) ? "image" : "text";
    var state = { page: 0, filter: "", matches: all };
    var toolbar = el("div", "tx-toolbar");
    var list = el("div", "tx-list");
    var pager = el("div", "tx-pager");
    if (REPORT.data.texts.length > PAGE_SIZE) {
      var search = el("input");
      search.type = "search";
      search.placeholder = "filter " + noun + "s…";
      search.setAttribute("aria-label", "filter " + noun + "s");
      search.addEventListener("input", function () {
        var q = search.value.toLowerCase();
        state.matches = all.filter(function (i) {
          var entry = REPORT.data.texts[i];
          var name = typeof entry.text === "string" ? entry.text : String(entry.source || "");  // images: the file name
          return name.toLowerCase().indexOf(q) >= 0;
        });
        state.page = 0;
        draw();
      });
      toolbar.appendChild(search);
    }
    toolbar.appendChild(pager);
    section.appendChild(toolbar);
    section.appendChild(list);

    function draw() {
      var pages = Math.max(1, Math.ceil(state.matches.length / PAGE_SIZE));
      state.page = Math.min(state.page, pages - 1);
      var from = state.page * PAGE_SIZE;
      var shown = state.matches.slice(from, from + PAGE_SIZE);
      pager.textContent = "";
      if (pages > 1 || state.matches.length !== all.length) {
        var prev = button("‹ previous", false, function () { state.page -= 1; draw(); }, "tx-prev");
        prev.disabled = state.page === 0;
        var next = button("next ›", false, function () { state.page += 1; draw(); }, "tx-next");
        next.disabled = state.page >= pages - 1;
        pager.appendChild(prev);
        pager.appendChild(el("span", "tx-page", shown.length ?
          noun + "s " + (from + 1) + "–" + (from + shown.length) + " of " + state.matches.length + " (page " + (state.page + 1) + "/" + pages + ")" :
          "no " + noun + " matches"));
        pager.appendChild(next);
      }
      list.textContent = "";
      shown.forEach(function (i) { list.appendChild(card(REPORT.data.texts[i], i)); });
      window.scrollTo(0, Math.min(window.scrollY, section.offsetTop));
    }
    draw();
    return section;
  }

  function card(entry, number) {
    var kind = entry.layout;  // the layout's kind, spread into the record by `layout.to_dict`
    if (typeof kind === "string" && own(TX.cards, kind)) return TX.cards[kind](entry, number, TX.util);
    return new Card(entry, number).node;
  }

  TX.util = {
    el: el, svg: svg, isNum: isNum, signed: signed, fixed: fixed, precise: precise, colour: colour,
    signedColour: signedColour, scoreColour: scoreColour, cssColour: cssColour, button: button, group: group,
    chip: chip, markdown: markdown, summaryTable: summaryTable, curveChart: curveChart, colourBar: colourBar,
    heatmap: heatmap, methodInfo: methodInfo, isSignedMethod: isSignedMethod, own: own, POS: POS, NEG: NEG
  };

  TX.render = function (payload, into) {
    REPORT.data = payload;
    root = into;
    root.textContent = "";
    root.appendChild(renderHeader());
    var summary = renderSummary();
    if (summary) root.appendChild(summary);
    var sanity = renderSanity();
    if (sanity) root.appendChild(sanity);
    TX.sections.forEach(function (section) {
      if (!own(REPORT.data, section.key) || REPORT.data[section.key] === null) return;
      var node = section.render(REPORT.data[section.key], REPORT.data, TX.util);
      if (node) root.appendChild(node);
    });
    if (REPORT.data.texts && REPORT.data.texts.length) root.appendChild(renderTexts());
  };

  var embedded = document.getElementById("tx-data");
  if (!embedded) return;
  TX.render(JSON.parse(embedded.textContent), document.getElementById("tx-root"));
  if (window.parent !== window && window.ResizeObserver) {
    // Inside a notebook's iframe: tell the page around it how tall this document is, whenever that changes
    // (viz/html.py's `iframe` listens and resizes the frame). The message carries one number and nothing else.
    var posted = 0;
    new ResizeObserver(function () {
      var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
      if (height !== posted) window.parent.postMessage({ trexplainHeight: height }, "*");
      posted = height;
    }).observe(document.documentElement);
  }
  document.documentElement.dataset.ready = "true";
})();