/* liqplatform heat map: draws one stored map on a <canvas data-heatmap-src="/api/…/"> from the JSON API.
 *
 * Long + short USD per cell as an intensity image (full intensity at colour_scale_usd), candles on
 * top, price axis on the right, UTC time axis at the bottom, and a tooltip with the stored values.
 * Plain browser JavaScript, no dependencies. Re-initialises whenever htmx loads new content.
 *
 * Overlays (e.g. a signed-in trader's own levels) hook in through events on the canvas, so this file
 * needs to know nothing about them: `liq:map-drawn` after every draw (detail: the 2D context in CSS
 * pixels, the plot box, priceToY/timeToX/yToPrice/xToTime, price and time range), `liq:map-click`
 * for a click inside the plot (detail: price, time in UTC ms, x/y in CSS pixels), and dispatching
 * `liq:map-redraw` on the canvas asks for a fresh draw.
 */
(function () {
  "use strict";

  // Same stops as .legend-bar in heatmap.css: background → purple → magenta → orange → pale yellow.
  var COLOUR_STOPS = [
    [0.0, [13, 17, 23]],
    [0.2, [59, 15, 111]],
    [0.45, [140, 41, 129]],
    [0.7, [222, 73, 104]],
    [0.88, [254, 159, 109]],
    [1.0, [252, 253, 191]],
  ];
  var BACKGROUND = "#0d1117";
  var AXIS_RIGHT = 74; // px for the price axis
  var AXIS_BOTTOM = 26; // px for the time axis
  var TOP = 16; // px above the plot for the price unit
  var UP = "#3fb950";
  var DOWN = "#f85149";
  var MINUTE = 60000;
  var HOUR = 60 * MINUTE;
  var DAY = 24 * HOUR;
  var TIME_STEPS = [15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  var LUT = buildLut();

  function buildLut() {
    var lut = new Uint8ClampedArray(256 * 3);
    for (var i = 0; i < 256; i++) {
      var t = i / 255;
      var k = 1;
      while (k < COLOUR_STOPS.length - 1 && COLOUR_STOPS[k][0] < t) k++;
      var a = COLOUR_STOPS[k - 1];
      var b = COLOUR_STOPS[k];
      var f = (t - a[0]) / (b[0] - a[0]);
      for (var c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(a[1][c] + (b[1][c] - a[1][c]) * f);
    }
    return lut;
  }

  // ---- formatting -------------------------------------------------------------------------

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function utcStamp(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate()) + " " +
      pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + " UTC";
  }

  function usd(value) {
    var abs = Math.abs(value);
    var units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < units.length; i++) {
      if (abs >= units[i][0]) {
        var scaled = value / units[i][0];
        return "$" + scaled.toFixed(Math.abs(scaled) < 10 ? 2 : 1) + units[i][1];
      }
    }
    return "$" + Math.round(value).toLocaleString("en-US");
  }

  function duration(seconds) {
    if (seconds % 86400 === 0) return seconds / 86400 + " d";
    if (seconds % 3600 === 0) return seconds / 3600 + " h";
    return Math.round(seconds / 60) + " min";
  }

  function priceDecimals(value) {
    if (!isFinite(value) || value === 0) return 2;
    return Math.max(0, Math.min(8, 5 - Math.floor(Math.log10(Math.abs(value)))));
  }

  function price(value, decimals) {
    return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }

  // ---- set-up -------------------------------------------------------------------------------

  function init(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var canvases = scope.querySelectorAll("canvas[data-heatmap-src]");
    if (scope.matches && scope.matches("canvas[data-heatmap-src]")) canvases = [scope];
    for (var i = 0; i < canvases.length; i++) setup(canvases[i]);
  }

  function setup(canvas) {
    // A JS property, not an attribute: history snapshots copy attributes but not pixels.
    if (canvas.__heatmap) return;
    var wrap = canvas.parentElement;
    var state = {
      canvas: canvas,
      tooltip: wrap.querySelector(".map-tooltip"),
      status: wrap.querySelector(".map-status"),
      data: null,
      image: null,
      layout: null,
      drawn: false,
    };
    canvas.__heatmap = state;
    fetch(canvas.dataset.heatmapSrc, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        // A pinned full-intensity USD (same scale across maps) overrides the map's own 99th percentile.
        var pinned = parseFloat(canvas.dataset.fullUsd);
        if (pinned > 0) data.colour_scale_usd = pinned;
        state.data = data;
        state.image = buildImage(data);
        if (state.status) state.status.textContent = "";
        draw(state);
        if (window.ResizeObserver) {
          new ResizeObserver(function () {
            if (canvas.isConnected) draw(state);
          }).observe(canvas);
        }
        canvas.addEventListener("mousemove", function (event) {
          hover(state, event);
        });
        canvas.addEventListener("mouseleave", function () {
          if (state.tooltip) state.tooltip.hidden = true;
        });
        canvas.addEventListener("click", function (event) {
          click(state, event);
        });
        canvas.addEventListener("liq:map-redraw", function () {
          if (canvas.isConnected) draw(state);
        });
      })
      .catch(function (error) {
        console.error("heat map", canvas.dataset.heatmapSrc, error);
        if (state.status) state.status.textContent = "Could not load the map data (" + error.message + ").";
      });
  }

  // One pixel per cell, price bins bottom-up; scaled to the plot area when drawn.
  function buildImage(data) {
    var width = data.times.length;
    var bins = data.prices.length;
    var image = document.createElement("canvas");
    image.width = width;
    image.height = bins;
    var ctx = image.getContext("2d");
    var pixels = ctx.createImageData(width, bins);
    var px = pixels.data;
    var scale = data.colour_scale_usd > 0 ? 255 / data.colour_scale_usd : 0;
    for (var x = 0; x < width; x++) {
      var longCol = data.long[x];
      var shortCol = data.short[x];
      for (var b = 0; b < bins; b++) {
        var level = Math.min(255, Math.round((longCol[b] + shortCol[b]) * scale));
        var o = ((bins - 1 - b) * width + x) * 4;
        px[o] = LUT[level * 3];
        px[o + 1] = LUT[level * 3 + 1];
        px[o + 2] = LUT[level * 3 + 2];
        px[o + 3] = 255;
      }
    }
    ctx.putImageData(pixels, 0, 0);
    return image;
  }

  // ---- drawing ------------------------------------------------------------------------------

  function draw(state) {
    var canvas = state.canvas;
    var data = state.data;
    var cssW = canvas.clientWidth;
    var cssH = canvas.clientHeight;
    if (!cssW || !cssH) return;
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);

    var plot = { x: 0, y: TOP, w: cssW - AXIS_RIGHT, h: cssH - TOP - AXIS_BOTTOM };
    var width = data.times.length;
    var barMs = data.bar_seconds * 1000;
    var lo = data.price_lo;
    var hi = data.price_hi;
    var layout = {
      plot: plot,
      colW: plot.w / width,
      y: function (p) {
        return plot.y + ((hi - p) / (hi - lo)) * plot.h;
      },
      x: function (ms) {
        return plot.x + ((ms - data.times[0]) / (barMs * width)) * plot.w;
      },
    };
    state.layout = layout;

    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, cssW, cssH);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(state.image, plot.x, plot.y, plot.w, plot.h);

    ctx.save();
    ctx.beginPath();
    ctx.rect(plot.x, plot.y, plot.w, plot.h);
    ctx.clip();
    drawCandles(ctx, data, layout);
    drawLiquidations(ctx, data, layout);
    drawCurrentPrice(ctx, data, layout);
    ctx.restore();

    drawPriceAxis(ctx, data, layout, cssW);
    drawTimeAxis(ctx, data, layout);
    state.drawn = true;
    announceDrawn(state, ctx);
  }

  // ---- overlay hooks ------------------------------------------------------------------------

  function overlayGeometry(state, ctx) {
    var data = state.data;
    var plot = state.layout.plot;
    var start = data.times[0];
    var span = data.times.length * data.bar_seconds * 1000;
    return {
      ctx: ctx,
      plot: plot,
      priceLo: data.price_lo,
      priceHi: data.price_hi,
      timeStart: start,
      timeEnd: start + span,
      quote: (data.units && data.units.price) || "",
      priceToY: state.layout.y,
      timeToX: state.layout.x,
      yToPrice: function (y) {
        return data.price_hi - ((y - plot.y) / plot.h) * (data.price_hi - data.price_lo);
      },
      xToTime: function (x) {
        return start + ((x - plot.x) / plot.w) * span;
      },
    };
  }

  function announceDrawn(state, ctx) {
    state.geometry = overlayGeometry(state, ctx);
    ctx.save();
    state.canvas.dispatchEvent(new CustomEvent("liq:map-drawn", { bubbles: true, detail: state.geometry }));
    ctx.restore();
  }

  function click(state, event) {
    var g = state.geometry;
    if (!g) return;
    var rect = state.canvas.getBoundingClientRect();
    var x = event.clientX - rect.left;
    var y = event.clientY - rect.top;
    var plot = g.plot;
    if (x < plot.x || x >= plot.x + plot.w || y < plot.y || y >= plot.y + plot.h) return;
    if (state.tooltip) state.tooltip.hidden = true;
    state.canvas.dispatchEvent(
      new CustomEvent("liq:map-click", {
        bubbles: true,
        detail: { price: g.yToPrice(y), time: Math.round(g.xToTime(x)), x: x, y: y, quote: g.quote },
      })
    );
  }

  function drawCandles(ctx, data, layout) {
    var colW = layout.colW;
    var body = Math.max(1, colW * 0.6);
    for (var i = 0; i < data.candles.length; i++) {
      var c = data.candles[i];
      if (!c) continue;
      var x = layout.plot.x + (i + 0.5) * colW;
      var up = c[4] >= c[1];
      var colour = up ? UP : DOWN;
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(Math.round(x) + 0.5, layout.y(c[2]));
      ctx.lineTo(Math.round(x) + 0.5, layout.y(c[3]));
      ctx.stroke();
      if (colW >= 2.5) {
        var top = layout.y(Math.max(c[1], c[4]));
        var height = Math.max(1, layout.y(Math.min(c[1], c[4])) - top);
        ctx.fillStyle = colour;
        ctx.fillRect(x - body / 2, top, body, height);
        ctx.strokeStyle = "rgba(0,0,0,.55)";
        ctx.strokeRect(x - body / 2, top, body, height);
      }
    }
  }

  // Recorded liquidation events: circle area proportional to USD; red = longs, green = shorts liquidated.
  function drawLiquidations(ctx, data, layout) {
    var prints = data.liquidations || [];
    if (!prints.length) return;
    var biggest = 0;
    for (var i = 0; i < prints.length; i++) biggest = Math.max(biggest, prints[i][2]);
    for (var j = 0; j < prints.length; j++) {
      var p = prints[j];
      var r = 2 + 8 * Math.sqrt(p[2] / biggest);
      ctx.beginPath();
      ctx.arc(layout.x(p[0]), layout.y(p[1]), r, 0, 2 * Math.PI);
      ctx.fillStyle = p[3] === "long" ? "rgba(248,81,73,.55)" : "rgba(63,185,80,.55)";
      ctx.fill();
      ctx.strokeStyle = "rgba(230,237,243,.8)";
      ctx.lineWidth = 0.75;
      ctx.stroke();
    }
  }

  function drawCurrentPrice(ctx, data, layout) {
    if (data.current_price == null) return;
    var y = Math.round(layout.y(data.current_price)) + 0.5;
    ctx.strokeStyle = "rgba(230,237,243,.75)";
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(layout.plot.x, y);
    ctx.lineTo(layout.plot.x + layout.plot.w, y);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function niceStep(span, target) {
    var raw = span / target;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= raw) return steps[i] * mag;
    return 10 * mag;
  }

  function drawPriceAxis(ctx, data, layout, cssW) {
    var plot = layout.plot;
    var lo = data.price_lo;
    var hi = data.price_hi;
    var step = niceStep(hi - lo, Math.max(3, Math.floor(plot.h / 55)));
    var decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    var left = plot.x + plot.w;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillStyle = "#8b949e";
    ctx.strokeStyle = "#30363d";
    for (var p = Math.ceil(lo / step) * step; p <= hi; p += step) {
      var y = Math.round(layout.y(p)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + 4, y);
      ctx.stroke();
      ctx.fillText(price(p, decimals), left + 6, y);
    }
    if (data.current_price != null) {
      var cy = layout.y(data.current_price);
      var label = price(data.current_price, priceDecimals(data.current_price));
      ctx.fillStyle = "#e6edf3";
      ctx.fillRect(left, cy - 8, cssW - left, 16);
      ctx.fillStyle = BACKGROUND;
      ctx.font = "bold 11px system-ui, sans-serif";
      ctx.fillText(label, left + 4, cy);
    }
    ctx.fillStyle = "#6e7681";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText((data.units && data.units.price) || "", left + 6, 2);
  }

  function timeLabel(ms, step) {
    var d = new Date(ms);
    var midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
    if (step >= DAY || midnight) return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
    return pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
  }

  function drawTimeAxis(ctx, data, layout) {
    var plot = layout.plot;
    var start = data.times[0];
    var end = start + data.times.length * data.bar_seconds * 1000;
    var perTick = 95; // px per label
    var step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if ((TIME_STEPS[i] / (end - start)) * plot.w >= perTick) {
        step = TIME_STEPS[i];
        break;
      }
    }
    var ticks = [];
    if ((step / (end - start)) * plot.w < perTick) {
      // longer than two weeks a label: first day of each month (or every other month)
      var d = new Date(start);
      var month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      var every = ((31 * DAY) / (end - start)) * plot.w >= perTick ? 1 : 2;
      for (var n = 0; month < end; n++) {
        if (n % every === 0) ticks.push(month);
        var md = new Date(month);
        month = Date.UTC(md.getUTCFullYear(), md.getUTCMonth() + 1, 1);
      }
      step = 30 * DAY;
    } else {
      for (var t = Math.ceil(start / step) * step; t < end; t += step) ticks.push(t);
    }
    var y = plot.y + plot.h;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "center";
    ctx.fillStyle = "#8b949e";
    ctx.strokeStyle = "#30363d";
    for (var k = 0; k < ticks.length; k++) {
      var x = Math.round(layout.x(ticks[k])) + 0.5;
      if (x < plot.x + 20 || x > plot.x + plot.w - 20) continue;
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x, y + 4);
      ctx.stroke();
      ctx.fillText(timeLabel(ticks[k], step), x, y + 7);
    }
    ctx.textAlign = "left";
    ctx.fillStyle = "#6e7681";
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillText("UTC", plot.x + plot.w + 6, y + 7);
  }

  // ---- tooltip ------------------------------------------------------------------------------

  function hover(state, event) {
    var layout = state.layout;
    var tip = state.tooltip;
    if (!layout || !tip) return;
    var rect = state.canvas.getBoundingClientRect();
    var mx = event.clientX - rect.left;
    var my = event.clientY - rect.top;
    var plot = layout.plot;
    var data = state.data;
    if (mx < plot.x || mx >= plot.x + plot.w || my < plot.y || my >= plot.y + plot.h) {
      tip.hidden = true;
      return;
    }
    var bins = data.prices.length;
    var col = Math.min(data.times.length - 1, Math.floor((mx - plot.x) / layout.colW));
    var bin = Math.min(bins - 1, Math.max(0, Math.floor(((plot.y + plot.h - my) / plot.h) * bins)));
    var binW = (data.price_hi - data.price_lo) / bins;
    var quote = (data.units && data.units.price) || "";
    var decimals = priceDecimals(data.prices[bin]);
    var long = data.long[col][bin];
    var short = data.short[col][bin];
    var lines = [
      "<strong>" + utcStamp(data.times[col]) + "</strong> <span class=\"muted\">+ " + duration(data.bar_seconds) + "</span>",
      "price " + price(data.price_lo + bin * binW, decimals) + " – " + price(data.price_lo + (bin + 1) * binW, decimals) + " " + quote,
      "<span class=\"long\">longs " + usd(long) + "</span> · <span class=\"short\">shorts " + usd(short) + "</span>",
    ];
    var c = data.candles[col];
    if (c) {
      var cd = priceDecimals(c[4]);
      lines.push("<span class=\"muted\">O " + price(c[1], cd) + " H " + price(c[2], cd) + " L " + price(c[3], cd) + " C " + price(c[4], cd) + "</span>");
    }
    tip.innerHTML = lines.join("<br>");
    tip.hidden = false;
    var left = mx + 14;
    if (left + tip.offsetWidth > plot.x + plot.w) left = mx - 14 - tip.offsetWidth;
    var top = my + 14;
    if (top + tip.offsetHeight > plot.y + plot.h) top = my - 14 - tip.offsetHeight;
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = Math.max(0, top) + "px";
  }

  // ---- wiring -------------------------------------------------------------------------------

  function boot() {
    init(document);
    if (window.htmx) {
      // Fires for content htmx swaps in (the timeframe tabs) and for restored history snapshots.
      window.htmx.onLoad(init);
      document.body.addEventListener("htmx:historyRestore", function () {
        init(document);
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
