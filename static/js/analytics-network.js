// Network: daily difficulty (with the estimated next retarget) and hash rate, one line per source.
(function () {
  "use strict";
  var A = window.AnalyticsCharts;
  var PALETTE = [A.colors.accent, A.colors.blue, A.colors.purple, A.colors.green];

  function extent(sources, extra) {
    var xs = extra.slice();
    sources.forEach(function (s) { if (s.t.length) { xs.push(s.t[0], s.t[s.t.length - 1]); } });
    return [Math.min.apply(null, xs), Math.max.apply(null, xs)];
  }

  function chart(canvas, data, field, divisor, unit, digits, withRetarget) {
    var next = data.next_retarget;
    // Both charts share one x range, the estimated retarget included, so their dates line up.
    var range = extent(data.sources, next ? [next.t] : []);
    var datasets = data.sources.map(function (s, i) {
      var values = s[field].map(function (v) { return v === null ? null : v / divisor; });
      return A.lineDataset(s.source === "replay" ? "Shipped history" : s.source, A.points(s.t, values),
        PALETTE[i % PALETTE.length], { stepped: field === "difficulty" ? "before" : false });
    });
    if (withRetarget && next) {
      var sign = next.change_percent >= 0 ? "+" : "";
      datasets.push({
        type: "scatter",
        label: "Next retarget (est. " + sign + next.change_percent.toFixed(2) + " %)",
        data: [{ x: next.t, y: next.difficulty / divisor }],
        pointStyle: "rectRot", pointRadius: 7, pointHoverRadius: 9,
        backgroundColor: next.change_percent >= 0 ? A.colors.red : A.colors.green, borderColor: "#fff"
      });
    }
    var options = A.baseOptions(false);
    options.scales = {
      x: A.timeAxis(range[0], range[1]),
      y: {
        position: "right",
        grid: { color: A.colors.grid },
        ticks: { callback: function (v) { return A.formatNumber(v, digits) + " " + unit; } }
      }
    };
    options.plugins.tooltip.callbacks.label = function (item) {
      return " " + item.dataset.label + ": " + A.formatNumber(item.parsed.y, 2) + " " + unit;
    };
    return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: options });
  }

  A.onReady(function () {
    var data = A.readJson("network-data");
    if (!data || !data.sources || !data.sources.length) { return; }
    var charts = [
      chart(document.getElementById("difficulty-chart"), data, "difficulty", 1e12, "T", 0, true),
      chart(document.getElementById("hashrate-chart"), data, "hashrate_ehs", 1, "EH/s", 0, false)
    ];
    var log = document.getElementById("log-scale");
    if (log) {
      log.addEventListener("change", function () {
        charts.forEach(function (c) {
          c.options.scales.y.type = log.checked ? "logarithmic" : "linear";
          c.update();
        });
      });
    }
  });
})();
