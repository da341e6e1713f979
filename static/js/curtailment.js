// The curtailment page: the plan form's switches, confirmations before anything is sent or stopped,
// and each event's site-power chart (fetched when first opened). Times are shown in UTC.
(function () {
  "use strict";

  var ACCENT = "#f7931a";
  var UNITS = { shed_kw: "kW", site_cap_kw: "kW", miners: "miners", thermal_c: "°C" };
  var MARKER_COLORS = { start: "#dc3545", recovery: "#198754", recovered: "#0d6efd", now: "#6c757d" };
  // Captions of markers that may sit close together go on different rows.
  var LABEL_ROWS = { start: 0, recovery: 1, recovered: 0, now: 2 };
  var MINUTE = 60000;
  var TICK_MINUTES = [5, 10, 15, 20, 30, 60, 120, 180, 360, 720, 1440];

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function hhmm(ms) { var d = new Date(ms); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  function kw(value) { return Number(value).toLocaleString("en-US", { maximumFractionDigits: 1 }) + " kW"; }

  // --- The plan form ---------------------------------------------------------------------------------
  function syncForm(form) {
    var start = form.querySelector("input[name=start]:checked");
    var end = form.querySelector("input[name=end]:checked");
    form.querySelectorAll("[data-when]").forEach(function (node) {
      var when = node.getAttribute("data-when");
      var shown = (when === "later" && start && start.value === "later") ||
        (when === "duration" && end && end.value === "duration") || (when === "until" && end && end.value === "until");
      node.hidden = !shown;
      node.querySelectorAll("input").forEach(function (input) { input.disabled = !shown; });
    });
    var kind = form.querySelector("select[name=target_kind]");
    var unit = form.querySelector("[data-target-unit]");
    if (kind && unit) { unit.textContent = UNITS[kind.value] || ""; }
  }

  function setUpForm() {
    var form = document.getElementById("plan-form");
    if (!form) { return; }
    form.addEventListener("change", function () { syncForm(form); });
    syncForm(form);
  }

  function setUpSiteFilter() {
    var filter = document.querySelector("[data-site-filter]");
    if (!filter) { return; }
    filter.querySelector("select").addEventListener("change", function () { filter.submit(); });
  }

  // --- Confirmations ---------------------------------------------------------------------------------
  function setUpConfirm() {
    var node = document.getElementById("confirm-modal");
    if (!node || !window.bootstrap || !window.ConfirmDialog) { return; }
    var dialog = window.ConfirmDialog(node);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.confirmed === "yes") { return; }
        event.preventDefault();
        dialog.ask(
          {
            title: form.dataset.confirmTitle, text: form.dataset.confirm,
            button: form.dataset.confirmButton, buttonClass: form.dataset.confirmClass
          },
          function () {
            form.dataset.confirmed = "yes";
            form.submit();
          }
        );
      });
    });
  }

  // --- Charts ----------------------------------------------------------------------------------------
  // Dashed vertical lines at the plan's start and recovery, with the curtailed span shaded between them.
  var eventMarkers = {
    id: "eventMarkers",
    beforeDatasetsDraw: function (chart, args, options) {
      var area = chart.chartArea;
      var x = chart.scales.x;
      var ctx = chart.ctx;
      var start = (options.markers || []).filter(function (m) { return m.kind === "start"; })[0];
      var recovery = (options.markers || []).filter(function (m) { return m.kind === "recovery"; })[0];
      if (start && recovery) {
        var left = Math.max(x.getPixelForValue(start.at), area.left);
        var right = Math.min(x.getPixelForValue(recovery.at), area.right);
        if (right > left) {
          ctx.save();
          ctx.fillStyle = "rgba(220, 53, 69, 0.06)";
          ctx.fillRect(left, area.top, right - left, area.bottom - area.top);
          ctx.restore();
        }
      }
    },
    afterDatasetsDraw: function (chart, args, options) {
      var area = chart.chartArea;
      var ctx = chart.ctx;
      (options.markers || []).forEach(function (marker) {
        var px = chart.scales.x.getPixelForValue(marker.at);
        if (px < area.left || px > area.right) { return; }
        var color = MARKER_COLORS[marker.kind] || "#6c757d";
        ctx.save();
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.setLineDash([5, 4]);
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.font = "600 12px system-ui, sans-serif";
        var label = marker.label + " " + hhmm(marker.at);
        var width = ctx.measureText(label).width;
        var right = px > area.right - width - 12;
        var tx = right ? px - 5 - width : px + 5;
        var ty = area.top + 12 + 15 * (LABEL_ROWS[marker.kind] || 0);
        // A light backing keeps the caption readable over the lines it crosses.
        ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
        ctx.fillRect(tx - 2, ty - 11, width + 4, 14);
        ctx.fillStyle = color;
        ctx.fillText(label, tx, ty);
        ctx.restore();
      });
    }
  };

  // Ticks on round clock times (every 5, 10, 15 ... minutes, UTC), at most about ten of them.
  function clockTicks(axis) {
    var span = (axis.max - axis.min) / MINUTE;
    var step = TICK_MINUTES.filter(function (m) { return span / m <= 10; })[0] || 1440;
    var ticks = [];
    for (var t = Math.ceil(axis.min / (step * MINUTE)) * step * MINUTE; t <= axis.max; t += step * MINUTE) {
      ticks.push({ value: t });
    }
    axis.ticks = ticks;
  }

  function flatLine(label, y, first, last, color) {
    return {
      label: label, data: [{ x: first, y: y }, { x: last, y: y }], borderColor: color, borderWidth: 1.2,
      borderDash: [6, 4], pointRadius: 0, pointHoverRadius: 0, fill: false
    };
  }

  function drawChart(canvas, data) {
    var points = data.at.map(function (at, i) { return { x: at, y: data.power_kw[i] }; });
    var first = Date.parse(data.start);
    var last = Date.parse(data.end);
    var datasets = [{
      label: "Site power", data: points, borderColor: ACCENT, backgroundColor: "rgba(247, 147, 26, 0.14)",
      borderWidth: 2, pointRadius: points.length > 90 ? 0 : 2, pointHoverRadius: 4, fill: "origin",
      stepped: false, tension: 0.15
    }];
    if (data.baseline_kw !== null) { datasets.push(flatLine("Before the shed", data.baseline_kw, first, last, "#6c757d")); }
    if (data.target_kw !== null) { datasets.push(flatLine("Target", data.target_kw, first, last, "#dc3545")); }
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, parsing: true,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: {
            type: "linear", min: first, max: last, grid: { color: "rgba(0,0,0,0.05)" }, afterBuildTicks: clockTicks,
            ticks: { autoSkip: false, maxRotation: 0, callback: function (value) { return hhmm(value); } }
          },
          y: { beginAtZero: true, grid: { color: "rgba(0,0,0,0.06)" }, title: { display: true, text: "kW" } }
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 14, usePointStyle: false } },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? hhmm(items[0].parsed.x) + " UTC" : ""; },
              label: function (item) { return item.dataset.label + ": " + kw(item.parsed.y); }
            }
          },
          eventMarkers: { markers: data.markers }
        }
      },
      plugins: [eventMarkers]
    });
  }

  function caption(data) {
    var resolution = { "1m": "per minute, from raw telemetry", "5m": "per 5 minutes, from rollups", "1h": "per hour, from rollups" };
    if (!data.at.length) { return "No telemetry stored for this site between " + hhmm(Date.parse(data.start)) + " and " + hhmm(Date.parse(data.end)) + " UTC."; }
    return "Sum of the site's miners' power " + (resolution[data.resolution] || "") + ", " + hhmm(Date.parse(data.start)) +
      " to " + hhmm(Date.parse(data.end)) + " UTC (30 min either side of the event).";
  }

  function loadChart(box, url) {
    if (box.dataset.loaded) { return; }
    box.dataset.loaded = "loading";
    var canvas = box.querySelector("canvas");
    var captionNode = box.parentNode.querySelector("[data-chart-caption]");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (data) {
        box.dataset.loaded = "yes";
        box.dataset.points = String(data.at.length);
        if (captionNode) { captionNode.textContent = caption(data); }
        if (data.at.length) { drawChart(canvas, data); } else { box.classList.add("d-none"); }
      })
      .catch(function () {
        box.dataset.loaded = "";
        if (captionNode) { captionNode.textContent = "The power chart could not be loaded; try again."; }
      });
  }

  function setUpCharts() {
    document.querySelectorAll("[data-chart-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var row = document.getElementById("chart-row-" + button.dataset.chartToggle);
        if (!row) { return; }
        var open = row.classList.toggle("d-none") === false;
        button.setAttribute("aria-expanded", open ? "true" : "false");
        button.classList.toggle("active", open);
        if (open) { loadChart(row.querySelector(".chart-box"), button.dataset.powerUrl); }
      });
    });
    document.querySelectorAll("[data-auto-chart]").forEach(function (box) { loadChart(box, box.dataset.powerUrl); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpForm();
    setUpSiteFilter();
    setUpConfirm();
    setUpCharts();
    var preview = document.getElementById("preview");
    if (preview) { preview.scrollIntoView({ block: "start" }); }
  });
})();
