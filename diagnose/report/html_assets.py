"""The style sheets and script of the HTML report (static text: no data goes in here)."""

from __future__ import annotations

PAGE_STYLE = """
:root { color-scheme: light; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC",
       "DejaVu Sans", sans-serif; color: #1b1b1b; background: #fff; }
main { max-width: 76rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.3rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
h3 { font-size: 1.1rem; margin-top: 1.4rem; }
code { font: 0.88em/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: #f3f3f3; padding: 0 0.2em;
       border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f6f6f6; padding: 0.7rem; overflow-x: auto; border-radius: 4px; }
pre code { background: none; padding: 0; overflow-wrap: normal; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f3f3f3; text-align: left; white-space: nowrap; }
td[style*="right"], th[style*="right"] { font-variant-numeric: tabular-nums; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable::after { content: " \\2195"; color: #999; }
th[aria-sort="ascending"]::after { content: " \\25B2"; color: #333; }
th[aria-sort="descending"]::after { content: " \\25BC"; color: #333; }
th.sortable:focus { outline: 2px solid #0645ad; }
iframe#flamegraph { display: block; width: 100%; border: 1px solid #ddd; background: #f8f8f8; }
hr { border: 0; border-top: 1px solid #ddd; margin-top: 2rem; }
"""

# Inside the flame graph's frame: the SVG at the frame's full width.
FRAME_STYLE = "html, body { margin: 0; background: #f8f8f8; } svg { display: block; }"

# Sorting: a click (or Enter) on a column header sorts the rows by that column, numbers by value
# (the first number of the cell: "12.5%", "1,234", "0.4–1.2%"), other text alphabetically; a
# second click reverses. A cell without a number ("–") sorts last. The flame graph's frame says
# how tall it is drawn, so that it is shown whole.
PAGE_SCRIPT = r"""
"use strict";
(function () {
  function number(text) {
    var m = text.replace(/[,\s\u00a0]/g, "").replace(/\u2212/g, "-").match(/^[-+]?\d+(\.\d+)?/);
    return m ? parseFloat(m[0]) : null;
  }
  function sortable(table) {
    var head = table.tHead, body = table.tBodies[0];
    if (!head || !body || !head.rows.length) return;
    var ths = head.rows[0].cells;
    var named = false;
    for (var i = 0; i < ths.length; i++) if (ths[i].textContent.trim()) named = true;
    if (!named) return;
    Array.prototype.forEach.call(ths, function (th, col) {
      th.classList.add("sortable");
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      function sort() {
        var rows = Array.prototype.slice.call(body.rows);
        var keys = rows.map(function (r, k) {
          var text = r.cells[col] ? r.cells[col].textContent.trim() : "";
          return {row: r, text: text, num: number(text), k: k};
        });
        var numeric = keys.every(function (x) { return x.num !== null || x.text === "" || /^[-\u2013\u2014]$/.test(x.text); })
          && keys.some(function (x) { return x.num !== null; });
        var was = th.getAttribute("aria-sort");
        var dir = was === "none" ? (numeric ? "descending" : "ascending") : (was === "ascending" ? "descending" : "ascending");
        var sign = dir === "ascending" ? 1 : -1;
        keys.sort(function (a, b) {
          var c;
          if (numeric) {
            if (a.num === null || b.num === null) c = a.num === null ? (b.num === null ? 0 : 1) : -1;
            else c = sign * (a.num - b.num);
            if (a.num === null || b.num === null) return c || a.k - b.k;
          } else {
            c = sign * a.text.localeCompare(b.text);
          }
          return c || a.k - b.k;
        });
        for (var j = 0; j < ths.length; j++) ths[j].setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", dir);
        keys.forEach(function (x) { body.appendChild(x.row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("main table"), sortable);
  var frame = document.getElementById("flamegraph");
  window.addEventListener("message", function (e) {
    if (frame && e.source === frame.contentWindow && e.data && typeof e.data.flamegraphHeight === "number") {
      frame.style.height = Math.max(100, Math.min(100000, Math.ceil(e.data.flamegraphHeight))) + "px";
    }
  });
})();
"""
