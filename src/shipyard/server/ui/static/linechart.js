/* Shipyard's small SVG line chart: series of [x, y] points, round-numbered axes, a legend and a hover readout. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
                "#475569", "#ea580c"];
  var W = 520, H = 244, M = { top: 12, right: 16, bottom: 34, left: 58 };

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function ticks(lo, hi, count, integers) {
    var raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw))), norm = raw / mag;
    var step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    if (integers) step = Math.max(1, Math.round(step));
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(parseFloat(v.toPrecision(5)));
  }

  function extent(series, i) {
    var lo = Infinity, hi = -Infinity;
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        if (p[1] === null) return;
        if (p[i] < lo) lo = p[i];
        if (p[i] > hi) hi = p[i];
      });
    });
    return lo <= hi ? [lo, hi] : null;
  }

  function nearest(points, x) {  // points are sorted by x: binary search for the closest one
    var lo = 0, hi = points.length - 1;
    if (hi < 0) return null;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (points[mid][0] < x) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(points[lo - 1][0] - x) <= Math.abs(points[lo][0] - x)) lo -= 1;
    return points[lo];
  }

  function lineChart(container, spec) {
    var series = spec.series || [];
    var xs = extent(series, 0), ys = extent(series, 1);
    container.textContent = "";
    if (!xs) { container.textContent = "No finite values to plot."; return; }
    if (xs[0] === xs[1]) xs = [xs[0] - 1, xs[1] + 1];
    var pad = ys[0] === ys[1] ? (Math.abs(ys[0]) * 0.1 || 1) : (ys[1] - ys[0]) * 0.05;
    ys = [ys[0] - pad, ys[1] + pad];
    var pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    var sx = function (x) { return M.left + (x - xs[0]) / (xs[1] - xs[0]) * pw; };
    var sy = function (y) { return M.top + ph - (y - ys[0]) / (ys[1] - ys[0]) * ph; };
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, "class": "linechart", role: "img",
                          "aria-label": (spec.key || "metric") + " by step" }, container);

    ticks(ys[0], ys[1], 5, false).forEach(function (t) {
      el("line", { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t), "class": "gridline" }, svg);
      el("text", { x: M.left - 6, y: sy(t) + 4, "class": "tick", "text-anchor": "end" }, svg).textContent = fmt(t);
    });
    ticks(xs[0], xs[1], 6, true).forEach(function (t) {
      if (t < xs[0] || t > xs[1]) return;
      el("line", { x1: sx(t), x2: sx(t), y1: M.top + ph, y2: M.top + ph + 4, "class": "axis" }, svg);
      el("text", { x: sx(t), y: M.top + ph + 16, "class": "tick", "text-anchor": "middle" }, svg).textContent = fmt(t);
    });
    el("line", { x1: M.left, x2: W - M.right, y1: M.top + ph, y2: M.top + ph, "class": "axis" }, svg);
    el("text", { x: W - M.right, y: H - 4, "class": "axis-label", "text-anchor": "end" }, svg).textContent = "step";

    series.forEach(function (s, i) {
      var color = COLORS[i % COLORS.length], d = "", pen = false, drawn = [];
      s.points.forEach(function (p) {
        if (p[1] === null) { pen = false; return; }
        d += (pen ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1);
        pen = true;
        drawn.push(p);
      });
      if (d) el("path", { d: d, "class": "series", stroke: color, fill: "none", "data-series": s.name }, svg);
      if (drawn.length === 1) el("circle", { cx: sx(drawn[0][0]), cy: sy(drawn[0][1]), r: 3, fill: color }, svg);
    });

    if (series.length > 1) {
      var legend = document.createElement("ul");
      legend.className = "legend";
      series.forEach(function (s, i) {
        var item = document.createElement("li"), swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = COLORS[i % COLORS.length];
        item.appendChild(swatch);
        item.appendChild(document.createTextNode(s.name));
        legend.appendChild(item);
      });
      container.appendChild(legend);
    }

    var cursor = el("line", { y1: M.top, y2: M.top + ph, "class": "cursor", visibility: "hidden" }, svg);
    var tip = document.createElement("div");
    tip.className = "chart-tip";
    tip.hidden = true;
    container.appendChild(tip);
    svg.addEventListener("mousemove", function (evt) {
      var box = svg.getBoundingClientRect(), scale = W / box.width;
      var x = xs[0] + ((evt.clientX - box.left) * scale - M.left) / pw * (xs[1] - xs[0]);
      var lines = [], at = null;
      series.forEach(function (s) {
        var p = nearest(s.points, x);
        if (!p) return;
        if (at === null || Math.abs(p[0] - x) < Math.abs(at - x)) at = p[0];
        lines.push(s.name + ": " + fmt(p[1]) + " (step " + p[0] + ")");
      });
      if (at === null) return;
      cursor.setAttribute("x1", sx(at));
      cursor.setAttribute("x2", sx(at));
      cursor.setAttribute("visibility", "visible");
      tip.textContent = lines.join("\n");
      tip.hidden = false;
      tip.style.left = Math.min(box.width - 160, Math.max(0, (sx(at) / scale) + 8)) + "px";
    });
    svg.addEventListener("mouseleave", function () {
      cursor.setAttribute("visibility", "hidden");
      tip.hidden = true;
    });
  }

  window.Shipyard = window.Shipyard || {};
  window.Shipyard.lineChart = lineChart;
})();
