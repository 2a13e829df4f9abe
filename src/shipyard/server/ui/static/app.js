/* Page behaviour: draw the embedded charts, enable Compare once two runs are ticked, hide equal rows. */
(function () {
  "use strict";

  function drawCharts() {
    var data = document.getElementById("chart-data");
    if (!data || !window.Shipyard) return;
    var charts = JSON.parse(data.textContent);
    document.querySelectorAll(".chart[data-chart-index]").forEach(function (node) {
      var spec = charts[Number(node.getAttribute("data-chart-index"))];
      if (spec) window.Shipyard.lineChart(node, spec);
    });
  }

  function compareSelection() {
    var form = document.getElementById("compare-form");
    if (!form) return;
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=runs][form=compare-form]"));
    var button = document.getElementById("compare-button"), count = document.getElementById("compare-count");
    var all = document.getElementById("pick-all");
    function update() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      button.disabled = n < 2;
      button.textContent = n >= 2 ? "Compare " + n + " runs" : "Compare";
      count.textContent = n >= 2 ? "" : "Tick two or more runs to compare them.";
      if (all) all.checked = n > 0 && n === boxes.length;
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        update();
      });
    }
    update();
  }

  function onlyDifferences() {
    var toggle = document.getElementById("only-diff");
    if (!toggle) return;
    toggle.addEventListener("change", function () {
      document.body.classList.toggle("only-diff", toggle.checked);
    });
  }

  function start() {
    drawCharts();
    compareSelection();
    onlyDifferences();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
