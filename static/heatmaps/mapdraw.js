/* liqplatform heat map: formatting, grid decoding and the drawing of one view of a stored map.
 *
 * Pure functions over (canvas context, data, view); heatmap.js owns the state and the events.
 * A view is the visible window: times t0..t1 (UTC ms) × prices p0..p1, drawn into the plot box.
 * Exposed as window.LiqDraw.
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
  var UP = "#3fb950";
  var DOWN = "#f85149";
  var MINUTE = 60000;
  var HOUR = 60 * MINUTE;
  var DAY = 24 * HOUR;
  var TIME_STEPS = [5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // One colour per leverage tier, low leverage (far from price) to high (close to price).
  var TIER_COLOURS = ["#1f6feb", "#8957e5", "#db61a2", "#f0883e", "#e3b341", "#3fb950", "#79c0ff"];

  var LUT = (function () {
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
  })();

  // ---- formatting -------------------------------------------------------------------------

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function utcStamp(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate()) + " " +
      pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + " UTC";
  }

  // The signed-in user's display zone (<body data-time-zone>), else the browser's own.
  function displayZone() {
    var zone = document.body && document.body.dataset.timeZone;
    if (zone && zone !== "UTC") return zone;
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    } catch (error) {
      return "UTC";
    }
  }

  var zoneFormats = {};
  function zoneStamp(ms, zone) {
    var fmt = zoneFormats[zone];
    if (!fmt) {
      try {
        fmt = new Intl.DateTimeFormat("en-CA", {
          timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
        });
      } catch (error) {
        return utcStamp(ms);
      }
      zoneFormats[zone] = fmt;
    }
    return fmt.format(new Date(ms)).replace(",", "") + " " + zone;
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

  // ---- the stored grid ------------------------------------------------------------------------

  // The API's cells=packed form (heatmaps/exports.py packed_grid): zlib'd uint16 codes delta-coded along time.
  // Resolves to a Float64Array of USD, index column * bins + bin.
  function decodePacked(packed, width, bins) {
    if (!packed) return Promise.resolve(new Float64Array(width * bins));
    var raw = atob(packed.data);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) {
      var codes = new Uint16Array(buffer);
      var n = width * bins;
      if (codes.length !== n) throw new Error("grid has " + codes.length + " cells, expected " + n);
      for (var j = bins; j < n; j++) codes[j] = (codes[j] + codes[j - bins]) & 0xffff;
      var out = new Float64Array(n);
      if (!(packed.scale > 0)) return out;
      var floor = packed.scale * packed.floor_ratio;
      var step = Math.log(1 / packed.floor_ratio) / packed.levels;
      for (var k = 0; k < n; k++) if (codes[k]) out[k] = floor * Math.exp((codes[k] - 1) * step);
      return out;
    });
  }

  // One pixel per cell, price bins bottom-up. Cells below minUsd are not drawn; fullUsd is full intensity.
  function buildImage(data, grid, opts) {
    var width = data.width;
    var bins = data.bins;
    var image = opts.reuse || document.createElement("canvas");
    image.width = width;
    image.height = bins;
    var ctx = image.getContext("2d");
    var pixels = ctx.createImageData(width, bins);
    var px = pixels.data;
    var scale = opts.fullUsd > 0 ? 255 / opts.fullUsd : 0;
    var min = opts.minUsd || 0;
    var long = opts.side === "short" ? null : grid.long;
    var short = opts.side === "long" ? null : grid.short;
    for (var x = 0; x < width; x++) {
      var base = x * bins;
      for (var b = 0; b < bins; b++) {
        var v = (long ? long[base + b] : 0) + (short ? short[base + b] : 0);
        var level = v < min || v <= 0 ? 0 : Math.min(255, Math.round(v * scale));
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

  // ---- the map --------------------------------------------------------------------------------

  function drawMap(ctx, data, image, layout) {
    var plot = layout.plot;
    var barMs = data.bar_seconds * 1000;
    var binW = (data.price_hi - data.price_lo) / data.bins;
    var sx = (layout.t0 - data.times[0]) / barMs;
    var sw = (layout.t1 - layout.t0) / barMs;
    var sy = (data.price_hi - layout.p1) / binW;
    var sh = (layout.p1 - layout.p0) / binW;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(image, sx, sy, sw, sh, plot.x, plot.y, plot.w, plot.h);
  }

  function drawCandles(ctx, data, layout) {
    var barMs = data.bar_seconds * 1000;
    var first = Math.max(0, Math.floor((layout.t0 - data.times[0]) / barMs) - 1);
    var last = Math.min(data.candles.length - 1, Math.ceil((layout.t1 - data.times[0]) / barMs) + 1);
    for (var i = first; i <= last; i++) {
      if (data.candles[i]) drawCandle(ctx, data.candles[i], data.times[i] + barMs / 2, layout);
    }
    // The forming bar (live ticks), fainter: it is not closed yet.
    if (data.forming) {
      ctx.globalAlpha = 0.6;
      drawCandle(ctx, data.forming, data.forming[0] + barMs / 2, layout);
      ctx.globalAlpha = 1;
    }
  }

  function drawCandle(ctx, c, centre, layout) {
    var colW = layout.colW;
    var body = Math.max(1, colW * 0.6);
    var x = layout.x(centre);
    var colour = c[4] >= c[1] ? UP : DOWN;
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

  // Recorded liquidation events: circle area proportional to USD; red = longs, green = shorts liquidated.
  function drawLiquidations(ctx, data, layout) {
    var prints = data.liquidations || [];
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
    var step = niceStep(layout.p1 - layout.p0, Math.max(3, Math.floor(plot.h / 55)));
    var decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    var left = plot.x + plot.w;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillStyle = "#8b949e";
    ctx.strokeStyle = "#30363d";
    for (var p = Math.ceil(layout.p0 / step) * step; p <= layout.p1; p += step) {
      var y = Math.round(layout.y(p)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + 4, y);
      ctx.stroke();
      ctx.fillText(price(p, decimals), left + 6, y);
    }
    var cp = data.current_price;
    if (cp != null && cp >= layout.p0 && cp <= layout.p1) {
      var cy = layout.y(cp);
      ctx.fillStyle = "#e6edf3";
      ctx.fillRect(left, cy - 8, cssW - left, 16);
      ctx.fillStyle = BACKGROUND;
      ctx.font = "bold 11px system-ui, sans-serif";
      ctx.fillText(price(cp, priceDecimals(cp)), left + 4, cy);
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

  function timeTicks(start, end, width) {
    var perTick = 95; // px per label
    for (var i = 0; i < TIME_STEPS.length; i++) {
      var step = TIME_STEPS[i];
      if ((step / (end - start)) * width >= perTick) {
        var ticks = [];
        for (var t = Math.ceil(start / step) * step; t < end; t += step) ticks.push(t);
        return { ticks: ticks, step: step };
      }
    }
    // longer than two weeks a label: first day of each month (or every other month)
    var months = [];
    var d = new Date(start);
    var month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    var every = ((31 * DAY) / (end - start)) * width >= perTick ? 1 : 2;
    for (var n = 0; month < end; n++) {
      if (n % every === 0) months.push(month);
      var md = new Date(month);
      month = Date.UTC(md.getUTCFullYear(), md.getUTCMonth() + 1, 1);
    }
    return { ticks: months, step: 30 * DAY };
  }

  function drawTimeAxis(ctx, layout) {
    var plot = layout.plot;
    var scale = timeTicks(layout.t0, layout.t1, plot.w);
    var y = plot.y + plot.h;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "center";
    ctx.fillStyle = "#8b949e";
    ctx.strokeStyle = "#30363d";
    for (var k = 0; k < scale.ticks.length; k++) {
      var x = Math.round(layout.x(scale.ticks[k])) + 0.5;
      if (x < plot.x + 20 || x > plot.x + plot.w - 20) continue;
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x, y + 4);
      ctx.stroke();
      ctx.fillText(timeLabel(scale.ticks[k], scale.step), x, y + 7);
    }
    ctx.textAlign = "left";
    ctx.fillStyle = "#6e7681";
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillText("UTC", plot.x + plot.w + 6, y + 7);
  }

  // ---- the liquidation-map chart beside the map, on the same price axis ---------------------

  // Stacked bars per leverage tier at the newest column (longs below the price, shorts above) and the
  // cumulative USD walking away from the price as a line, each on its own USD scale.
  function drawLiqMap(ctx, data, layout, box, side) {
    var lm = data.liquidation_map || {};
    var bins = data.bins;
    var binW = (data.price_hi - data.price_lo) / bins;
    var tiersL = lm.tier_long || [];
    var tiersS = lm.tier_short || [];
    var cp = lm.price != null ? lm.price : data.current_price;
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(box.x, 0, box.w, box.total);
    var useLong = side !== "short";
    var useShort = side !== "long";
    var totals = new Float64Array(bins);
    var maxBar = 0;
    // Levels the live price has traded through since the map was computed: liquidated, so left out.
    var traded = data.traded;
    var sweptUsd = 0;
    for (var b = 0; b < bins; b++) {
      var centre = data.price_lo + (b + 0.5) * binW;
      var sum = 0;
      var tiers = centre < cp ? (useLong ? tiersL : []) : useShort ? tiersS : [];
      for (var t = 0; t < tiers.length; t++) sum += tiers[t][b] || 0;
      if (traded && centre >= traded[0] && centre <= traded[1]) {
        sweptUsd += sum;
        sum = 0;
      }
      totals[b] = sum;
      if (centre >= layout.p0 && centre <= layout.p1) maxBar = Math.max(maxBar, sum);
    }
    var h = Math.max(1, (binW / (layout.p1 - layout.p0)) * layout.plot.h);
    if (maxBar > 0) {
      for (var bb = 0; bb < bins; bb++) {
        if (!totals[bb]) continue;
        var c = data.price_lo + (bb + 0.5) * binW;
        if (c < layout.p0 || c > layout.p1) continue;
        var y = layout.y(c + binW / 2);
        var x = box.x;
        var list = c < cp ? tiersL : tiersS;
        for (var k = 0; k < list.length; k++) {
          var w = ((list[k][bb] || 0) / maxBar) * (box.w - 4);
          if (w <= 0) continue;
          ctx.fillStyle = TIER_COLOURS[k % TIER_COLOURS.length];
          ctx.fillRect(x, y, w, Math.max(1, h - 0.5));
          x += w;
        }
      }
    }
    var maxCum = Math.max(useLong ? lm.total_long || 0 : 0, useShort ? lm.total_short || 0 : 0);
    if (maxCum > 0) {
      [["cum_long", useLong, "#ff7b72"], ["cum_short", useShort, "#7ee787"]].forEach(function (spec) {
        var series = lm[spec[0]];
        if (!series || !spec[1]) return;
        ctx.strokeStyle = spec[2];
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        var started = false;
        for (var i = 0; i < series.length; i++) {
          if (!series[i]) continue;
          var py = layout.y(data.price_lo + (i + 0.5) * binW);
          var px = box.x + (series[i] / maxCum) * (box.w - 4);
          if (started) ctx.lineTo(px, py);
          else ctx.moveTo(px, py);
          started = true;
        }
        ctx.stroke();
      });
    }
    if (cp != null && cp >= layout.p0 && cp <= layout.p1) {
      ctx.strokeStyle = "rgba(230,237,243,.75)";
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(box.x, Math.round(layout.y(cp)) + 0.5);
      ctx.lineTo(box.x + box.w, Math.round(layout.y(cp)) + 0.5);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    drawMeasured(ctx, data, layout, box, cp, maxBar, binW);
    if (traded && traded[1] > traded[0]) {
      var top = layout.y(Math.min(traded[1], layout.p1));
      var bottom = layout.y(Math.max(traded[0], layout.p0));
      if (bottom > top) {
        ctx.fillStyle = "rgba(139,148,158,.18)";
        ctx.fillRect(box.x, top, box.w, bottom - top);
      }
    }
    ctx.fillStyle = "#8b949e";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    ctx.fillText("bar " + usd(maxBar) + " · cum " + usd(maxCum), box.x + 2, 2);
    if (sweptUsd > 0) ctx.fillText("swept since computed " + usd(sweptUsd), box.x + 2, 14);
    ctx.fillText("liquidation map", box.x + 2, layout.plot.y + layout.plot.h + 7);
    return sweptUsd;
  }

  // Measured positions (Hyperliquid, real liquidation prices): white outlines on the same USD scale as
  // the modelled bars, longs below the price and shorts above, when the bins line up with the map's.
  function drawMeasured(ctx, data, layout, box, cp, maxBar, binW) {
    var m = data.measured;
    if (!m || !maxBar || m.bins !== data.bins || m.price_lo !== data.price_lo || m.price_hi !== data.price_hi) return;
    var h = Math.max(1, (binW / (layout.p1 - layout.p0)) * layout.plot.h);
    ctx.strokeStyle = "rgba(255,255,255,.9)";
    ctx.lineWidth = 1;
    for (var b = 0; b < m.bins; b++) {
      var c = data.price_lo + (b + 0.5) * binW;
      var usdAt = c < cp ? m.long_usd[b] : m.short_usd[b];
      if (!usdAt || c < layout.p0 || c > layout.p1) continue;
      var w = Math.min(box.w - 4, (usdAt / maxBar) * (box.w - 4));
      ctx.strokeRect(box.x + 0.5, layout.y(c + binW / 2) + 0.5, Math.max(1, w), Math.max(1, h - 1));
    }
  }

  window.LiqDraw = {
    BACKGROUND: BACKGROUND,
    TIER_COLOURS: TIER_COLOURS,
    usd: usd,
    price: price,
    priceDecimals: priceDecimals,
    duration: duration,
    utcStamp: utcStamp,
    zoneStamp: zoneStamp,
    displayZone: displayZone,
    decodePacked: decodePacked,
    buildImage: buildImage,
    drawMap: drawMap,
    drawCandles: drawCandles,
    drawLiquidations: drawLiquidations,
    drawCurrentPrice: drawCurrentPrice,
    drawPriceAxis: drawPriceAxis,
    drawTimeAxis: drawTimeAxis,
    drawLiqMap: drawLiqMap,
  };
})();
