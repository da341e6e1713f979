// Calculator batch pages: the fleet table (rows added and removed, model specs as placeholders), the
// projection fields that apply to the chosen scenario, and the progress bar of a batch being computed.
(function () {
  "use strict";

  function renumber(body) {
    Array.prototype.forEach.call(body.querySelectorAll("[data-fleet-row]"), function (row, index) {
      row.querySelector("[data-row-number]").textContent = String(index + 1);
    });
  }

  // A model's hashrate and power show in the spec cells as placeholders: typed values override them.
  function showModelSpecs(row) {
    var select = row.querySelector("[data-fleet-model]");
    var option = select.options[select.selectedIndex];
    var specs = { hashrate_ths: option.getAttribute("data-ths"), power_w: option.getAttribute("data-w") };
    Array.prototype.forEach.call(row.querySelectorAll("[data-spec]"), function (input) {
      var value = specs[input.getAttribute("data-spec")];
      input.placeholder = value || "required";
    });
  }

  function setUpFleet(form) {
    var body = form.querySelector("[data-fleet-rows]");
    var template = document.getElementById("fleet-row-template");
    var add = form.querySelector("[data-fleet-add]");
    if (!body || !template || !add) { return; }
    var maxRows = parseInt(add.getAttribute("data-max-rows"), 10);

    function refresh() {
      renumber(body);
      add.disabled = body.querySelectorAll("[data-fleet-row]").length >= maxRows;
    }

    add.addEventListener("click", function () {
      var row = template.content.firstElementChild.cloneNode(true);
      // A new row starts with the tariff of the row above, the usual case for one site.
      var rows = body.querySelectorAll("[data-fleet-row]");
      var previous = rows[rows.length - 1];
      if (previous) {
        ["electricity_usd_per_kwh", "pool_fee_pct", "uptime_pct"].forEach(function (name) {
          var from = previous.querySelector("[name='fleet-" + name + "']");
          row.querySelector("[name='fleet-" + name + "']").value = from ? from.value : "";
        });
      }
      body.appendChild(row);
      showModelSpecs(row);
      refresh();
      row.querySelector("[data-fleet-model]").focus();
    });
    body.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-fleet-remove]");
      if (!remove) { return; }
      var row = remove.closest("[data-fleet-row]");
      if (body.querySelectorAll("[data-fleet-row]").length > 1) {
        row.remove();
      } else {
        Array.prototype.forEach.call(row.querySelectorAll("input, select"), function (input) { input.value = ""; });
      }
      refresh();
    });
    body.addEventListener("change", function (event) {
      if (event.target.matches("[data-fleet-model]")) { showModelSpecs(event.target.closest("[data-fleet-row]")); }
    });
    Array.prototype.forEach.call(body.querySelectorAll("[data-fleet-row]"), showModelSpecs);
    refresh();
  }

  // Fields marked data-show-when="select=value" show only while that select holds that value.
  function setUpConditionalFields(form) {
    var blocks = form.querySelectorAll("[data-show-when]");
    function update() {
      Array.prototype.forEach.call(blocks, function (block) {
        var rule = block.getAttribute("data-show-when").split("=");
        var select = form.querySelector("[name='" + rule[0] + "']");
        block.hidden = !select || select.value !== rule[1];
      });
    }
    form.addEventListener("change", update);
    update();
  }

  function followProgress(card) {
    var url = card.getAttribute("data-status-url");
    var bar = card.querySelector("[data-batch-bar]");
    var done = card.querySelector("[data-batch-done]");
    var state = card.querySelector("[data-batch-state]");

    function show(status) {
      bar.style.width = status.percent + "%";
      bar.textContent = status.percent + "%";
      bar.parentNode.setAttribute("aria-valuenow", String(status.percent));
      done.textContent = status.done.toLocaleString("en-US");
      if (status.status === "running") { state.textContent = "Computing every row at the snapshot below…"; }
    }

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (status) {
          show(status);
          // The finished page (totals, sortable rows) comes from the server: reload once.
          if (status.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 1000);
  }

  var form = document.getElementById("batch-form");
  if (form) {
    setUpFleet(form);
    setUpConditionalFields(form);
  }
  var card = document.getElementById("batch-progress");
  if (card) { followProgress(card); }
})();
