/* Hyperliquid's measured positions on the asset page, fetched from the measured-layer API for the timeframe
 * on screen each time a map loads.
 *
 * layer=model (the switch in templates/heatmaps/_measured_layer.html, or no switch): drawn as outlines over
 * the liquidation map (heatmap.js setMeasured), with a toggle in the legend that says how much of
 * Hyperliquid's open interest the measured accounts cover.
 * layer=measured: the measured positions alone — a snapshot, now — as the band at the map's right edge and as
 * the liquidation map; layer=merged: the modelled map with Hyperliquid's measured share replaced by them
 * (the API's merged block), each cell's measured share in the tooltips (heatmap.js setLayer).
 */
(function () {
  "use strict";

  var BAND_SHARE = 40; // the band holding the snapshot spans 1/40 of the map's columns (at least one)
  var shown = true;
  var last = null;

  function pct(x) {
    return x == null ? "unknown" : (x * 100).toFixed(x < 0.1 ? 1 : 0) + " %";
  }

  function legend() {
    return document.querySelector("[data-measured-src]");
  }

  function switcher() {
    return document.getElementById("measured-layer");
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

  function say(text) {
    var box = switcher();
    if (!box) return;
    var line = box.querySelector(".measured-status");
    if (!line) {
      line = document.createElement("p");
      line.className = "measured-status notice";
      line.setAttribute("role", "status");
      box.appendChild(line);
    }
    line.textContent = text;
  }

  // The liquidation map's cumulative lines and totals for per-bin USD: longs summed from the price down,
  // shorts from the price up (as the engine's liquidation map).
  function liquidationMap(data, price, long, short, tiers) {
    var bins = data.bins;
    var binW = (data.price_hi - data.price_lo) / bins;
    var cumLong = new Array(bins).fill(0);
    var cumShort = new Array(bins).fill(0);
    var run = 0;
    for (var b = bins - 1; b >= 0; b--) {
      if (data.price_lo + (b + 0.5) * binW < price) {
        run += long[b] || 0;
        cumLong[b] = run;
      }
    }
    var totalLong = run;
    run = 0;
    for (var c = 0; c < bins; c++) {
      if (data.price_lo + (c + 0.5) * binW > price) {
        run += short[c] || 0;
        cumShort[c] = run;
      }
    }
    return {
      price: price,
      prices: (data.liquidation_map || {}).prices,
      cum_long: cumLong,
      cum_short: cumShort,
      total_long: totalLong,
      total_short: run,
      tier_long: tiers.long,
      tier_short: tiers.short,
      leverages: tiers.leverages,
      labels: tiers.labels,
    };
  }

  function shares(values) {
    return values.map(function (v) {
      return v > 0 ? 1 : 0;
    });
  }

  // The measured layer alone: one tier, "measured"; full intensity at its largest bin so the band shows.
  function measuredOverlay(data, body, price) {
    var full = 0;
    for (var b = 0; b < data.bins; b++) full = Math.max(full, (body.long_usd[b] || 0) + (body.short_usd[b] || 0));
    return {
      name: "measured",
      only: true,
      long: body.long_usd,
      short: body.short_usd,
      longShare: shares(body.long_usd),
      shortShare: shares(body.short_usd),
      full: full,
      liquidation_map: liquidationMap(data, price, body.long_usd, body.short_usd, {
        long: [body.long_usd],
        short: [body.short_usd],
        leverages: [null],
        labels: ["measured"],
      }),
    };
  }

  // Model + measured: the model's tiers scaled to what stays modelled in each bin, then the measured USD as
  // one more tier on top.
  function mergedOverlay(data, body, price) {
    var merged = body.merged;
    var lm = data.liquidation_map || {};
    function side(tiers, mergedUsd, measuredUsd) {
      var scaled = tiers.map(function () {
        return new Array(data.bins).fill(0);
      });
      for (var b = 0; b < data.bins; b++) {
        var model = 0;
        for (var k = 0; k < tiers.length; k++) model += tiers[k][b] || 0;
        var factor = model > 0 ? Math.max(0, mergedUsd[b] - (measuredUsd[b] || 0)) / model : 0;
        for (var t = 0; t < tiers.length; t++) scaled[t][b] = (tiers[t][b] || 0) * factor;
      }
      scaled.push(measuredUsd);
      return scaled;
    }
    var leverages = (lm.leverages || []).slice();
    var labels = leverages.map(function (lev) {
      return lev != null ? Math.round(lev) + "×" : "";
    });
    leverages.push(null);
    labels.push("measured");
    return {
      name: "merged",
      only: false,
      long: merged.long_usd,
      short: merged.short_usd,
      longShare: merged.long_measured_share,
      shortShare: merged.short_measured_share,
      full: 0,
      liquidation_map: liquidationMap(data, price, merged.long_usd, merged.short_usd, {
        long: side(lm.tier_long || [], merged.long_usd, body.long_usd),
        short: side(lm.tier_short || [], merged.short_usd, body.short_usd),
        leverages: leverages,
        labels: labels,
      }),
    };
  }

  function showLayer(box) {
    var mode = box.dataset.layer;
    var state = window.LiqHeatmap && window.LiqHeatmap.current && window.LiqHeatmap.current();
    if (!state || !state.data || !window.LiqHeatmap.setLayer) return;
    var data = state.data;
    fetch(box.dataset.layerSrc, { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (body) {
        if (!body) return say("The measured layer could not be read.");
        if (body.bins !== data.bins || body.price_lo !== data.price_lo || body.price_hi !== data.price_hi) {
          return say("The measured layer is on another price axis than this map (it was recomputed): reload the page.");
        }
        var lm = data.liquidation_map || {};
        var price = lm.price != null ? lm.price : data.current_price;
        if (mode === "merged" && !body.merged) {
          return say("No merged layer: Hyperliquid's open interest or its modelled map is missing, so the measured share of the model is unknown.");
        }
        var overlay = mode === "merged" ? mergedOverlay(data, body, price) : measuredOverlay(data, body, price);
        overlay.band = Math.max(1, Math.ceil(data.width / BAND_SHARE));
        window.LiqHeatmap.setLayer(overlay);
        var legendFull = document.querySelector("#heatmap-panel .legend-full");
        if (overlay.full > 0 && legendFull && !state.fullUsd) {
          legendFull.textContent = "full intensity = " + window.LiqDraw.usd(overlay.full) + " (largest measured bin)";
        }
      })
      .catch(function () {
        say("The measured layer could not be read.");
      });
  }

  document.addEventListener("liq:map-loaded", function () {
    var box = switcher();
    if (box && box.dataset.layer && box.dataset.layer !== "model") {
      showLayer(box);
      return;
    }
    var lbox = legend();
    if (!lbox) return;
    fetch(lbox.dataset.measuredSrc, { headers: { Accept: "application/json" } })
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
