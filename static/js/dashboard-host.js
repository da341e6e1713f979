// The host operations dashboard: applies live snapshots and deltas to the figures, the rack map and the
// alert feed without reloading; acknowledges alerts; draws the site's hashrate and power history.
// The page is rendered complete by the server; this script only keeps it current.
(function () {
  "use strict";

  var ACCENT = "#f7931a";
  var POWER_COLOR = "#0d6efd";
  // The same bands as hosting/page_selectors_dashboard.py temp_band().
  var WARM_MARGIN_C = 10;
  var COOL_BELOW_C = 60;
  var RANGE_MS = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
  // Ranges drawn from raw readings: a delta's summary is one more point of the same series.
  var LIVE_RANGES = { "1h": true, "6h": true };
  var ICONS = {
    chip_temp_high: "thermometer-high", hashrate_low: "graph-down-arrow", fan_stopped: "fan", offline: "wifi-off",
    anomaly: "activity"
  };

  var config = null;
  var rows = {};      // miner id -> latest row, for titles and alert labels
  var charts = { hashrate: null, power: null };
  var currentRange = null;
  var seriesRequest = 0;

  // --- Formatting ------------------------------------------------------------------------------------
  function num(value, digits) {
    if (value === null || value === undefined || isNaN(value)) { return "—"; }
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function hhmm(ms) { var d = new Date(ms); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  function hhmmss(ms) { var d = new Date(ms); return hhmm(ms) + ":" + pad(d.getUTCSeconds()); }
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function dayTime(ms) { var d = new Date(ms); return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate() + ", " + hhmm(ms); }
  function flash(node) {
    if (!node) { return; }
    node.classList.remove("flash");
    void node.offsetWidth;  // restart the animation
    node.classList.add("flash");
  }
  function setText(node, text) {
    if (node && node.textContent !== text) { node.textContent = text; flash(node); }
  }

  // --- Figures -----------------------------------------------------------------------------------------
  function applySummary(summary) {
    if (!summary) { return; }
    setText(document.querySelector("[data-figure=hashrate_ths]"), num(summary.hashrate_ths, 1));
    setText(document.querySelector("[data-figure=power_kw]"), num(summary.power_kw, 1));
    setText(document.querySelector("[data-figure=efficiency_j_th]"), num(summary.efficiency_j_th, 1));
    var capacity = summary.capacity_kw;
    var load = capacity && summary.power_kw !== null && summary.power_kw !== undefined
      ? summary.power_kw / capacity * 100 : null;
    setText(document.querySelector("[data-figure=load_pct]"), num(load, 0));
    var bar = document.querySelector("[data-load-bar]");
    if (bar && load !== null) {
      bar.setAttribute("aria-valuenow", String(Math.round(load)));
      var fill = bar.querySelector(".progress-bar");
      fill.style.width = Math.min(100, Math.max(0, load)) + "%";
      fill.classList.toggle("bg-danger", load > 95);
      fill.classList.toggle("bg-warning", load > 85 && load <= 95);
    }
    ["miners", "online", "offline", "sleeping", "curtailed", "maintenance", "unknown"].forEach(function (name) {
      if (summary[name] === undefined || summary[name] === null) { return; }
      document.querySelectorAll("[data-count=" + name + "]").forEach(function (node) {
        setText(node, String(summary[name]));
      });
    });
    document.querySelectorAll("[data-hide-zero]").forEach(function (node) {
      var count = node.querySelector("[data-count]");
      node.classList.toggle("d-none", count && count.textContent === "0");
    });
    if (summary.recorded_at) {
      var updated = document.querySelector("[data-updated]");
      if (updated) { updated.textContent = "Reading of " + hhmmss(Date.parse(summary.recorded_at)) + " UTC"; }
    }
  }

  // --- The rack map ------------------------------------------------------------------------------------
  function band(row) {
    var temp = row.temp_c;
    if (temp === null || temp === undefined || row.outcome !== "ok" || row.status === "maintenance") { return "none"; }
    if (temp > config.max_temp_c) { return "hot"; }
    if (temp >= config.max_temp_c - WARM_MARGIN_C) { return "warm"; }
    return temp < COOL_BELOW_C ? "cool" : "normal";
  }
  function state(row) {
    if (row.curtailed) { return "curtailed"; }
    if (row.is_sleeping && row.status !== "offline") { return "sleeping"; }
    return row.status;
  }
  function cellTitle(row) {
    var parts = [row.label, row.ip, row.model, state(row)];
    if (row.temp_c !== null && row.temp_c !== undefined) { parts.push(num(row.temp_c, 0) + " °C"); }
    if (row.hashrate_ths !== null && row.hashrate_ths !== undefined) { parts.push(num(row.hashrate_ths, 1) + " TH/s"); }
    return parts.filter(Boolean).join(" · ");
  }
  function applyRows(list) {
    (list || []).forEach(function (row) {
      rows[row.id] = row;
      var cell = document.querySelector(".cell[data-miner='" + row.id + "']");
      if (!cell) { return; }
      var newState = state(row);
      var newBand = band(row);
      if (cell.dataset.state !== newState || cell.dataset.band !== newBand) {
        cell.dataset.state = newState;
        cell.dataset.band = newBand;
      }
      cell.title = cellTitle(row);
    });
  }
  function setUpColorToggle() {
    var map = document.getElementById("rack-map");
    if (!map) { return; }
    function show(mode) {
      map.dataset.colorBy = mode;
      document.querySelectorAll("[data-legend]").forEach(function (node) {
        node.classList.toggle("d-none", node.dataset.legend !== mode);
      });
    }
    var saved = null;
    try { saved = window.localStorage.getItem("dashboard.colorBy"); } catch (e) { saved = null; }
    document.querySelectorAll("input[name=color-by]").forEach(function (input) {
      if (saved && input.value === saved) { input.checked = true; show(saved); }
      input.addEventListener("change", function () {
        if (!input.checked) { return; }
        show(input.value);
        try { window.localStorage.setItem("dashboard.colorBy", input.value); } catch (e) { /* private mode */ }
      });
    });
  }

  // --- The alert feed ----------------------------------------------------------------------------------
  function minerLabel(alert) {
    var row = rows[alert.miner_id];
    if (row) { return row.label; }
    var cell = document.querySelector(".cell[data-miner='" + alert.miner_id + "']");
    return cell ? cell.getAttribute("aria-label").replace(/^Miner /, "") : "miner " + alert.miner_id;
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  // The same markup as templates/hosting/dashboard_alert.html.
  function alertNode(alert) {
    var item = el("li", "list-group-item alert-item");
    item.dataset.alert = String(alert.id);
    var head = el("div", "d-flex align-items-center gap-2");
    var icon = el("i", "bi bi-" + (ICONS[alert.kind] || "activity") + " alert-icon");
    icon.setAttribute("aria-hidden", "true");
    icon.dataset.kind = alert.kind;
    var kind = el("span", "fw-semibold me-auto", alert.kind_label);
    kind.dataset.alertKind = "";
    var opened = Date.parse(alert.opened_at);
    var when = el("time", "small text-body-secondary text-nowrap", dayTime(opened));
    when.setAttribute("datetime", alert.opened_at);
    when.title = "Opened " + new Date(opened).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    head.appendChild(icon);
    head.appendChild(kind);
    head.appendChild(when);
    var body = el("div", "alert-body");
    var message = el("div", "small text-break");
    message.dataset.alertMessage = "";
    var foot = el("div", "d-flex align-items-center gap-2 mt-1");
    foot.dataset.alertFoot = "";
    var where = el("span", "small text-body-secondary me-auto");
    var link = el("a", "", minerLabel(alert));
    link.href = "/hosting/miners/" + alert.miner_id;
    link.dataset.alertMiner = "";
    var status = el("span");
    status.dataset.alertStatus = "";
    where.appendChild(link);
    where.appendChild(document.createTextNode(" · "));
    where.appendChild(status);
    foot.appendChild(where);
    body.appendChild(message);
    body.appendChild(foot);
    item.appendChild(head);
    item.appendChild(body);
    return item;
  }
  function ackButton(id) {
    var button = el("button", "btn btn-outline-secondary btn-sm py-0 text-nowrap");
    button.type = "button";
    button.dataset.ack = String(id);
    button.appendChild(el("i", "bi bi-check2 me-1"));
    button.appendChild(document.createTextNode("Acknowledge"));
    return button;
  }
  function updateAlertNode(item, alert) {
    item.dataset.status = alert.status;
    item.dataset.kind = alert.kind;
    item.dataset.opened = alert.opened_at;
    item.querySelector("[data-alert-message]").textContent = alert.message;
    var status = item.querySelector("[data-alert-status]");
    status.textContent = alert.status === "acknowledged" && alert.acknowledged_at
      ? "acknowledged " + hhmm(Date.parse(alert.acknowledged_at)) : alert.status;
    var button = item.querySelector("[data-ack]");
    if (alert.status === "open" && !button) {
      item.querySelector("[data-alert-foot]").appendChild(ackButton(alert.id));
    } else if (alert.status !== "open" && button) {
      button.remove();
    }
  }
  function refreshAlertCounts() {
    var feed = document.getElementById("alert-feed");
    if (!feed) { return; }
    var open = feed.querySelectorAll(".alert-item[data-status=open]").length;
    var badge = document.querySelector("[data-count=alerts-open]");
    setText(badge, String(open));
    if (badge) {
      badge.classList.toggle("text-bg-danger", open > 0);
      badge.classList.toggle("text-bg-secondary", open === 0);
    }
    var empty = document.querySelector("[data-empty=alerts]");
    if (empty) { empty.classList.toggle("d-none", feed.children.length > 0); }
  }
  function upsertAlert(alert) {
    var feed = document.getElementById("alert-feed");
    if (!feed || alert.site_id !== config.site_id) { return; }
    var item = feed.querySelector(".alert-item[data-alert='" + alert.id + "']");
    if (alert.status === "resolved") {
      if (item) { item.remove(); }
      return;
    }
    var created = !item;
    if (created) { item = alertNode(alert); }
    updateAlertNode(item, alert);
    if (created) {
      // Newest first: before the first alert opened earlier than this one.
      var opened = Date.parse(alert.opened_at);
      var before = Array.prototype.find.call(feed.children, function (other) {
        return Date.parse(other.dataset.opened) < opened ||
          (Date.parse(other.dataset.opened) === opened && Number(other.dataset.alert) < alert.id);
      });
      feed.insertBefore(item, before || null);
      flash(item);
    }
  }
  function replaceAlerts(list) {
    var feed = document.getElementById("alert-feed");
    if (!feed) { return; }
    var keep = {};
    (list || []).forEach(function (alert) { if (alert.status !== "resolved") { keep[alert.id] = true; } });
    Array.prototype.slice.call(feed.children).forEach(function (item) {
      if (!keep[item.dataset.alert]) { item.remove(); }
    });
    (list || []).forEach(upsertAlert);
    refreshAlertCounts();
  }
  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function showAckError(item, message) {
    var note = item.querySelector("[data-ack-error]");
    if (!note) {
      note = el("div", "small text-danger mt-1");
      note.dataset.ackError = "";
      item.querySelector(".alert-body").appendChild(note);
    }
    note.textContent = message;
  }
  function setUpAcknowledge() {
    var feed = document.getElementById("alert-feed");
    if (!feed) { return; }
    feed.addEventListener("click", function (event) {
      var button = event.target.closest("[data-ack]");
      if (!button) { return; }
      var item = button.closest(".alert-item");
      var url = feed.dataset.ackUrl.replace("/0/", "/" + button.dataset.ack + "/");
      button.disabled = true;
      fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) { return { status: response.status, ok: response.ok, body: body }; });
        })
        .then(function (result) {
          var old = item.querySelector("[data-ack-error]");
          if (old) { old.remove(); }
          if (result.ok) {
            upsertAlert(result.body.alert);
          } else {
            // A conflict means someone else acknowledged it (or it cleared): the live feed brings its state.
            button.disabled = result.status === 409;
            showAckError(item, (result.body.error && result.body.error.message) || "The alert could not be acknowledged.");
          }
          refreshAlertCounts();
        })
        .catch(function () {
          button.disabled = false;
          showAckError(item, "The alert could not be acknowledged; try again.");
        });
    });
  }

  // --- Charts --------------------------------------------------------------------------------------------
  // The series endpoint's points, as [{t (ms), hashrate_ths, power_kw}].
  function seriesPoints(data) {
    var points = data.points || [];
    return points.map(function (p) {
      if (Array.isArray(p)) { return { t: Date.parse(p[0]), hashrate_ths: p[1], power_kw: p[2] }; }
      return { t: typeof p.t === "number" ? p.t : Date.parse(p.t), hashrate_ths: p.hashrate_ths, power_kw: p.power_kw };
    });
  }
  var TICK_MINUTES = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 4320, 10080];
  // Ticks on round UTC clock times or midnights, at most about seven of them.
  function roundTicks(axis) {
    var span = (axis.max - axis.min) / 60000;
    var step = (TICK_MINUTES.filter(function (m) { return span / m <= 7; })[0] || 10080) * 60000;
    var ticks = [];
    for (var t = Math.ceil(axis.min / step) * step; t <= axis.max; t += step) { ticks.push({ value: t }); }
    axis.ticks = ticks;
  }
  function chartTicks(range) {
    return function (value) { return RANGE_MS[range] <= RANGE_MS["24h"] ? hhmm(value) : dayTime(value).split(",")[0]; };
  }
  function pointRadius(count) { return count > 60 ? 0 : 2.5; }
  function lineChart(canvas, label, color, unit, range, start, end) {
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: [{
        label: label, data: [], borderColor: color, backgroundColor: color + "22", borderWidth: 2, pointRadius: 0,
        pointHoverRadius: 4, fill: "origin", tension: 0.2, spanGaps: false
      }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", min: start, max: end, grid: { color: "rgba(0,0,0,0.05)" }, afterBuildTicks: roundTicks,
            ticks: { autoSkip: false, maxRotation: 0, callback: chartTicks(range) } },
          y: { beginAtZero: true, grid: { color: "rgba(0,0,0,0.06)" }, ticks: { maxTicksLimit: 6 } }
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { return items.length ? dayTime(items[0].parsed.x) + " UTC" : ""; },
            label: function (item) { return label + ": " + num(item.parsed.y, 1) + " " + unit; }
          } }
        }
      }
    });
  }
  function drawSeries(range, points, resolution) {
    var end = Date.now();
    var start = end - RANGE_MS[range];
    if (charts.hashrate) { charts.hashrate.destroy(); }
    if (charts.power) { charts.power.destroy(); }
    charts.hashrate = lineChart(document.getElementById("chart-hashrate"), "Hashrate", ACCENT, "TH/s", range, start, end);
    charts.power = lineChart(document.getElementById("chart-power"), "Power", POWER_COLOR, "kW", range, start, end);
    charts.hashrate.data.datasets[0].data = points.map(function (p) { return { x: p.t, y: p.hashrate_ths }; });
    charts.power.data.datasets[0].data = points.map(function (p) { return { x: p.t, y: p.power_kw }; });
    charts.hashrate.data.datasets[0].pointRadius = charts.power.data.datasets[0].pointRadius = pointRadius(points.length);
    charts.hashrate.update();
    charts.power.update();
    var caption = document.querySelector("[data-chart-caption]");
    var words = { raw: "each collection run", "5m": "5-minute averages", "1h": "hourly averages" };
    if (caption) {
      caption.textContent = points.length
        ? "Sum over the site's miners, " + (words[resolution] || resolution || "") + ", last " + range + " (UTC)" +
          (LIVE_RANGES[range] ? "; new runs are added as they arrive." : ".")
        : "No readings stored for this site in the last " + range + ".";
    }
    document.querySelectorAll(".chart-box").forEach(function (box) { box.dataset.points = String(points.length); });
  }
  function loadSeries(range) {
    currentRange = range;
    document.querySelectorAll("[data-range]").forEach(function (button) {
      var on = button.dataset.range === range;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var ticket = ++seriesRequest;
    var url = "/hosting/api/series?scope=site&id=" + config.site_id + "&range=" + encodeURIComponent(range);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
      .then(function (data) {
        if (ticket !== seriesRequest) { return; }  // a later range was picked meanwhile
        drawSeries(range, seriesPoints(data), data.resolution);
      })
      .catch(function () {
        if (ticket !== seriesRequest) { return; }
        var caption = document.querySelector("[data-chart-caption]");
        if (caption) { caption.textContent = "The history could not be loaded; pick a range to try again."; }
      });
  }
  function appendLivePoint(summary) {
    if (!summary || !summary.recorded_at || !LIVE_RANGES[currentRange] || !charts.hashrate) { return; }
    var t = Date.parse(summary.recorded_at);
    var start = Date.now() - RANGE_MS[currentRange];
    [[charts.hashrate, summary.hashrate_ths], [charts.power, summary.power_kw]].forEach(function (pair) {
      var chart = pair[0];
      var data = chart.data.datasets[0].data;
      var last = data[data.length - 1];
      if (last && last.x === t) { last.y = pair[1]; } else if (!last || last.x < t) { data.push({ x: t, y: pair[1] }); }
      while (data.length && data[0].x < start) { data.shift(); }
      chart.data.datasets[0].pointRadius = pointRadius(data.length);
      chart.options.scales.x.min = start;
      chart.options.scales.x.max = Math.max(Date.now(), t);
      chart.update("none");
    });
  }
  function setUpCharts() {
    document.querySelectorAll("[data-range]").forEach(function (button) {
      button.addEventListener("click", function () { loadSeries(button.dataset.range); });
    });
    loadSeries(config.default_range);
  }

  // --- Live connection ---------------------------------------------------------------------------------
  function setUpLive() {
    if (!window.LiveConnection) {
      var badge = document.querySelector("[data-live-state]");
      if (badge) { badge.setAttribute("data-live-state", "closed"); badge.textContent = "Offline"; }
      return;
    }
    var key = "site:" + config.site_id;
    var snapshots = 0;
    var live = new window.LiveConnection({
      subscriptions: [{ scope: "site", id: config.site_id }],
      onSnapshot: function (k, payload) {
        if (k !== key) { return; }
        applyRows(payload.miners);
        applySummary(payload.summary);
        replaceAlerts(payload.alerts);
        // A snapshot after the first (a reconnect or a resync) may follow runs this page never saw.
        if (snapshots++ > 0 && currentRange) { loadSeries(currentRange); }
      },
      onDelta: function (k, payload) {
        if (k !== key) { return; }
        applyRows(payload.miners);
        applySummary(payload.summary);
        appendLivePoint(payload.summary);
      },
      onAlerts: function (k, payload) {
        (payload.alerts || []).forEach(upsertAlert);
        refreshAlertCounts();
      },
      onError: function (payload) {
        if (window.console) { window.console.warn("live:", payload && payload.message); }
      }
      // The connection badge ([data-live-state]) is kept by live.js itself.
    });
    window.addEventListener("pagehide", function () { live.close(); });
  }

  function setUpSitePicker() {
    var picker = document.querySelector("[data-site-picker]");
    if (!picker) { return; }
    picker.querySelector("select").addEventListener("change", function () { picker.submit(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("dashboard-config");
    config = node ? JSON.parse(node.textContent) : null;
    setUpSitePicker();
    if (!config) { return; }
    setUpColorToggle();
    setUpAcknowledge();
    if (document.getElementById("chart-hashrate")) { setUpCharts(); }
    setUpLive();
  });
})();
