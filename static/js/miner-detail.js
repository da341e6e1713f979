// The miner page: live readings from the miner's deltas, its alerts and operation log kept current from
// live frames, history charts (window.LiveHistory, from client-dashboard.js), and for operators the control
// buttons, each sent to the control API only after its confirmation. Times are shown in UTC.
(function () {
  "use strict";

  var ACTIONS = { start: "Start", stop: "Stop (sleep)", reboot: "Reboot", power_target: "Power target", identify: "Identify" };

  function fmt() { return window.LiveFormat; }
  function text(node, value) { if (node) { node.textContent = value; } }
  function stamp(iso) { return iso ? iso.slice(0, 10) + " " + iso.slice(11, 19) : ""; }

  // --- readings ------------------------------------------------------------------------------------------
  function applyRow(root, row) {
    var f = fmt();
    var reading = function (name) { return root.querySelector('[data-reading="' + name + '"]'); };
    text(reading("label"), row.label);
    var status = reading("status");
    if (status) { status.innerHTML = f.badgeHtml(row); }
    text(reading("hashrate_ths"), f.number(row.hashrate_ths, 1));
    text(reading("power_w"), row.power_w === null ? "–" : String(row.power_w));
    text(reading("temp_c"), f.number(row.temp_c, 1));
    text(reading("fan_rpm_min"), row.fan_rpm_min === null ? "–" : String(row.fan_rpm_min));
    text(reading("recorded_at"), f.hhmmss(row.recorded_at));
    var outcome = reading("outcome");
    if (outcome) {
      outcome.innerHTML = row.outcome === "ok" ? '<span class="text-success">answered</span>' :
        '<span class="text-danger"></span>';
      if (row.outcome !== "ok") { outcome.firstChild.textContent = row.outcome || "–"; }
    }
    var bar = root.querySelector('[data-reading="hashrate_share"] span');
    if (bar && row.nominal_hashrate_ths) {
      bar.style.width = Math.max(0, Math.min(100, 100 * (row.hashrate_ths || 0) / row.nominal_hashrate_ths)).toFixed(0) + "%";
    }
    var efficiency = row.hashrate_ths && row.power_w !== null ? row.power_w / row.hashrate_ths : null;
    text(reading("efficiency_j_th"), f.number(efficiency, 1));
    root.dataset.status = f.statusOf(row);
  }

  // --- alerts and operations ----------------------------------------------------------------------------
  function upsertAlert(root, alert) {
    var list = root.querySelector("[data-alert-list]");
    var item = list.querySelector('[data-alert-id="' + alert.id + '"]');
    if (!item) {
      item = document.createElement("li");
      item.className = "list-group-item d-flex gap-2 align-items-start";
      item.setAttribute("data-alert-id", String(alert.id));
      item.innerHTML = '<span class="badge mt-1" data-field="status"></span><div class="flex-grow-1">' +
        '<div class="fw-semibold" data-field="kind_label"></div><div data-field="message"></div>' +
        '<div class="small text-body-secondary" data-field="opened_at"></div></div>';
      list.insertBefore(item, list.firstChild);
    }
    item.setAttribute("data-alert-status", alert.status);
    var badge = item.querySelector('[data-field="status"]');
    badge.className = "badge mt-1 alert-status-" + alert.status;
    badge.textContent = alert.status;
    text(item.querySelector('[data-field="kind_label"]'), alert.kind_label);
    text(item.querySelector('[data-field="message"]'), alert.message);
    var when = "opened " + stamp(alert.opened_at).slice(0, 16);
    if (alert.resolved_at) { when += " · resolved " + alert.resolved_at.slice(11, 16); }
    else if (alert.acknowledged_at) { when += " · acknowledged " + alert.acknowledged_at.slice(11, 16); }
    text(item.querySelector('[data-field="opened_at"]'), when);
    root.querySelector('[data-empty="alerts"]').classList.add("d-none");
  }

  function outcomeHtml(outcome) {
    if (outcome === "ok") { return '<span class="op-outcome-ok"><i class="bi bi-check-circle-fill me-1"></i>done</span>'; }
    if (!outcome || outcome === "requested") { return '<span class="op-outcome-requested"><i class="bi bi-hourglass-split me-1"></i>sent</span>'; }
    return '<span class="op-outcome-failed"><i class="bi bi-x-circle-fill me-1"></i></span>';
  }

  function upsertOperation(root, op) {
    var body = root.querySelector("[data-operation-list]");
    var tr = body.querySelector('[data-op-id="' + op.id + '"]');
    if (!tr) {
      tr = document.createElement("tr");
      tr.setAttribute("data-op-id", String(op.id));
      tr.innerHTML = '<td class="fw-semibold" data-field="action"></td><td class="small text-nowrap" data-field="requested_at"></td>' +
        '<td data-field="outcome"></td><td class="small text-body-secondary" data-field="requested_by"></td>';
      body.insertBefore(tr, body.firstChild);
    }
    tr.setAttribute("data-op-action", op.action);
    tr.setAttribute("data-op-outcome", op.outcome || "requested");
    text(tr.querySelector('[data-field="action"]'), ACTIONS[op.action] || op.action);
    text(tr.querySelector('[data-field="requested_at"]'), stamp(op.requested_at));
    var outcome = tr.querySelector('[data-field="outcome"]');
    outcome.innerHTML = outcomeHtml(op.outcome);
    if (op.outcome && op.outcome !== "ok" && op.outcome !== "requested") {
      outcome.querySelector("span").appendChild(document.createTextNode(op.outcome));
    }
    text(tr.querySelector('[data-field="requested_by"]'), op.requested_by || "API or system");
    root.querySelector('[data-empty="operations"]').classList.add("d-none");
  }

  // --- controls ----------------------------------------------------------------------------------------
  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setUpControls(root) {
    var bar = root.querySelector("[data-controls]");
    var node = document.getElementById("confirm-modal");
    if (!bar || !node || !window.bootstrap || !window.ConfirmDialog) { return; }
    var dialog = window.ConfirmDialog(node);
    var result = bar.querySelector("[data-control-result]");

    function send(button, body) {
      dialog.hide();
      bar.querySelectorAll("[data-control]").forEach(function (b) { b.disabled = true; });
      result.className = "small ms-auto text-body-secondary";
      result.textContent = "Sending " + button.textContent.trim().toLowerCase() + "…";
      fetch(button.dataset.url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body)
      })
        .then(function (response) { return response.json().then(function (data) { return { ok: response.ok, data: data }; }); })
        .then(function (answer) {
          if (answer.ok) {
            upsertOperation(root, {
              id: answer.data.id, action: answer.data.action, requested_at: answer.data.requested_at,
              finished_at: answer.data.finished_at, outcome: answer.data.outcome, requested_by: answer.data.requested_by
            });
            result.className = "small ms-auto text-success";
            result.textContent = "Done: the miner accepted it. Its readings change at the next collection.";
          } else {
            result.className = "small ms-auto text-danger";
            result.textContent = (answer.data.error && answer.data.error.message) || "The command failed.";
          }
        })
        .catch(function () {
          result.className = "small ms-auto text-danger";
          result.textContent = "The command could not be sent; check the connection and try again.";
        })
        .then(function () { bar.querySelectorAll("[data-control]").forEach(function (b) { b.disabled = false; }); });
    }

    bar.querySelectorAll("[data-control]").forEach(function (button) {
      button.addEventListener("click", function () {
        var body = {};
        var message = button.dataset.confirm;
        if (button.dataset.control === "power-target") {
          var input = bar.querySelector("[data-power-input]");
          var watts = Number(input.value);
          if (!input.value || !input.checkValidity() || watts <= 0) {
            input.classList.add("is-invalid");
            result.className = "small ms-auto text-danger";
            result.textContent = "Enter a power target between " + input.min + " and " + input.max + " W.";
            return;
          }
          input.classList.remove("is-invalid");
          body = { power_w: watts };
          message = message.replace("{watts}", String(watts));
        }
        dialog.ask(
          { text: message, button: button.dataset.confirmButton, buttonClass: button.dataset.confirmClass },
          function () { send(button, body); }
        );
      });
    });
  }

  // --- wiring --------------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("miner-detail");
    if (!root) { return; }
    var minerId = Number(root.dataset.minerId);
    var key = "miner:" + minerId;
    setUpControls(root);
    var historyBox = root.querySelector("[data-history]");
    var history = historyBox && window.Chart && window.LiveHistory ? new window.LiveHistory(historyBox) : null;
    if (!window.LiveConnection || !window.LiveFormat) { return; }
    var own = function (row) { return row.id === minerId; };
    window.minerLive = new window.LiveConnection({
      subscriptions: [{ scope: "miner", id: minerId }],
      onSnapshot: function (frameKey, payload) {
        if (frameKey !== key) { return; }
        payload.miners.filter(own).forEach(function (row) { applyRow(root, row); });
        payload.alerts.slice().reverse().forEach(function (alert) { upsertAlert(root, alert); });
      },
      onDelta: function (frameKey, payload) {
        if (frameKey !== key) { return; }
        var rows = payload.miners.filter(own);
        rows.forEach(function (row) { applyRow(root, row); });
        if (history && rows.length) { history.live(payload.summary); }
        root.dataset.deltas = String(Number(root.dataset.deltas || 0) + 1);
      },
      onAlerts: function (frameKey, payload) {
        (payload.alerts || []).filter(function (a) { return a.miner_id === minerId; }).forEach(function (a) { upsertAlert(root, a); });
      },
      onOperation: function (frameKey, payload) {
        if (payload.operation && payload.operation.miner_id === minerId) { upsertOperation(root, payload.operation); }
      }
    });
  });
})();
