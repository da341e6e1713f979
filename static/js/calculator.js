// Calculator pages: scenario fields shown only when they apply, model specs as placeholders, and the
// projection and comparison charts (x axis in epoch milliseconds, like the analytics charts).
(function () {
  "use strict";
  var C = window.AnalyticsCharts;
  var DAY = 86400000;

  function dayMs(startOn, day) { return Date.parse(startOn + "T00:00:00Z") + day * DAY; }

  function money(value) { return "$" + C.formatNumber(value, 2); }

  // Show the fields marked data-show-when="select=value" only while that select holds that value.
  function bindConditionalFields(form) {
    var blocks = form.querySelectorAll("[data-show-when]");
    function update() {
      blocks.forEach(function (block) {
        var rule = block.getAttribute("data-show-when").split("=");
        var select = form.querySelector("[name='" + rule[0] + "']");
        block.hidden = !select || select.value !== rule[1];
      });
    }
    form.addEventListener("change", update);
    update();
  }

  function bindModelPlaceholders(form) {
    var specs = C.readJson("model-specs") || {};
    var select = form.querySelector("[data-model-select]");
    if (!select) { return; }
    function update() {
      var spec = specs[select.value];
      form.querySelector("[name='hashrate_ths']").placeholder = spec ? spec[0] + " (model)" : "";
      form.querySelector("[name='power_w']").placeholder = spec ? spec[1] + " (model)" : "";
    }
    select.addEventListener("change", update);
    update();
  }

  // Dashed vertical lines with a caption at given x values (the halving).
  var markerLines = {
    id: "markerLines",
    afterDatasetsDraw: function (chart, args, options) {
      var lines = options.lines || [];
      var ctx = chart.ctx;
      var area = chart.chartArea;
      lines.forEach(function (line) {
        var x = chart.scales.x.getPixelForValue(line.x);
        if (x < area.left || x > area.right) { return; }
        ctx.save();
        ctx.strokeStyle = line.color;
        ctx.setLineDash([5, 4]);
        ctx.beginPath();
        ctx.moveTo(x, area.top);
        ctx.lineTo(x, area.bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = line.color;
        ctx.font = "12px system-ui, sans-serif";
        ctx.textAlign = x > area.right - 90 ? "right" : "left";
        ctx.fillText(line.label, x + (ctx.textAlign === "left" ? 4 : -4), area.top + 12);
        ctx.restore();
      });
    }
  };

  function chartOptions(first, last, lines) {
    var options = C.baseOptions(false);
    options.scales = {
      x: C.timeAxis(first, last),
      y: { grid: { color: C.colors.grid }, ticks: { callback: function (v) { return money(v); } } }
    };
    options.plugins.markerLines = { lines: lines };
    options.plugins.tooltip.callbacks.label = function (item) {
      return item.dataset.label + ": " + money(item.parsed.y);
    };
    return options;
  }

  function projectionChart(canvas, data) {
    var xs = data.day.map(function (d) { return dayMs(data.start_on, d); });
    var first = xs[0];
    var last = xs[xs.length - 1];
    var datasets = [
      C.lineDataset("Cumulative profit", C.points(xs, data.cumulative_profit_usd), C.colors.accent, {
        fill: { target: "origin", above: "rgba(247, 147, 26, 0.12)", below: "rgba(220, 53, 69, 0.10)" },
        borderWidth: 2
      })
    ];
    if (data.hardware_cost_usd > 0) {
      datasets.push(C.lineDataset("Hardware cost", [{ x: first, y: data.hardware_cost_usd }, { x: last, y: data.hardware_cost_usd }],
        C.colors.grey, { borderDash: [6, 4], borderWidth: 1.4 }));
    }
    if (data.payback_day !== null) {
      var at = data.day.indexOf(data.payback_day);
      datasets.push({
        type: "scatter", label: "Payback", data: [{ x: xs[at], y: data.cumulative_profit_usd[at] }],
        backgroundColor: C.colors.green, borderColor: "#fff", borderWidth: 2, pointRadius: 7, pointHoverRadius: 8
      });
    }
    var lines = data.halving_day === null ? [] : [{ x: dayMs(data.start_on, data.halving_day), label: "Halving", color: C.colors.purple }];
    return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: chartOptions(first, last, lines), plugins: [markerLines] });
  }

  var PALETTE = ["#f7931a", "#0d6efd", "#198754", "#6f42c1", "#dc3545", "#20c997"];

  function compareChart(canvas, data) {
    var xs = data.day.map(function (d) { return dayMs(data.start_on, d); });
    var datasets = data.series.map(function (series, i) {
      return C.lineDataset(series.label, C.points(xs, series.net_usd), PALETTE[i % PALETTE.length], { borderWidth: 2 });
    });
    datasets.push(C.lineDataset("Break-even", [{ x: xs[0], y: 0 }, { x: xs[xs.length - 1], y: 0 }], C.colors.grey,
      { borderDash: [6, 4], borderWidth: 1.2, hideInTooltip: true }));
    var lines = data.halving_day === null ? [] : [{ x: dayMs(data.start_on, data.halving_day), label: "Halving", color: C.colors.purple }];
    return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: chartOptions(xs[0], xs[xs.length - 1], lines), plugins: [markerLines] });
  }

  C.onReady(function () {
    document.querySelectorAll("form[data-calculator-form], #calculator-form, #compare-form").forEach(function (form) {
      bindConditionalFields(form);
      bindModelPlaceholders(form);
    });
    var projection = C.readJson("projection-data");
    var canvas = document.getElementById("projection-chart");
    if (projection && canvas) { window.calculatorChart = projectionChart(canvas, projection); }
    var comparison = C.readJson("compare-data");
    var compareCanvas = document.getElementById("compare-chart");
    if (comparison && compareCanvas) { window.calculatorChart = compareChart(compareCanvas, comparison); }
  });
})();
