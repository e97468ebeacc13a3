"""The script and style sheet embedded in every flame graph SVG (static text: no data goes in here)."""

from __future__ import annotations

# Box records in the JSON payload: [name, module, kind, depth, start, samples, parent, component].
# The script reads only the payload (never names from the markup) and writes only textContent,
# so a function name can never become markup or code.
SCRIPT = r"""
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("fg-data").textContent);
  var B = data.boxes, names = data.names, total = data.total;
  var XP = data.xpad, W = data.width - 2 * data.xpad, CW = data.charw;
  var svg = document.getElementById("frames").ownerSVGElement;
  var gs = document.getElementById("frames").children;
  var details = document.getElementById("details");
  var matched = document.getElementById("matched");
  var unzoomBtn = document.getElementById("unzoom");
  var words = data.words;
  var zoomed = 0, pattern = null;

  function fit(name, w) {
    var n = Math.floor((w - 6) / CW);
    if (n < 3) return "";
    return name.length <= n ? name : name.slice(0, n - 2) + "..";
  }
  function place(i, x, w) {
    var g = gs[i], r = g.children[1], t = g.children[2];
    r.setAttribute("x", x.toFixed(2));
    r.setAttribute("width", w.toFixed(2));
    t.setAttribute("x", (x + 3).toFixed(2));
    t.textContent = fit(names[B[i][0]], w);
  }
  function zoom(i) {
    if (!total) { place(0, XP, W); return; }
    var b = B[i], s = b[4], n = b[5], d = b[3], k = W / n;
    for (var j = 0; j < B.length; j++) {
      var c = B[j], cl = gs[j].classList;
      if (c[3] >= d && c[4] >= s && c[4] + c[5] <= s + n) {
        cl.remove("hide", "parent");
        place(j, XP + (c[4] - s) * k, c[5] * k);
      } else if (c[3] < d && c[4] <= s && c[4] + c[5] >= s + n) {
        cl.remove("hide");
        cl.add("parent");
        place(j, XP, W);
      } else {
        cl.add("hide");
      }
    }
    zoomed = i;
    if (i === 0) unzoomBtn.classList.add("hide"); else unzoomBtn.classList.remove("hide");
  }
  function unzoom() { zoom(0); }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function clearSearch() {
    for (var j = 0; j < gs.length; j++) gs[j].classList.remove("match");
    matched.textContent = "";
    pattern = null;
  }
  // Highlights the boxes whose name matches; returns the share of all samples under a match,
  // each sample counted once (a match below another match adds nothing).
  function search(text) {
    clearSearch();
    if (text === null || text === undefined || text === "") return null;
    var re;
    try { re = new RegExp(text); } catch (e) { matched.textContent = words.bad_regex; return null; }
    pattern = text;
    var hit = new Uint8Array(B.length), under = new Uint8Array(B.length), sum = 0;
    for (var j = 1; j < B.length; j++) {
      var p = B[j][6];
      under[j] = p > 0 && (hit[p] || under[p]) ? 1 : 0;
      if (re.test(names[B[j][0]])) {
        hit[j] = 1;
        gs[j].classList.add("match");
        if (!under[j]) sum += B[j][5];
      }
    }
    var share = total ? sum / total : 0;
    matched.textContent = words.matched + ": " + pct(share);
    return share;
  }
  function ask() {
    var text = window.prompt(words.prompt, pattern || "");
    if (text !== null) search(text);
  }
  function boxOf(e) {
    var g = e.target.closest ? e.target.closest("#frames > g") : null;
    return g ? g.__i : -1;
  }
  for (var i = 0; i < gs.length; i++) gs[i].__i = i;
  var frames = document.getElementById("frames");
  frames.addEventListener("click", function (e) { var i = boxOf(e); if (i >= 0) zoom(i); });
  frames.addEventListener("mouseover", function (e) {
    var i = boxOf(e); if (i >= 0) details.textContent = gs[i].children[0].textContent;
  });
  frames.addEventListener("mouseout", function () { details.textContent = " "; });
  unzoomBtn.addEventListener("click", unzoom);
  document.getElementById("search").addEventListener("click", ask);
  document.getElementById("clear").addEventListener("click", clearSearch);
  // A graph without a fixed --width follows the window: boxes, controls and legend are laid out
  // again at the width the SVG is shown at (1:1, so text keeps its size), on load and on resize.
  function byId(id) { return document.getElementById(id); }
  function layoutLegend(w) {
    var legend = byId("legend"), items = legend.children, n = items.length, widest = 0;
    if (!n) return 0;
    for (var j = 0; j < n; j++) widest = Math.max(widest, items[j].children[1].getComputedTextLength());
    var colw = widest + 2 * data.legend_gap;
    var cols = Math.max(1, Math.min(n, Math.floor((w - 2 * XP) / colw)));
    var rows = Math.ceil(n / cols);
    for (var k = 0; k < n; k++) {
      var col = Math.floor(k / rows), row = k % rows, x = col * colw, y = row * data.legend_row;
      var r = items[k].children[0], t = items[k].children[1];
      r.setAttribute("x", x.toFixed(1)); r.setAttribute("y", y + 2);
      t.setAttribute("x", (x + 20).toFixed(1)); t.setAttribute("y", y + 12);
    }
    return rows * data.legend_row;
  }
  function relayout() {
    var w = Math.round(svg.getBoundingClientRect().width);
    if (!w || w < 200) w = 200;
    W = w - 2 * XP;
    byId("title").setAttribute("x", (w / 2).toFixed(1));
    byId("subtitle").setAttribute("x", (w / 2).toFixed(1));
    byId("search").setAttribute("x", w - XP - 100);
    byId("clear").setAttribute("x", w - XP - 40);
    byId("matched").setAttribute("x", w - XP);
    var top = byId("legend").transform.baseVal.getItem(0).matrix.f;
    var h = Math.ceil(top + layoutLegend(w) + 10);
    byId("background").setAttribute("width", w);
    byId("background").setAttribute("height", h);
    svg.setAttribute("height", h);
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    zoom(zoomed);
    try { if (window.parent !== window) window.parent.postMessage({flamegraphHeight: h}, "*"); } catch (e) {}
  }
  if (data.fit) {
    relayout();
    window.addEventListener("resize", relayout);
  }
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === "f" || e.key === "F")) { e.preventDefault(); ask(); }
    else if (e.key === "/" && !e.ctrlKey && !e.metaKey) { e.preventDefault(); ask(); }
    else if (e.key === "Escape") { clearSearch(); unzoom(); }
  });
  window.flamegraph = {search: search, zoom: zoom, unzoom: unzoom, clear: clearSearch,
                       zoomed: function () { return zoomed; }, width: function () { return W + 2 * XP; }};
})();
"""

