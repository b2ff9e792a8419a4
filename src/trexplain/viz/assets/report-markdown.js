/* trexplain report renderer, part "markdown": the model card: a small, safe Markdown subset drawn with
   textContent. viz/html.py inlines the parts (report-*.js, in the order of its REPORT_PARTS), then the
   section-*.js plug-ins, then report.js; the parts share their names on window.trexplain.report. */
(function () {
  "use strict";

  var TX = window.trexplain = window.trexplain || {};
  var REPORT = TX.report = TX.report || {};
  var el = REPORT.el;

  // ------------------------------------------------------------- model card
  // A safe subset of Markdown drawn as DOM nodes: headings, paragraphs, lists, tables, rules, fenced code and
  // inline bold, italic, code and links. Card text reaches the page through textContent only; a link shows its
  // text and its URL as text and is never followed.
  var INLINE = [
    [/^`([^`]+)`/, "code"],
    [/^\*\*(\S[\s\S]*?)\*\*/, "strong"],
    [/^__(\S[\s\S]*?)__(?![A-Za-z0-9])/, "strong"],
    [/^\*(\S[\s\S]*?)\*/, "em"],
    [/^_(\S[\s\S]*?)_(?![A-Za-z0-9])/, "em"],
    [/^\[([^\]]*)\]\(\s*((?:[^()\s]|\([^()\s]*\))*)(?:\s+"[^"]*")?\s*\)/, "link"]
  ];
  var LIST = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  var HEADING = /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
  var TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

  function inline(parent, text) {
    var plain = "";
    var i = 0;
    function flush() { if (plain) parent.appendChild(document.createTextNode(plain)); plain = ""; }
    while (i < text.length) {
      var ch = text.charAt(i);
      if (ch === "\\" && /[\\`*_[\]()#|-]/.test(text.charAt(i + 1))) { plain += text.charAt(i + 1); i += 2; continue; }
      var m = null, kind = null;
      if ("`*_[".indexOf(ch) >= 0 && !(ch === "_" && /[A-Za-z0-9]/.test(text.charAt(i - 1)))) {
        var rest = text.slice(i);
        for (var r = 0; r < INLINE.length && !m; r++) { m = INLINE[r][0].exec(rest); kind = INLINE[r][1]; }
      }
      if (!m) { plain += ch; i += 1; continue; }
      flush();
      if (kind === "code") {
        parent.appendChild(el("code", null, m[1]));
      } else if (kind === "link") {
        var link = inline(el("span", "tx-md-link"), m[1]);
        link.appendChild(el("span", "tx-md-url", " (" + m[2] + ")"));
        parent.appendChild(link);
      } else {
        parent.appendChild(inline(el(kind), m[1]));
      }
      i += m[0].length;
    }
    flush();
    return parent;
  }
  function tableCells(line) {
    var out = [""];
    var s = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    for (var i = 0; i < s.length; i++) {
      var ch = s.charAt(i);
      if (ch === "\\" && s.charAt(i + 1) === "|") { out[out.length - 1] += "|"; i += 1; }
      else if (ch === "|") out.push("");
      else out[out.length - 1] += ch;
    }
    return out.map(function (c) { return c.trim(); });
  }
  function markdownTable(box, lines, i) {
    var head = tableCells(lines[i]);
    var align = tableCells(lines[i + 1]).map(function (c) {
      return /^:-+:$/.test(c) ? "center" : /-:$/.test(c) ? "right" : "left";
    });
    var table = el("table", "tx-md-table");
    function row(cells, tag) {
      var tr = el("tr");
      head.forEach(function (_, j) {
        var cell = inline(el(tag), cells[j] || "");
        cell.style.textAlign = align[j] || "left";
        tr.appendChild(cell);
      });
      table.appendChild(tr);
    }
    if (head.some(function (c) { return c; })) row(head, "th");  // "| | |" is a table without a header
    for (i += 2; i < lines.length && lines[i].trim() && lines[i].indexOf("|") >= 0; i++) row(tableCells(lines[i]), "td");
    box.appendChild(table);
    return i;
  }
  function markdownList(parent, lines, i) {
    // Items at the first item's indent; deeper items nest in the item above; other lines continue an item.
    var first = LIST.exec(lines[i]);
    var indent = first[1].length;
    var node = parent.appendChild(el(/\d/.test(first[2]) ? "ol" : "ul"));
    if (/\d/.test(first[2])) node.start = parseInt(first[2], 10);
    var item = null;
    var words = [];
    function flush() { if (words.length) inline(item, words.join(" ")); words = []; }
    while (i < lines.length && lines[i].trim() && !HEADING.test(lines[i])) {
      var m = LIST.exec(lines[i]);
      var depth = /^\s*/.exec(lines[i])[0].length;
      if (depth < indent) break;
      if (m && depth === indent) {
        flush();
        item = node.appendChild(el("li"));
        words = [m[3]];
        i += 1;
      } else if (m) {
        flush();
        i = markdownList(item, lines, i);
      } else {
        words.push(lines[i].trim());
        i += 1;
      }
    }
    flush();
    return i;
  }
  function markdown(source) {
    var box = el("div", "tx-card-text");
    var lines = String(source).replace(/\r\n?/g, "\n").split("\n");
    var para = [];
    function flush() { if (para.length) box.appendChild(inline(el("p"), para.join(" "))); para = []; }
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      var m = HEADING.exec(line);
      if (/^\s*```/.test(line)) {
        flush();
        var code = [];
        for (i += 1; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
        box.appendChild(el("pre", null, code.join("\n")));
        i += 1;
      } else if (!line.trim()) {
        flush();
        i += 1;
      } else if (m) {
        flush();
        box.appendChild(inline(el("h" + Math.min(6, m[1].length + 2)), m[2]));  // # → h3: the page owns h1, h2
        i += 1;
      } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush();
        box.appendChild(el("hr"));
        i += 1;
      } else if (line.indexOf("|") >= 0 && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
        flush();
        i = markdownTable(box, lines, i);
      } else if (LIST.test(line)) {
        flush();
        i = markdownList(box, lines, i);
      } else {
        para.push(line.trim());
        i += 1;
      }
    }
    flush();
    return box;
  }



  REPORT.INLINE = INLINE; REPORT.LIST = LIST; REPORT.HEADING = HEADING; REPORT.TABLE_RULE = TABLE_RULE;
  REPORT.inline = inline; REPORT.tableCells = tableCells; REPORT.markdownTable = markdownTable;
  REPORT.markdownList = markdownList; REPORT.markdown = markdown;
})();
