/* Hyperliquid's measured positions over the liquidation map: fetched from the measured-layer API for
 * the timeframe on screen each time a map loads, drawn as outlines (heatmap.js setMeasured), with a
 * toggle in the legend that says how much of Hyperliquid's open interest the measured accounts cover.
 */
(function () {
  "use strict";

  var shown = true;
  var last = null;

  function pct(x) {
    return x == null ? "unknown" : (x * 100).toFixed(x < 0.1 ? 1 : 0) + " %";
  }

  function legend() {
    return document.querySelector("[data-measured-src]");
  }

  function toggle(layer) {
    var box = legend();
    if (!box) return;
    var button = box.querySelector(".measured-toggle");
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "measured-toggle";
      button.addEventListener("click", function () {
        shown = !shown;
        apply();
      });
      box.appendChild(button);
    }
    button.setAttribute("aria-pressed", shown ? "true" : "false");
    button.textContent = "measured (Hyperliquid, covers " + pct(layer.coverage) + ")";
    button.title =
      layer.accounts + " accounts swept; white outlines: their positions at their real liquidation prices";
  }

  function apply() {
    if (!last || !window.LiqHeatmap || !window.LiqHeatmap.setMeasured) return;
    window.LiqHeatmap.setMeasured(shown ? last : null);
    toggle(last);
  }

  document.addEventListener("liq:map-loaded", function () {
    var box = legend();
    if (!box) return;
    fetch(box.dataset.measuredSrc, { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (layer) {
        if (!layer) return;
        last = layer;
        apply();
      })
      .catch(function () {});
  });
})();
