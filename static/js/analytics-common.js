// Shared pieces of the analytics charts: reading the page's json_script data, time axes, number formats.
// Times arrive as epoch milliseconds on a linear axis, so no date adapter is needed for Chart.js.
(function () {
  "use strict";

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var colors = {
    accent: "#f7931a",
    dark: "#1d2433",
    blue: "#0d6efd",
    band: "rgba(13, 110, 253, 0.10)",
    bandLine: "rgba(13, 110, 253, 0.45)",
    green: "#198754",
    red: "#dc3545",
    grey: "#6c757d",
    purple: "#6f42c1",
    grid: "rgba(0, 0, 0, 0.06)"
  };

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // Dates are shown in UTC, like every time on the platform's pages.
  function formatDate(ms, withYear) {
    var d = new Date(ms);
    var text = MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
    return withYear ? text + ", " + d.getUTCFullYear() : text;
  }

  function formatDateTime(ms, hourly) {
    var d = new Date(ms);
    var text = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
    return hourly ? text + " " + pad(d.getUTCHours()) + ":00 UTC" : text;
  }

  function formatNumber(value, digits) {
    if (value === null || value === undefined || isNaN(value)) { return "—"; }
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function points(xs, ys) {
    var out = [];
    for (var i = 0; i < xs.length; i += 1) { out.push({ x: xs[i], y: ys[i] }); }
    return out;
  }

  var DAY = 86400000;

  // Tick positions on calendar boundaries (days, Mondays, month or quarter starts, years), all UTC,
  // instead of the round millisecond counts a linear scale would pick.
  function calendarTicks(minMs, maxMs) {
    var spanDays = (maxMs - minMs) / DAY;
    var ticks = [];
    var d = new Date(minMs);
    var cursor;
    if (spanDays <= 12) {
      cursor = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      for (; cursor <= maxMs; cursor += DAY) { if (cursor >= minMs) { ticks.push(cursor); } }
      return ticks;
    }
    if (spanDays <= 60) {
      cursor = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      cursor += ((8 - new Date(cursor).getUTCDay()) % 7) * DAY;  // the next Monday
      var every = spanDays <= 30 ? 7 : 14;
      for (; cursor <= maxMs; cursor += every * DAY) { ticks.push(cursor); }
      return ticks;
    }
    var months = spanDays <= 400 ? 1 : spanDays <= 1100 ? 3 : spanDays <= 2600 ? 6 : 12;
    var year = d.getUTCFullYear();
    var month = Math.ceil(d.getUTCMonth() / months) * months;
    for (;;) {
      cursor = Date.UTC(year, month, 1);
      if (cursor > maxMs) { break; }
      if (cursor >= minMs) { ticks.push(cursor); }
      month += months;
      if (month >= 12) { year += Math.floor(month / 12); month %= 12; }
    }
    return ticks;
  }

  function tickLabel(ms, spanDays) {
    var d = new Date(ms);
    if (spanDays > 1100 && d.getUTCMonth() === 0) { return String(d.getUTCFullYear()); }
    if (spanDays > 60) { return MONTHS[d.getUTCMonth()] + (d.getUTCMonth() === 0 || spanDays > 400 ? " " + d.getUTCFullYear() : ""); }
    return formatDate(ms, false);
  }

  // A linear x axis over epoch milliseconds whose ticks fall on calendar boundaries and read as dates.
  function timeAxis(minMs, maxMs, options) {
    var spanDays = (maxMs - minMs) / DAY;
    var opts = options || {};
    return {
      type: "linear",
      min: minMs,
      max: maxMs,
      offset: false,
      display: opts.display !== false,
      grid: { color: colors.grid, offset: false },
      afterBuildTicks: function (scale) {
        scale.ticks = calendarTicks(minMs, maxMs).map(function (v) { return { value: v }; });
      },
      ticks: {
        autoSkip: true,
        maxRotation: 0,
        callback: function (value) { return tickLabel(value, spanDays); }
      }
    };
  }

  function lineDataset(label, data, color, extra) {
    var dataset = {
      label: label,
      data: data,
      borderColor: color,
      backgroundColor: color,
      borderWidth: 1.6,
      pointRadius: 0,
      pointHoverRadius: 3,
      tension: 0,
      spanGaps: false
    };
    return Object.assign(dataset, extra || {});
  }

  // Options every analytics chart shares: no animation (the data is static), one tooltip per x.
  function baseOptions(hourly) {
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "index", intersect: false, axis: "x" },
      plugins: {
        legend: {
          labels: {
            boxWidth: 12,
            boxHeight: 2,
            // Empty datasets (no signal in range) and helper datasets marked hideInLegend stay out of it.
            filter: function (item, data) {
              var dataset = data.datasets[item.datasetIndex];
              return dataset.data.length > 0 && !dataset.hideInLegend;
            },
            // Dataset order decides what draws on top; the legend keeps the order they are listed in.
            sort: function (a, b) { return a.datasetIndex - b.datasetIndex; }
          }
        },
        tooltip: {
          filter: function (item) { return !item.dataset.hideInTooltip; },
          callbacks: {
            title: function (items) { return items.length ? formatDateTime(items[0].parsed.x, hourly) : ""; }
          }
        }
      }
    };
  }

  function onReady(fn) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fn); } else { fn(); }
  }

  window.AnalyticsCharts = {
    colors: colors,
    formatDate: formatDate,
    formatDateTime: formatDateTime,
    formatNumber: formatNumber,
    readJson: readJson,
    points: points,
    timeAxis: timeAxis,
    lineDataset: lineDataset,
    baseOptions: baseOptions,
    onReady: onReady
  };
})();
