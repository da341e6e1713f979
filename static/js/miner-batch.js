// Batch operations: miner selection on the device list, and the progress bar of a running batch.
(function () {
  "use strict";

  function setUpSelection(form) {
    var checks = Array.prototype.slice.call(document.querySelectorAll("[data-miner-check]"));
    var all = document.getElementById("select-all");
    var count = form.querySelector("[data-selected-count]");
    var selectedScope = document.getElementById("scope-selected");
    var filterScope = document.getElementById("scope-filter");
    var action = document.getElementById("batch-action");
    var power = form.querySelector("[data-power-field]");

    function refresh() {
      var ticked = checks.filter(function (c) { return c.checked; }).length;
      count.textContent = String(ticked);
      if (all) {
        all.checked = ticked > 0 && ticked === checks.length;
        all.indeterminate = ticked > 0 && ticked < checks.length;
      }
      if (ticked > 0) { selectedScope.checked = true; }
    }

    checks.forEach(function (c) { c.addEventListener("change", refresh); });
    if (all) {
      all.addEventListener("change", function () {
        checks.forEach(function (c) { c.checked = all.checked; });
        refresh();
      });
    }
    action.addEventListener("change", function () {
      power.classList.toggle("d-none", action.value !== "power_target");
    });
    form.addEventListener("submit", function (event) {
      var miners = filterScope.checked ? form.getAttribute("data-filter-count") : count.textContent;
      var label = action.options[action.selectedIndex].text.replace("…", "");
      if (!window.confirm(label + " on " + miners + " miner(s)?")) { event.preventDefault(); }
    });
    refresh();
  }

  function followProgress(card) {
    if (card.getAttribute("data-finished") === "true") { return; }
    var url = card.getAttribute("data-status-url");
    var bar = card.querySelector("[data-batch-bar]");
    var progress = bar.parentNode;

    function show(status) {
      bar.style.width = status.percent + "%";
      bar.textContent = status.percent + "%";
      progress.setAttribute("aria-valuenow", String(status.percent));
      card.querySelector("[data-batch-done]").textContent = String(status.done);
      card.querySelector("[data-batch-ok]").textContent = String(status.ok);
      card.querySelector("[data-batch-failed]").textContent = String(status.failed);
      card.querySelector("[data-batch-pending]").textContent = String(status.total - status.done);
    }

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (status) {
          show(status);
          // The finished page lists every miner's answer; reloading once renders it from the server.
          if (status.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 1000);
  }

  var form = document.getElementById("batch-form");
  if (form) { setUpSelection(form); }
  var card = document.getElementById("batch-progress");
  if (card) { followProgress(card); }
})();
