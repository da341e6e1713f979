// Energy price rule page: the hourly price as steps (each price holds for its hour), the running miners'
// lowest and median break-even, the price below which the newest plan resumes, a line at now, and the
// rule's curtail and resume decisions.
(function () {
  "use strict";
  var A = window.AnalyticsCharts;
  var HOUR = 3600000;

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // Steps that end with their hour, and a break where an hour has no price (rather than a long flat step).
  function priceSteps(ts, prices) {
    var out = [];
    for (var i = 0; i < ts.length; i += 1) {
      out.push({ x: ts[i], y: prices[i] });
      var nextMissing = i + 1 >= ts.length || ts[i + 1] !== ts[i] + HOUR;
      if (nextMissing) {
        out.push({ x: ts[i] + HOUR, y: prices[i] });
        if (i + 1 < ts.length) { out.push({ x: ts[i] + HOUR, y: null }); }
      }
    }
    return out;
  }

  function flat(label, value, start, end, color, dash) {
    return A.lineDataset(label, value === null ? [] : [{ x: start, y: value }, { x: end, y: value }], color,
      { borderDash: dash, borderWidth: 1.4, hideInTooltip: true });
  }

  function draw(canvas, data) {
    var steps = priceSteps(data.t, data.price);
    var be = data.break_even || {};
    var ys = data.price.slice();
    [be.min, be.median, data.resume_below].forEach(function (v) { if (v !== null && v !== undefined) { ys.push(v); } });
    var low = Math.min(0, Math.min.apply(null, ys));
    var high = Math.max.apply(null, ys) * 1.08;
    var events = (data.events || []).map(function (e) {
      return { x: e.t, y: e.price, action: e.action, plan: e.plan };
    });
    var datasets = [
      A.lineDataset("Price (USD/MWh)", steps, A.colors.accent, { stepped: "after", borderWidth: 2, fill: false }),
      flat("Lowest break-even now", be.min === undefined ? null : be.min, data.start, data.end, A.colors.red, [6, 4]),
      flat("Median break-even now", be.median === undefined ? null : be.median, data.start, data.end, A.colors.grey, [2, 3]),
      flat("Resume below (newest plan)", data.resume_below === undefined ? null : data.resume_below, data.start, data.end,
        A.colors.green, [6, 4]),
      A.lineDataset("Now", [{ x: data.now, y: low }, { x: data.now, y: high }], A.colors.dark,
        { borderWidth: 1, hideInTooltip: true }),
      {
        type: "scatter",
        label: "Rule: curtail / resume",
        data: events,
        pointStyle: "triangle",
        rotation: events.map(function (e) { return e.action === "curtail" ? 180 : 0; }),
        pointRadius: 7,
        pointHoverRadius: 9,
        backgroundColor: events.map(function (e) { return e.action === "curtail" ? A.colors.red : A.colors.green; }),
        borderColor: "#fff"
      }
    ];
    var options = A.baseOptions(true);
    var axis = A.timeAxis(data.start, data.end);
    axis.afterBuildTicks = function (scale) {
      var ticks = [];
      var first = Math.ceil(data.start / (6 * HOUR)) * 6 * HOUR;
      for (var t = first; t <= data.end; t += 6 * HOUR) { ticks.push({ value: t }); }
      scale.ticks = ticks;
    };
    axis.ticks.callback = function (value) {
      var d = new Date(value);
      return d.getUTCHours() === 0 ? A.formatDate(value, false) : pad(d.getUTCHours()) + ":00";
    };
    options.scales = {
      x: axis,
      y: {
        position: "right",
        min: low,
        max: high,
        grid: { color: A.colors.grid },
        ticks: { callback: function (v) { return A.formatNumber(v, 0); } }
      }
    };
    options.plugins.tooltip.callbacks.label = function (item) {
      if (item.raw && item.raw.action) {
        return " " + (item.raw.action === "curtail" ? "Curtailed" : "Resumed") + " (plan #" + item.raw.plan + ") at " +
          A.formatNumber(item.parsed.y, 2) + " USD/MWh";
      }
      return " " + item.dataset.label + ": " + A.formatNumber(item.parsed.y, 2);
    };
    return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: options });
  }

  A.onReady(function () {
    var choice = document.querySelector("[data-site-choice]");
    if (choice) { choice.addEventListener("change", function () { choice.form.submit(); }); }
    var canvas = document.getElementById("price-chart");
    var data = A.readJson("price-data");
    if (canvas && data && data.t.length) { draw(canvas, data); }
  });
})();
