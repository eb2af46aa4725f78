/* The map explorer's keys: [ and ] draw the map one column earlier or later (the "As of" links). */
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "[" && event.key !== "]") return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && target.type !== "range")) return;
    var link = document.querySelector(event.key === "[" ? "#heatmap-panel a.moment-earlier" : "#heatmap-panel a.moment-later");
    if (!link) return;
    event.preventDefault();
    link.click();
  });
})();
