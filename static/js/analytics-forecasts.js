// Forecasts: the recent daily history, then the ARIMA median with its confidence interval as a band.
(function () {
  "use strict";
  var A = window.AnalyticsCharts;

  function scaled(values, divisor) {
    return values.map(function (v) { return v === null ? null : v / divisor; });
  }

  function forecastChart(canvas, data) {
    var isPrice = data.target === "btc_usd";
    // Difficulty is shown in T (10^12), as pools and explorers quote it.
    var divisor = isPrice ? 1 : 1e12;
    var unit = isPrice ? "$" : "";
    var suffix = isPrice ? "" : " T";
    var h = data.history;
    var f = data.forecast;
    var all = h.t.concat(f.t);
    var pct = Math.round(data.confidence * 100);
    var options = A.baseOptions(false);
    options.scales = {
      x: A.timeAxis(Math.min.apply(null, all), Math.max.apply(null, all)),
      y: {
        position: "right",
        grid: { color: A.colors.grid },
        ticks: { callback: function (v) { return unit + A.formatNumber(v, isPrice ? 0 : 1) + suffix; } }
      }
    };
    options.plugins.tooltip.callbacks.label = function (item) {
      return " " + item.dataset.label + ": " + unit + A.formatNumber(item.parsed.y, isPrice ? 0 : 2) + suffix;
    };
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          A.lineDataset("History", A.points(h.t, scaled(h.v, divisor)), A.colors.dark, { borderWidth: 1.8 }),
          A.lineDataset("Lower " + pct + " %", A.points(f.t, scaled(f.lower, divisor)), A.colors.bandLine, {
            borderWidth: 1, hideInLegend: true
          }),
          A.lineDataset("Upper " + pct + " %", A.points(f.t, scaled(f.upper, divisor)), A.colors.bandLine, {
            borderWidth: 1, fill: "-1", backgroundColor: A.colors.band, hideInLegend: true
          }),
          // A legend entry for the band as a whole; its one point sits on the median and draws nothing.
          A.lineDataset(pct + " % interval", A.points(f.t.slice(0, 1), scaled(f.mean.slice(0, 1), divisor)), A.colors.band, {
            borderColor: A.colors.bandLine, borderWidth: 6, pointRadius: 0, pointHoverRadius: 0, hideInTooltip: true
          }),
          A.lineDataset("Forecast (median)", A.points(f.t, scaled(f.mean, divisor)), A.colors.accent, {
            borderWidth: 2, borderDash: [6, 4]
          })
        ]
      },
      options: options
    });
  }

  A.onReady(function () {
    document.querySelectorAll("canvas[data-forecast]").forEach(function (canvas) {
      var data = A.readJson(canvas.getAttribute("data-forecast"));
      if (data && data.history) { forecastChart(canvas, data); }
    });
  });
})();
