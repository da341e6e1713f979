// The client dashboard: the customer's miners kept current from live frames (snapshot, then one delta per
// collection run), a sortable table, the totals, and hashrate / power history charts over a chosen range.
// The history charts are shared with the miner page (window.LiveHistory). Times are shown in UTC.
(function () {
  "use strict";

  var ACCENT = "#f7931a";
  var BLUE = "#0d6efd";
  var RAW_RANGES = { "1h": 3600e3, "6h": 6 * 3600e3 };
  var BUCKET_MS = { "5m": 300e3, "1h": 3600e3 };
  var STATUS = {
    online: ["status-online", "Online"], offline: ["status-offline", "Offline"],
    sleeping: ["status-sleeping", "Sleeping"], maintenance: ["status-maintenance", "Maintenance"],
    unknown: ["status-unknown", "Not polled yet"]
  };

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function hhmm(ms) { var d = new Date(ms); return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()); }
  function hhmmss(iso) { return iso ? iso.slice(11, 19) + " UTC" : "never"; }
  function dayLabel(ms) { return new Date(ms).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" }); }
  function number(value, digits) {
    if (value === null || value === undefined) { return "–"; }
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function statusOf(row) { return row.status === "stopped" || row.is_sleeping ? "sleeping" : (STATUS[row.status] ? row.status : "unknown"); }

  // --- the miner table -------------------------------------------------------------------------------
  function badgeHtml(row) {
    var status = STATUS[statusOf(row)];
    var html = '<span class="badge ' + status[0] + '" data-status="' + statusOf(row) + '">' + status[1] + "</span>";
    if (row.curtailed) { html += ' <span class="badge status-curtailed" data-curtailed>Curtailed</span>'; }
    return html;
  }

  function cell(tr, field) { return tr.querySelector('[data-field="' + field + '"]'); }

  function buildRow(row) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-miner-id", String(row.id));
    tr.innerHTML =
      '<td data-field="label"><a class="fw-semibold text-decoration-none" data-miner-link></a><div class="small text-body-secondary" data-ip></div></td>' +
      '<td data-field="model" class="small"></td><td data-field="status"></td>' +
      '<td data-field="hashrate_ths" class="text-end"><div data-value></div><div class="share-bar ms-auto mt-1"><span></span></div></td>' +
      '<td data-field="power_w" class="text-end"></td><td data-field="temp_c" class="text-end"></td>' +
      '<td data-field="recorded_at" class="small text-body-secondary text-nowrap"></td>';
    var link = tr.querySelector("[data-miner-link]");
    link.href = "/hosting/miners/" + row.id;
    return tr;
  }

  function fillRow(tr, row) {
    var label = cell(tr, "label");
    label.querySelector("[data-miner-link]").textContent = row.label;
    label.querySelector("[data-ip]").textContent = row.ip;
    label.dataset.sortValue = row.label;
    cell(tr, "model").textContent = row.model;
    cell(tr, "model").dataset.sortValue = row.model;
    cell(tr, "status").innerHTML = badgeHtml(row);
    cell(tr, "status").dataset.sortValue = statusOf(row);
    var hashrate = cell(tr, "hashrate_ths");
    hashrate.querySelector("[data-value]").textContent = number(row.hashrate_ths, 1);
    hashrate.dataset.sortValue = row.hashrate_ths === null ? "-1" : String(row.hashrate_ths);
    var bar = hashrate.querySelector(".share-bar span");
    if (bar && row.nominal_hashrate_ths) {
      var share = Math.max(0, Math.min(100, 100 * (row.hashrate_ths || 0) / row.nominal_hashrate_ths));
      bar.style.width = share.toFixed(0) + "%";
      bar.parentNode.classList.toggle("low", statusOf(row) === "online" && share < 80);
    }
    cell(tr, "power_w").textContent = row.power_w === null ? "–" : String(row.power_w);
    cell(tr, "power_w").dataset.sortValue = row.power_w === null ? "-1" : String(row.power_w);
    cell(tr, "temp_c").textContent = number(row.temp_c, 0);
    cell(tr, "temp_c").dataset.sortValue = row.temp_c === null ? "-1" : String(row.temp_c);
    cell(tr, "recorded_at").textContent = hhmmss(row.recorded_at);
    cell(tr, "recorded_at").dataset.sortValue = row.recorded_at || "";
  }

  function Table(table) {
    this.table = table;
    this.body = table.querySelector("tbody");
    this.sortField = "label";
    this.ascending = true;
    var self = this;
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () {
        var field = th.getAttribute("data-sort");
        self.ascending = field === self.sortField ? !self.ascending : true;
        self.sortField = field;
        table.querySelectorAll("th[data-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", self.ascending ? "ascending" : "descending");
        self.sort();
      });
    });
  }

  Table.prototype.sort = function () {
    var field = this.sortField;
    var sign = this.ascending ? 1 : -1;
    var rows = Array.prototype.slice.call(this.body.querySelectorAll("tr[data-miner-id]"));
    rows.sort(function (a, b) {
      var x = cell(a, field).dataset.sortValue || "";
      var y = cell(b, field).dataset.sortValue || "";
      var nx = Number(x), ny = Number(y);
      var order = x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y, undefined, { numeric: true });
      return sign * order;
    });
    var body = this.body;
    rows.forEach(function (tr) { body.appendChild(tr); });
  };

  // Rows of the miners a frame carries; `replace` (a snapshot) also drops rows the frame no longer lists.
  Table.prototype.apply = function (rows, replace) {
    var seen = {};
    var body = this.body;
    rows.forEach(function (row) {
      seen[row.id] = true;
      var tr = body.querySelector('tr[data-miner-id="' + row.id + '"]');
      if (!tr) { tr = buildRow(row); body.appendChild(tr); }
      fillRow(tr, row);
      if (!replace) {
        tr.classList.remove("flash");
        void tr.offsetWidth; // restart the highlight animation
        tr.classList.add("flash");
      }
    });
    if (replace) {
      body.querySelectorAll("tr[data-miner-id]").forEach(function (tr) {
        if (!seen[tr.getAttribute("data-miner-id")]) { tr.remove(); }
      });
    }
    this.sort();
  };

  function applySummary(root, summary) {
    var values = {
      hashrate_ths: number(summary.hashrate_ths, 1), power_kw: number(summary.power_kw, 2),
      efficiency_j_th: number(summary.efficiency_j_th, 1), online: summary.online, miners: summary.miners,
      offline: summary.offline, sleeping: summary.sleeping, curtailed: summary.curtailed
    };
    Object.keys(values).forEach(function (name) {
      root.querySelectorAll('[data-kpi="' + name + '"]').forEach(function (node) { node.textContent = String(values[name]); });
    });
    var hashrateTotal = root.querySelector('[data-total="hashrate_ths"]');
    if (hashrateTotal) { hashrateTotal.textContent = number(summary.hashrate_ths, 1); }
    var powerTotal = root.querySelector('[data-total="power_w"]');
    if (powerTotal) { powerTotal.textContent = summary.power_kw === null ? "–" : String(Math.round(summary.power_kw * 1000)); }
  }

  // --- history charts ----------------------------------------------------------------------------------
  var TICK_MINUTES = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 4320, 10080];

  // Ticks on round UTC clock times (every 5, 10, 15 ... minutes, or whole days), at most about eight.
  function clockTicks(axis) {
    var span = (axis.max - axis.min) / 60000;
    var step = TICK_MINUTES.filter(function (m) { return span / m <= 8; })[0] || 10080;
    var ticks = [];
    for (var t = Math.ceil(axis.min / (step * 60000)) * step * 60000; t <= axis.max; t += step * 60000) {
      ticks.push({ value: t });
    }
    axis.ticks = ticks;
    axis.chart.$dayTicks = step >= 1440;
  }

  function lineChart(canvas, label, color, unit) {
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: [{ label: label, data: [], borderColor: color, backgroundColor: color + "22", borderWidth: 2,
        pointRadius: 0, pointHoverRadius: 4, fill: "origin", tension: 0.2, clip: 6 }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", grid: { color: "rgba(0,0,0,0.05)" }, afterBuildTicks: clockTicks,
            ticks: { autoSkip: false, maxRotation: 0, callback: function (v) { return this.chart.$dayTicks ? dayLabel(v) : hhmm(v); } } },
          y: { beginAtZero: true, grid: { color: "rgba(0,0,0,0.06)" } }
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { return items.length ? dayLabel(items[0].parsed.x) + " " + hhmm(items[0].parsed.x) + " UTC" : ""; },
            label: function (item) { return label + ": " + number(item.parsed.y, unit === "kW" ? 2 : 1) + " " + unit; }
          } }
        }
      }
    });
  }

  function History(box) {
    this.box = box;
    this.range = box.dataset.range;
    this.resolution = null;
    this.loading = false;
    this.charts = {
      hashrate: lineChart(box.querySelector("#chart-hashrate"), "Hashrate", ACCENT, "TH/s"),
      power: lineChart(box.querySelector("#chart-power"), "Power", BLUE, "kW")
    };
    var self = this;
    box.querySelectorAll("[data-range-button]").forEach(function (button) {
      button.addEventListener("click", function () {
        box.querySelectorAll("[data-range-button]").forEach(function (other) {
          other.classList.toggle("active", other === button);
          other.setAttribute("aria-pressed", other === button ? "true" : "false");
        });
        self.range = button.getAttribute("data-range-button");
        self.load();
      });
    });
    this.load();
  }

  History.prototype.url = function () {
    var query = "scope=" + encodeURIComponent(this.box.dataset.scope) + "&id=" + encodeURIComponent(this.box.dataset.scopeId) +
      "&range=" + encodeURIComponent(this.range);
    return this.box.dataset.seriesUrl + "?" + query;
  };

  History.prototype.load = function () {
    var self = this;
    var range = this.range;
    this.loading = true;
    this.box.dataset.loaded = "loading";
    fetch(this.url(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
      .then(function (data) {
        if (range !== self.range) { return; }
        self.resolution = data.resolution;
        self.draw(data);
        self.box.dataset.loaded = "yes";
        self.box.dataset.points = String(data.points.length);
      })
      .catch(function () {
        self.box.querySelector("[data-history-caption]").textContent = "The history could not be loaded; try again.";
        self.box.dataset.loaded = "";
      })
      .then(function () { self.loading = false; });
  };

  History.prototype.draw = function (data) {
    var start = Date.parse(data.start), end = Date.parse(data.end);
    var self = this;
    [["hashrate", "hashrate_ths"], ["power", "power_kw"]].forEach(function (pair) {
      var chart = self.charts[pair[0]];
      var dataset = chart.data.datasets[0];
      dataset.data = data.points.map(function (p) { return { x: p.t, y: p[pair[1]] }; });
      // A few points (a range just begun) are drawn as dots, or a lone one would not show at all.
      dataset.pointRadius = dataset.data.length > 40 ? 0 : 2.5;
      chart.options.scales.x.min = start;
      chart.options.scales.x.max = end;
      chart.update();
    });
    this.box.querySelectorAll("[data-chart-empty]").forEach(function (node) { node.classList.toggle("d-none", data.points.length > 0); });
    var how = { raw: "every collection", "5m": "5-minute averages", "1h": "hourly averages" }[data.resolution] || "";
    this.box.querySelector("[data-history-caption]").textContent = data.points.length ? "Last " + data.range + ", " + how : "";
  };

  // A delta is a new collection: a raw range gets its point at once; a rollup range reloads once a new
  // bucket has begun, so its newest bucket stays current without reloading at every collection.
  History.prototype.live = function (summary) {
    if (!summary || !summary.recorded_at || this.loading || this.resolution === null) { return; }
    var at = Date.parse(summary.recorded_at);
    var hashrate = this.charts.hashrate;
    var points = hashrate.data.datasets[0].data;
    var last = points.length ? points[points.length - 1].x : 0;
    if (at <= last) { return; }
    if (RAW_RANGES[this.range] && this.resolution === "raw") {
      var span = RAW_RANGES[this.range];
      var self = this;
      [["hashrate", summary.hashrate_ths], ["power", summary.power_kw]].forEach(function (pair) {
        var chart = self.charts[pair[0]];
        var data = chart.data.datasets[0].data;
        data.push({ x: at, y: pair[1] === null ? 0 : pair[1] });
        while (data.length && data[0].x < at - span) { data.shift(); }
        chart.options.scales.x.min = at - span;
        chart.options.scales.x.max = at;
        chart.update("none");
      });
      this.box.querySelectorAll("[data-chart-empty]").forEach(function (node) { node.classList.add("d-none"); });
      this.box.dataset.points = String(points.length);
    } else if (at >= last + (BUCKET_MS[this.resolution] || 3600e3) * 2) {
      this.load();
    }
  };

  window.LiveHistory = History;
  window.LiveFormat = { number: number, hhmmss: hhmmss, badgeHtml: badgeHtml, statusOf: statusOf };

  // --- wiring --------------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("client-dashboard");
    var tableNode = document.getElementById("miners-table");
    if (!root || !tableNode) { return; }
    var customerId = Number(root.dataset.customerId);
    var table = new Table(tableNode);
    table.sort();
    var historyBox = root.querySelector("[data-history]");
    var history = historyBox && window.Chart ? new History(historyBox) : null;
    if (!window.LiveConnection) { return; }
    var key = "client:" + customerId;
    window.clientLive = new window.LiveConnection({
      subscriptions: [{ scope: "client", id: customerId }],
      onSnapshot: function (frameKey, payload) {
        if (frameKey !== key) { return; }
        table.apply(payload.miners, true);
        applySummary(root, payload.summary);
      },
      onDelta: function (frameKey, payload) {
        if (frameKey !== key) { return; }
        table.apply(payload.miners, false);
        applySummary(root, payload.summary);
        if (history) { history.live(payload.summary); }
        root.dataset.deltas = String(Number(root.dataset.deltas || 0) + 1);
      }
    });
  });
})();
