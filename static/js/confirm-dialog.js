// The confirmation dialog (templates/_confirm_dialog.html): ask(options, onConfirm) shows it and calls
// onConfirm() when Confirm is clicked. Bootstrap ignores hide() while the dialog still fades in, and leaves
// a backdrop over the page when it is shown again while it still fades out; this waits each transition out.
(function () {
  "use strict";

  window.ConfirmDialog = function (node) {
    var modal = new window.bootstrap.Modal(node);
    var ok = node.querySelector("[data-confirm-ok]");
    var title = node.querySelector("#confirm-title");
    var defaultTitle = title.textContent;
    var opening = false;
    var closing = false;
    var pending = null;
    node.addEventListener("show.bs.modal", function () { opening = true; });
    node.addEventListener("shown.bs.modal", function () { opening = false; });
    node.addEventListener("hide.bs.modal", function () { closing = true; });
    node.addEventListener("hidden.bs.modal", function () { closing = false; ok.disabled = false; });

    function after(event, action) {
      node.addEventListener(event, action, { once: true });
    }

    ok.addEventListener("click", function () {
      if (!pending) { return; }
      var confirmed = pending;
      pending = null;
      ok.disabled = true;
      confirmed();
    });

    return {
      // options: text, and optionally title, button (its label) and buttonClass.
      ask: function (options, onConfirm) {
        pending = onConfirm;
        title.textContent = options.title || defaultTitle;
        node.querySelector("[data-confirm-text]").textContent = options.text;
        ok.textContent = options.button || "Confirm";
        ok.className = "btn " + (options.buttonClass || "btn-danger");
        ok.disabled = false;
        if (closing) { after("hidden.bs.modal", function () { modal.show(); }); } else { modal.show(); }
      },
      hide: function () {
        if (opening) { after("shown.bs.modal", function () { modal.hide(); }); } else { modal.hide(); }
      }
    };
  };
})();
