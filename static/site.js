/* Every page: the keyboard help overlay (`?`) and the asset page's dismissible status line.
 * A dismissed status line stays hidden for this browser tab until its conditions change (its
 * data-status-key names them), so a new problem is never hidden by an old dismissal. */
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function helpDialog() {
    return document.getElementById("keyboard-help");
  }

  function toggleHelp() {
    var dialog = helpDialog();
    if (!dialog || typeof dialog.showModal !== "function") return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "?" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    event.preventDefault();
    toggleHelp();
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) return;
    if (target.closest("[data-keyboard-help]")) {
      toggleHelp();
      return;
    }
    var dismiss = target.closest(".status-dismiss");
    if (dismiss) {
      var line = dismiss.closest(".status-line");
      if (!line) return;
      line.hidden = true;
      try {
        window.sessionStorage.setItem("liq-status-hidden:" + line.dataset.statusKey, "1");
      } catch (error) {
        // storage refused (private mode): hidden for this page only
      }
    }
  });

  function restoreDismissed(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var lines = scope.querySelectorAll(".status-line[data-status-key]");
    for (var i = 0; i < lines.length; i++) {
      try {
        if (window.sessionStorage.getItem("liq-status-hidden:" + lines[i].dataset.statusKey)) lines[i].hidden = true;
      } catch (error) {
        return;
      }
    }
  }

  function boot() {
    restoreDismissed(document);
    if (window.htmx) window.htmx.onLoad(restoreDismissed);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
