// Market overview: BTC close with Bollinger bands and signal markers, then the RSI(14) and MACD(12,26,9) panels.
(function () {
  "use strict";
  var A = window.AnalyticsCharts;

  // The panels share one x range and the same y-axis width, so their dates line up under the price.
  var Y_AXIS_WIDTH = 72;

  function yAxis(extra) {
    var axis = {
      position: "right",
      grid: { color: A.colors.grid },
      afterFit: function (scale) { scale.width = Y_AXIS_WIDTH; }
    };
    return Object.assign(axis, extra || {});
  }

  function priceChart(canvas, data, hourly, xMin, xMax) {
    var t = data.t;
    var bullish = data.signals.filter(function (s) { return s.bullish && s.y !== null; });
    var bearish = data.signals.filter(function (s) { return !s.bullish && s.y !== null; });
    function markers(list) { return list.map(function (s) { return { x: s.t, y: s.y, label: s.label }; }); }
    var options = A.baseOptions(hourly);
    options.scales = {
      x: A.timeAxis(xMin, xMax, { display: false }),
      y: yAxis({ ticks: { callback: function (v) { return "$" + A.formatNumber(v, 0); } } })
    };
    options.plugins.tooltip.callbacks.label = function (item) {
      var raw = item.raw || {};
      if (raw.label) { return " " + raw.label; }
      return " " + item.dataset.label + ": $" + A.formatNumber(item.parsed.y, 2);
    };
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          A.lineDataset("Close", A.points(t, data.close), A.colors.accent, { borderWidth: 2, order: 1 }),
          A.lineDataset("Upper band", A.points(t, data.bb_upper), A.colors.bandLine, { borderWidth: 1, order: 3 }),
          A.lineDataset("Middle (SMA 20)", A.points(t, data.bb_mid), A.colors.grey, { borderWidth: 1, borderDash: [4, 3], order: 3 }),
          A.lineDataset("Lower band", A.points(t, data.bb_lower), A.colors.bandLine, {
            borderWidth: 1, fill: "-2", backgroundColor: A.colors.band, order: 3
          }),
          {
            type: "scatter", label: "Bullish signal", data: markers(bullish), pointStyle: "triangle",
            pointRadius: 6, pointHoverRadius: 8, backgroundColor: A.colors.green, borderColor: "#fff", order: 0
          },
          {
            type: "scatter", label: "Bearish signal", data: markers(bearish), pointStyle: "triangle", rotation: 180,
            pointRadius: 6, pointHoverRadius: 8, backgroundColor: A.colors.red, borderColor: "#fff", order: 0
          }
        ]
      },
      options: options
    });
  }

  function rsiChart(canvas, data, hourly, xMin, xMax) {
    var t = data.t;
    var options = A.baseOptions(hourly);
    options.scales = {
      x: A.timeAxis(xMin, xMax, { display: false }),
      y: yAxis({
        min: 0,
        max: 100,
        afterBuildTicks: function (scale) {
          scale.ticks = [data.oversold, 50, data.overbought].map(function (v) { return { value: v }; });
        }
      })
    };
    options.plugins.legend.display = true;
    function level(value) { return A.points([xMin, xMax], [value, value]); }
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          A.lineDataset("RSI (14)", A.points(t, data.rsi_14), A.colors.purple, { borderWidth: 1.5 }),
          A.lineDataset("Overbought " + data.overbought, level(data.overbought), A.colors.red, {
            borderWidth: 1, borderDash: [5, 4], pointHoverRadius: 0
          }),
          A.lineDataset("Oversold " + data.oversold, level(data.oversold), A.colors.green, {
            borderWidth: 1, borderDash: [5, 4], pointHoverRadius: 0
          })
        ]
      },
      options: options
    });
  }

  function macdChart(canvas, data, hourly, xMin, xMax) {
    var t = data.t;
    var options = A.baseOptions(hourly);
    options.scales = {
      x: A.timeAxis(xMin, xMax),
      y: yAxis({ ticks: { maxTicksLimit: 5, callback: function (v) { return A.formatNumber(v, 0); } } })
    };
    var histogram = A.points(t, data.macd_hist);
    return new Chart(canvas, {
      type: "bar",
      data: {
        datasets: [
          A.lineDataset("MACD (12, 26)", A.points(t, data.macd), A.colors.blue, { type: "line", order: 1 }),
          A.lineDataset("Signal (9)", A.points(t, data.macd_signal), A.colors.accent, { type: "line", order: 1 }),
          {
            type: "bar", label: "Histogram", data: histogram, order: 2, barPercentage: 1, categoryPercentage: 1,
            backgroundColor: histogram.map(function (p) {
              return p.y !== null && p.y < 0 ? "rgba(220, 53, 69, 0.45)" : "rgba(25, 135, 84, 0.45)";
            })
          }
        ]
      },
      options: options
    });
  }

  A.onReady(function () {
    var data = A.readJson("price-data");
    if (!data || !data.t || !data.t.length) { return; }
    var hourly = data.interval === "1h";
    var xMin = data.t[0];
    var xMax = data.t[data.t.length - 1];
    priceChart(document.getElementById("price-chart"), data, hourly, xMin, xMax);
    rsiChart(document.getElementById("rsi-chart"), data, hourly, xMin, xMax);
    macdChart(document.getElementById("macd-chart"), data, hourly, xMin, xMax);
  });
})();