STYLE = """
text { font-family: Verdana, "DejaVu Sans", sans-serif; font-size: 12px; fill: #000; }
#title { font-size: 17px; text-anchor: middle; }
#subtitle { fill: #555; text-anchor: middle; }
#frames text { font-size: 11px; pointer-events: none; }
#frames g { cursor: pointer; }
#frames rect { stroke: #f8f8f8; stroke-width: 0.3px; }
#frames g:hover > rect { stroke: #000; stroke-width: 0.5px; }
.button { fill: #0645ad; cursor: pointer; }
.button:hover { text-decoration: underline; }
.hide { display: none; }
.parent { opacity: 0.5; }
#frames .match > rect { fill: #e600e6; }
#frames .o0 > rect { stroke: #000; stroke-width: 1.5px; }
#frames .o1 > rect { stroke: #0b3d91; stroke-width: 1.5px; }
#frames .o2 > rect { stroke: #7a0177; stroke-width: 1.5px; }
#frames .o3 > rect { stroke: #00441b; stroke-width: 1.5px; }
#frames .o4 > rect { stroke: #67000d; stroke-width: 1.5px; }
#legend text { font-size: 11px; }
"""

# The outline colours of .o0 ... .o4 above, for the legend's swatches.
OUTLINES = ("#000", "#0b3d91", "#7a0177", "#00441b", "#67000d")
