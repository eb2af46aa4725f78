/* liqplatform heat map: one stored map on a <canvas data-heatmap-src="/api/v1/assets/…/heatmap/?…&cells=packed">
 * (the public API's map, its grids packed as stored), with zoom and pan,
 * a crosshair shared with the panels below (panels.js, uPlot), the liquidation-map chart beside it,
 * the intensity handles (?min=&full=) and keyboard navigation between timeframes.
 * Drawing is in mapdraw.js (window.LiqDraw). Re-initialises whenever htmx loads new content.
 *
 * Overlays (e.g. a signed-in trader's own levels) hook in through events on the canvas, so this file
 * needs to know nothing about them: `liq:map-drawn` after every draw (detail: the 2D context in CSS
 * pixels, the plot box, priceToY/timeToX/yToPrice/xToTime — all through the current zoom — and the
 * visible price and time range), `liq:map-click` for a click inside the plot (detail: price, time in
 * UTC ms, x/y in CSS pixels), and dispatching `liq:map-redraw` on the canvas asks for a fresh draw.
 */
(function () {
  "use strict";

  var D = window.LiqDraw;
  var AXIS_RIGHT = 74; // px for the price axis
  var AXIS_BOTTOM = 26; // px for the time axis
  var TOP = 16; // px above the plot for the price unit
  var MIN_COLUMNS = 6; // zoom stops at this many columns …
  var MIN_BINS = 8; // … and this many price bins
  var SLIDER = 1000; // range inputs run 0..SLIDER on a log scale of USD

  // ---- set-up -------------------------------------------------------------------------------

  function init(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var canvases = scope.querySelectorAll("canvas[data-heatmap-src]");
    if (scope.matches && scope.matches("canvas[data-heatmap-src]")) canvases = [scope];
    for (var i = 0; i < canvases.length; i++) setup(canvases[i]);
  }

  // The API's field names → the ones the drawing code (here, mapdraw.js, panels.js) reads. The API
  // lists recorded liquidations of both sides whatever `side` asks; the page shows the chosen side's.
  function fromApi(body, side) {
    return Object.assign({}, body, {
      long_packed: body.cells.long,
      short_packed: body.cells.short,
      colour_scale_usd: body.scale.map_full_usd,
      liquidations: (body.liquidations || []).filter(function (p) {
        return side === "both" || p[3] === side;
      }),
    });
  }

  function setup(canvas) {
    // A JS property, not an attribute: history snapshots copy attributes but not pixels.
    if (canvas.__heatmap) return;
    var wrap = canvas.parentElement;
    var section = canvas.closest("#heatmap-panel") || document;
    var state = {
      canvas: canvas,
      section: section,
      tooltip: wrap.querySelector(".map-tooltip"),
      status: wrap.querySelector(".map-status"),
      crossX: wrap.querySelector(".crosshair-x"),
      crossY: wrap.querySelector(".crosshair-y"),
      axisPrice: wrap.querySelector(".axis-price"),
      axisTime: wrap.querySelector(".axis-time"),
      liqCanvas: section.querySelector("canvas.liqmap-chart"),
      liqTip: section.querySelector(".liqmap-tooltip"),
      exports: section.querySelectorAll("a[data-export]"),
      panelsBox: section.querySelector(".panels"),
      side: canvas.dataset.side || "both",
      minUsd: parseFloat(canvas.dataset.minUsd) || 0,
      fullUsd: parseFloat(canvas.dataset.fullUsd) || 0,
      data: null,
      grid: null,
      image: null,
      view: null,
      layout: null,
      drawn: false,
    };
    canvas.__heatmap = state;
    state.reload = function () {
      return load(state);
    };
    load(state);
  }

  // Fetch the map and draw it: once at set-up, and again when live.js hears of a new version (then
  // with If-None-Match, so an unchanged map costs a 304). A reload keeps the zoom unless it showed
  // the whole map, in which case the new whole map (one more column) is shown.
  function load(state) {
    var canvas = state.canvas;
    var headers = { Accept: "application/json" };
    if (state.etag) headers["If-None-Match"] = state.etag;
    return fetch(canvas.dataset.heatmapSrc, { headers: headers, cache: state.etag ? "no-cache" : "default" })
      .then(function (response) {
        if (response.status === 304) return null;
        if (!response.ok) throw new Error("HTTP " + response.status);
        state.etag = response.headers.get("ETag");
        return response.json();
      })
      .then(function (body) {
        if (!body) return false;
        var arrived = performance.now();
        var data = fromApi(body, state.side);
        return Promise.all([
          D.decodePacked(data.long_packed, data.width, data.bins),
          D.decodePacked(data.short_packed, data.width, data.bins),
        ]).then(function (grids) {
          var first = !state.data;
          var whole = first || sameView(state.view, fullView(state.data, state.live));
          state.data = data;
          state.grid = { long: grids[0], short: grids[1] };
          state.autoFull = data.colour_scale_usd;
          if (whole) state.view = fullView(data, state.live);
          if (first) zoomFromUrl(state);
          state.image = D.buildImage(data, state.grid, imageOptions(state));
          if (state.status) state.status.textContent = "";
          if (!first && state.panelsBox) state.panelsBox.textContent = "";
          draw(state);
          buildPanels(state);
          // From the data's arrival to the map, the liquidation map and the panels on screen.
          state.drawMs = performance.now() - arrived;
          canvas.dataset.drawMs = state.drawMs.toFixed(1);
          canvas.dataset.columns = String(data.width);
          canvas.dataset.lastTime = String(data.times[data.times.length - 1]);
          canvas.dispatchEvent(new CustomEvent("liq:map-loaded", { bubbles: true, detail: body }));
          clusterMix(state);
          if (first) wire(state);
          return true;
        });
      })
      .catch(function (error) {
        console.error("heat map", canvas.dataset.heatmapSrc, error);
        if (state.status) state.status.textContent = "Could not load the map data (" + error.message + ").";
        return false;
      });
  }

  function sameView(a, b) {
    return a && b && a.t0 === b.t0 && a.t1 === b.t1 && a.p0 === b.p0 && a.p1 === b.p1;
  }

  // ---- live updates (live.js) ---------------------------------------------------------------

  // A trade or mark price: the price line moves and the newest column's candle takes it in.
  function liveTick(state, timeMs, price) {
    var data = state.data;
    if (!data || !isFinite(price)) return;
    data.current_price = price;
    var last = data.times.length - 1;
    var barMs = data.bar_seconds * 1000;
    var c = data.candles[last];
    var formingStart = data.times[last] + barMs;
    if (c && timeMs >= data.times[last] && timeMs < formingStart) {
      c[2] = Math.max(c[2], price);
      c[3] = Math.min(c[3], price);
      c[4] = price;
    } else if (timeMs >= formingStart) {
      // The bar after the map's last one, forming: opened at the last close, drawn in the live column.
      var t = formingStart + Math.floor((timeMs - formingStart) / barMs) * barMs;
      var f = data.forming;
      if (!f || f[0] !== t) f = data.forming = [t, c ? c[4] : price, price, price, price];
      f[2] = Math.max(f[2], price);
      f[3] = Math.min(f[3], price);
      f[4] = price;
      state.canvas.dataset.formingTime = String(t);
    }
    // What price has traded through since the map was computed: the liquidation map draws it swept.
    var lm = data.liquidation_map || {};
    var from = lm.price != null ? lm.price : price;
    data.traded = data.traded || [from, from];
    data.traded[0] = Math.min(data.traded[0], price);
    data.traded[1] = Math.max(data.traded[1], price);
    state.canvas.dataset.livePrice = String(price);
    if (state.drawn) draw(state);
  }

  // A recorded liquidation: one more circle (the API's [time, price, usd, side]), if its side is shown.
  function liveLiquidation(state, p) {
    if (!state.data || (state.side !== "both" && p[3] !== state.side)) return;
    state.data.liquidations.push(p);
    if (state.drawn) draw(state);
  }

  function imageOptions(state) {
    return { side: state.side, minUsd: state.minUsd, fullUsd: state.fullUsd || state.autoFull, reuse: state.image };
  }

  // While live, the whole view keeps one column right of the map for the forming bar.
  function fullView(data, live) {
    var t0 = data.times[0];
    var columns = data.width + (live ? 1 : 0);
    return { t0: t0, t1: t0 + columns * data.bar_seconds * 1000, p0: data.price_lo, p1: data.price_hi };
  }

  function buildPanels(state) {
    if (!state.panelsBox || !window.LiqPanels) return;
    state.panels = window.LiqPanels.create(state.panelsBox, state.data, state.canvas.clientWidth, state.view, function (left) {
      showCrosshair(state, left == null || left < 0 ? null : left, null);
    });
  }

  // ---- drawing ------------------------------------------------------------------------------

  function makeLayout(state, cssW, cssH) {
    var v = state.view;
    var plot = { x: 0, y: TOP, w: cssW - AXIS_RIGHT, h: cssH - TOP - AXIS_BOTTOM };
    var barMs = state.data.bar_seconds * 1000;
    return {
      plot: plot,
      t0: v.t0,
      t1: v.t1,
      p0: v.p0,
      p1: v.p1,
      colW: (plot.w * barMs) / (v.t1 - v.t0),
      x: function (ms) {
        return plot.x + ((ms - v.t0) / (v.t1 - v.t0)) * plot.w;
      },
      y: function (p) {
        return plot.y + ((v.p1 - p) / (v.p1 - v.p0)) * plot.h;
      },
      xToTime: function (x) {
        return v.t0 + ((x - plot.x) / plot.w) * (v.t1 - v.t0);
      },
      yToPrice: function (y) {
        return v.p1 - ((y - plot.y) / plot.h) * (v.p1 - v.p0);
      },
    };
  }

  function sizeCanvas(canvas) {
    var cssW = canvas.clientWidth;
    var cssH = canvas.clientHeight;
    if (!cssW || !cssH) return null;
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx: ctx, w: cssW, h: cssH };
  }

  function draw(state) {
    var sized = sizeCanvas(state.canvas);
    if (!sized) return;
    var ctx = sized.ctx;
    var data = state.data;
    var layout = makeLayout(state, sized.w, sized.h);
    state.layout = layout;
    ctx.fillStyle = D.BACKGROUND;
    ctx.fillRect(0, 0, sized.w, sized.h);
    D.drawMap(ctx, data, state.image, layout);
    ctx.save();
    ctx.beginPath();
    ctx.rect(layout.plot.x, layout.plot.y, layout.plot.w, layout.plot.h);
    ctx.clip();
    D.drawCandles(ctx, data, layout);
    D.drawLiquidations(ctx, data, layout);
    D.drawCurrentPrice(ctx, data, layout);
    ctx.restore();
    D.drawPriceAxis(ctx, data, layout, sized.w);
    D.drawTimeAxis(ctx, layout);
    if (state.liqCanvas) {
      var liq = sizeCanvas(state.liqCanvas);
      if (liq) {
        var swept = D.drawLiqMap(liq.ctx, data, layout, { x: 0, w: liq.w, total: liq.h }, state.side);
        state.canvas.dataset.sweptUsd = String(Math.round(swept || 0));
      }
    }
    if (state.panels) state.panels.setView(state.view.t0, state.view.t1);
    state.drawn = true;
    state.canvas.dataset.view = [state.view.t0, state.view.t1, state.view.p0, state.view.p1].join(",");
    updateExports(state);
    rememberZoom(state);
    announceDrawn(state, ctx);
  }

  // The PNG and CSV buttons export the map as shown: the zoomed window (whole columns and bins) and the
  // handles' intensity, on top of the timeframe and side the server put in their links.
  function updateExports(state) {
    if (!state.exports || !state.exports.length) return;
    var whole = sameView(state.view, fullView(state.data, state.live));
    for (var i = 0; i < state.exports.length; i++) {
      var a = state.exports[i];
      var u = new URL(a.getAttribute("href"), window.location.href);
      ["start", "end", "price_low", "price_high"].forEach(function (k) {
        u.searchParams.delete(k);
      });
      if (!whole) {
        u.searchParams.set("start", String(Math.floor(state.view.t0)));
        u.searchParams.set("end", String(Math.ceil(state.view.t1)));
        u.searchParams.set("price_low", String(state.view.p0));
        u.searchParams.set("price_high", String(state.view.p1));
      }
      if (state.minUsd) u.searchParams.set("min_usd", String(state.minUsd));
      else u.searchParams.delete("min_usd");
      if (a.dataset.export === "png") {
        if (state.fullUsd) u.searchParams.set("full", String(state.fullUsd));
        else u.searchParams.delete("full");
      }
      a.setAttribute("href", u.pathname + u.search);
    }
  }

  // The zoomed window rides in the URL as zoom=t0,t1,p0,p1 (UTC ms, prices), so a shared link, a
  // reload and the panel swaps that keep the map's axes (side, leverage, exchanges, moment; not the
  // timeframe tabs, whose window differs) show the same window (htmx:configRequest in boot adds it).
  function zoomValue(state) {
    if (!state.data || sameView(state.view, fullView(state.data, state.live))) return "";
    var v = state.view;
    return [Math.floor(v.t0), Math.ceil(v.t1), Number(v.p0.toPrecision(9)), Number(v.p1.toPrecision(9))].join(",");
  }

  // A link to this map with other settings ("?tf=…"), not to another page (the switcher's model settings).
  function sameMapLink(a) {
    return (a.getAttribute("href") || "").charAt(0) === "?";
  }

  function rememberZoom(state) {
    var u = new URL(window.location.href);
    var value = zoomValue(state);
    if (value) u.searchParams.set("zoom", value);
    else u.searchParams.delete("zoom");
    if (u.search !== window.location.search) window.history.replaceState(window.history.state, "", u.pathname + u.search);
    // The plain links too (opened in a new tab, or without htmx).
    state.section.querySelectorAll("nav.sides a, .liqmap-legend a, a.moment-step, a.explore-clear").forEach(function (a) {
      if (!sameMapLink(a)) return;
      var next = new URL(a.getAttribute("href"), window.location.href);
      if (value) next.searchParams.set("zoom", value);
      else next.searchParams.delete("zoom");
      a.setAttribute("href", next.search);
    });
  }

  function zoomFromUrl(state) {
    var raw = new URL(window.location.href).searchParams.get("zoom");
    var parts = raw ? raw.split(",").map(Number) : [];
    if (parts.length !== 4 || !parts.every(isFinite) || parts[0] >= parts[1] || parts[2] >= parts[3]) return;
    state.view = clampView(state, { t0: parts[0], t1: parts[1], p0: parts[2], p1: parts[3] });
  }

  function redrawImage(state) {
    state.image = D.buildImage(state.data, state.grid, imageOptions(state));
    draw(state);
  }

  // ---- overlay hooks ------------------------------------------------------------------------

  function overlayGeometry(state, ctx) {
    var l = state.layout;
    return {
      ctx: ctx,
      plot: l.plot,
      priceLo: l.p0,
      priceHi: l.p1,
      timeStart: l.t0,
      timeEnd: l.t1,
      quote: (state.data.units && state.data.units.price) || "",
      priceToY: l.y,
      timeToX: l.x,
      yToPrice: l.yToPrice,
      xToTime: l.xToTime,
    };
  }

  function announceDrawn(state, ctx) {
    state.geometry = overlayGeometry(state, ctx);
    ctx.save();
    state.canvas.dispatchEvent(new CustomEvent("liq:map-drawn", { bubbles: true, detail: state.geometry }));
    ctx.restore();
  }

  function pointer(state, event) {
    var rect = state.canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  function inPlot(plot, p) {
    return p.x >= plot.x && p.x < plot.x + plot.w && p.y >= plot.y && p.y < plot.y + plot.h;
  }

  function click(state, event) {
    var g = state.geometry;
    if (!g || state.dragged) return;
    var p = pointer(state, event);
    if (!inPlot(g.plot, p)) return;
    if (state.tooltip) state.tooltip.hidden = true;
    state.canvas.dispatchEvent(
      new CustomEvent("liq:map-click", {
        bubbles: true,
        detail: { price: g.yToPrice(p.y), time: Math.round(g.xToTime(p.x)), x: p.x, y: p.y, quote: g.quote },
      })
    );
  }

  // ---- zoom and pan -------------------------------------------------------------------------

  function clampView(state, v) {
    var full = fullView(state.data);
    var barMs = state.data.bar_seconds * 1000;
    var binW = (state.data.price_hi - state.data.price_lo) / state.data.bins;
    var tSpan = Math.min(full.t1 - full.t0, Math.max(MIN_COLUMNS * barMs, v.t1 - v.t0));
    var pSpan = Math.min(full.p1 - full.p0, Math.max(MIN_BINS * binW, v.p1 - v.p0));
    var t0 = Math.min(Math.max(v.t0, full.t0), full.t1 - tSpan);
    var p0 = Math.min(Math.max(v.p0, full.p0), full.p1 - pSpan);
    return { t0: t0, t1: t0 + tSpan, p0: p0, p1: p0 + pSpan };
  }

  // factor < 1 zooms in around the anchor (a time and a price); null axes stay as they are.
  function zoom(state, factor, anchorT, anchorP) {
    var v = state.view;
    var next = { t0: v.t0, t1: v.t1, p0: v.p0, p1: v.p1 };
    if (anchorT != null) {
      next.t0 = anchorT - (anchorT - v.t0) * factor;
      next.t1 = anchorT + (v.t1 - anchorT) * factor;
    }
    if (anchorP != null) {
      next.p0 = anchorP - (anchorP - v.p0) * factor;
      next.p1 = anchorP + (v.p1 - anchorP) * factor;
    }
    setView(state, next);
  }

  function setView(state, v) {
    state.view = clampView(state, v);
    draw(state);
  }

  function resetView(state) {
    state.view = fullView(state.data);
    draw(state);
  }

  function wheel(state, event) {
    var l = state.layout;
    var p = pointer(state, event);
    if (!l || p.y < l.plot.y || p.y > l.plot.y + l.plot.h) return;
    event.preventDefault();
    var factor = Math.pow(1.0015, event.deltaY);
    var overPriceAxis = p.x >= l.plot.x + l.plot.w;
    // Over the price axis, or with Shift: price only. Otherwise time, and price too with Ctrl/⌘.
    var both = event.ctrlKey || event.metaKey;
    var t = overPriceAxis || event.shiftKey ? null : l.xToTime(p.x);
    var pr = overPriceAxis || event.shiftKey || both ? l.yToPrice(p.y) : null;
    zoom(state, factor, t, pr);
  }

  function startDrag(state, event) {
    if (event.button !== 0 || !state.layout) return;
    var start = pointer(state, event);
    var view = state.view;
    var plot = state.layout.plot;
    state.dragged = false;
    function move(e) {
      var p = pointer(state, e);
      var dx = p.x - start.x;
      var dy = p.y - start.y;
      if (!state.dragged && Math.abs(dx) + Math.abs(dy) < 4) return;
      state.dragged = true;
      var dt = (-dx / plot.w) * (view.t1 - view.t0);
      var dp = (dy / plot.h) * (view.p1 - view.p0);
      setView(state, { t0: view.t0 + dt, t1: view.t1 + dt, p0: view.p0 + dp, p1: view.p1 + dp });
    }
    function up() {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      // the click that ends a drag is not a click on the map
      setTimeout(function () {
        state.dragged = false;
      }, 0);
    }
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  }

  function mapKeys(state, event) {
    var v = state.view;
    var tStep = (v.t1 - v.t0) * 0.1;
    var pStep = (v.p1 - v.p0) * 0.1;
    var centreT = (v.t0 + v.t1) / 2;
    var centreP = (v.p0 + v.p1) / 2;
    var handled = true;
    if (event.key === "+" || event.key === "=") zoom(state, 0.8, centreT, centreP);
    else if (event.key === "-") zoom(state, 1.25, centreT, centreP);
    else if (event.key === "0") resetView(state);
    else if (event.shiftKey && event.key === "ArrowLeft") setView(state, { t0: v.t0 - tStep, t1: v.t1 - tStep, p0: v.p0, p1: v.p1 });
    else if (event.shiftKey && event.key === "ArrowRight") setView(state, { t0: v.t0 + tStep, t1: v.t1 + tStep, p0: v.p0, p1: v.p1 });
    else if (event.shiftKey && event.key === "ArrowUp") setView(state, { t0: v.t0, t1: v.t1, p0: v.p0 + pStep, p1: v.p1 + pStep });
    else if (event.shiftKey && event.key === "ArrowDown") setView(state, { t0: v.t0, t1: v.t1, p0: v.p0 - pStep, p1: v.p1 - pStep });
    else handled = false;
    if (handled) event.preventDefault();
  }

  // ---- crosshair and tooltip ----------------------------------------------------------------

  function showCrosshair(state, x, y) {
    var plot = state.layout && state.layout.plot;
    if (!plot) return;
    if (state.crossX) {
      state.crossX.hidden = x == null;
      if (x != null) {
        state.crossX.style.left = Math.round(x) + "px";
        state.crossX.style.top = plot.y + "px";
        state.crossX.style.height = plot.h + "px";
      }
    }
    if (state.crossY) {
      state.crossY.hidden = y == null;
      if (y != null) {
        state.crossY.style.top = Math.round(y) + "px";
        state.crossY.style.width = plot.w + "px";
      }
    }
    axisLabels(state, x, y);
  }

  // The crosshair's price on the price axis and its time on the time axis, as on a trading chart.
  function axisLabels(state, x, y) {
    var l = state.layout;
    if (state.axisPrice) {
      state.axisPrice.hidden = y == null;
      if (y != null) {
        var pr = l.yToPrice(y);
        state.axisPrice.textContent = D.price(pr, D.priceDecimals(pr));
        state.axisPrice.style.left = l.plot.x + l.plot.w + 1 + "px";
        state.axisPrice.style.top = Math.round(y) - 8 + "px";
      }
    }
    if (state.axisTime) {
      state.axisTime.hidden = x == null;
      if (x != null) {
        state.axisTime.textContent = D.utcStamp(l.xToTime(x)).slice(5);
        var w = state.axisTime.offsetWidth;
        var left = Math.min(Math.max(l.plot.x, Math.round(x) - w / 2), l.plot.x + l.plot.w - w);
        state.axisTime.style.left = left + "px";
        state.axisTime.style.top = l.plot.y + l.plot.h + 3 + "px";
      }
    }
  }

  // ---- the liquidation map's readout ---------------------------------------------------------

  // Cumulative longs/shorts from the price to the hovered price, and that bin's USD by leverage tier.
  function liqHover(state, clientY) {
    var tip = state.liqTip;
    var l = state.layout;
    var data = state.data;
    if (!tip || !l || !data) return;
    var rect = state.liqCanvas.getBoundingClientRect();
    var y = clientY - rect.top;
    if (y < l.plot.y || y > l.plot.y + l.plot.h) {
      liqLeave(state);
      return;
    }
    var lm = data.liquidation_map || {};
    var pr = l.yToPrice(y);
    var bin = Math.floor(((pr - data.price_lo) / (data.price_hi - data.price_lo)) * data.bins);
    if (bin < 0 || bin >= data.bins) {
      liqLeave(state);
      return;
    }
    var cp = lm.price != null ? lm.price : data.current_price;
    var below = pr < cp;
    var side = below ? "long" : "short";
    var shown = state.side === "both" || state.side === side;
    var cum = shown ? ((below ? lm.cum_long : lm.cum_short) || [])[bin] || 0 : 0;
    var tiers = shown ? (below ? lm.tier_long : lm.tier_short) || [] : [];
    var leverages = lm.leverages || [];
    var quote = (data.units && data.units.price) || "";
    var rows = [
      "<strong>" + D.price(pr, D.priceDecimals(pr)) + " " + quote + "</strong>",
      "<span class=\"" + side + "\">" + (below ? "longs liquidated down to here " : "shorts liquidated up to here ") + D.usd(cum) + "</span>",
    ];
    var binTotal = 0;
    var tierRows = [];
    for (var k = 0; k < tiers.length; k++) {
      var v = (tiers[k] && tiers[k][bin]) || 0;
      binTotal += v;
      if (v > 0) {
        tierRows.push("<span class=\"tier-row\"><span class=\"tier tier-" + k + "\">" + (lm.labels && lm.labels[k] ? lm.labels[k] : leverages[k] != null ? Math.round(leverages[k]) + "×" : "tier " + (k + 1)) + "</span><span>" + D.usd(v) + "</span></span>");
      }
    }
    rows.push("<span class=\"muted\">at this price " + D.usd(binTotal) + "</span>");
    if (state.layer && shown) rows.push("<span class=\"measured-share\">measured share " + (((below ? state.layer.longShare : state.layer.shortShare)[bin] || 0) * 100).toFixed(0) + " %</span>");
    // the tier rows are flex rows (a line each), so only the lines above need <br>
    tip.innerHTML = rows.join("<br>") + tierRows.join("");
    tip.dataset.bin = String(bin);
    tip.dataset.cum = String(cum);
    tip.hidden = false;
    var top = y + 12;
    if (top + tip.offsetHeight > rect.height) top = y - 12 - tip.offsetHeight;
    tip.style.top = Math.max(0, top) + "px";
    showCrosshair(state, null, y);
  }

  function liqLeave(state) {
    if (state.liqTip) state.liqTip.hidden = true;
    showCrosshair(state, null, null);
  }

  // The stored cell under a point: column and bin indices, or null outside the data.
  function cellAt(state, p) {
    var data = state.data;
    var l = state.layout;
    var t = l.xToTime(p.x);
    var pr = l.yToPrice(p.y);
    var col = Math.floor((t - data.times[0]) / (data.bar_seconds * 1000));
    var bin = Math.floor(((pr - data.price_lo) / (data.price_hi - data.price_lo)) * data.bins);
    if (col < 0 || col >= data.width || bin < 0 || bin >= data.bins) return null;
    return { col: col, bin: bin };
  }

  function hover(state, event) {
    var layout = state.layout;
    var tip = state.tooltip;
    if (!layout || !tip || state.dragged) return;
    var p = pointer(state, event);
    var plot = layout.plot;
    var cell = inPlot(plot, p) ? cellAt(state, p) : null;
    if (!cell) {
      tip.hidden = true;
      showCrosshair(state, null, null);
      if (state.panels) state.panels.setCursor(null);
      return;
    }
    showCrosshair(state, p.x, p.y);
    if (state.panels) state.panels.setCursor(p.x - plot.x);
    var data = state.data;
    var binW = (data.price_hi - data.price_lo) / data.bins;
    var quote = (data.units && data.units.price) || "";
    var decimals = D.priceDecimals(data.prices[cell.bin]);
    var index = cell.col * data.bins + cell.bin;
    var long = state.grid.long[index];
    var short = state.grid.short[index];
    var when = data.times[cell.col];
    var zone = D.displayZone();
    var lines = [
      "<strong>" + D.utcStamp(when) + "</strong> <span class=\"muted\">+ " + D.duration(data.bar_seconds) + "</span>",
      "<span class=\"muted\">" + D.zoneStamp(when, zone) + "</span>",
      "price " + D.price(data.price_lo + cell.bin * binW, decimals) + " – " + D.price(data.price_lo + (cell.bin + 1) * binW, decimals) + " " + quote,
      (data.long_packed ? "<span class=\"long\">longs " + D.usd(long) + "</span>" : "") +
        (data.long_packed && data.short_packed ? " · " : "") +
        (data.short_packed ? "<span class=\"short\">shorts " + D.usd(short) + "</span>" : ""),
    ];
    var c = data.candles[cell.col];
    if (c) {
      var cd = D.priceDecimals(c[4]);
      lines.push("<span class=\"muted\">O " + D.price(c[1], cd) + " H " + D.price(c[2], cd) + " L " + D.price(c[3], cd) + " C " + D.price(c[4], cd) + "</span>");
    }
    if (state.layer) lines.push(layerLine(state.layer, cell, long, short, tip));
    tip.innerHTML = lines.join("<br>");
    breakdownLater(state, cell, tip);
    tip.dataset.col = String(cell.col);
    tip.dataset.bin = String(cell.bin);
    tip.dataset.long = String(long);
    tip.dataset.short = String(short);
    tip.hidden = false;
    var left = p.x + 14;
    if (left + tip.offsetWidth > plot.x + plot.w) left = p.x - 14 - tip.offsetWidth;
    var top = p.y + 14;
    if (top + tip.offsetHeight > plot.y + plot.h) top = p.y - 14 - tip.offsetHeight;
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = Math.max(0, top) + "px";
  }

  // ---- what a cell and the clusters are made of: USD by leverage tier and by exchange ------------
  // Asked of the breakdown API (the same map: model and filters from the map's own URL) once the pointer
  // rests on a cell, and kept per map version and cell.

  function breakdownUrl(state, extra) {
    var src = state.canvas.dataset.heatmapSrc;
    var q = src.indexOf("?");
    var path = (q < 0 ? src : src.slice(0, q)).replace(/heatmap\/$/, "heatmap/breakdown/");
    var params = new URLSearchParams(q < 0 ? "" : src.slice(q + 1));
    ["cells", "min_usd", "format", "side", "full", "width", "height"].forEach(function (k) {
      params.delete(k);
    });
    Object.keys(extra).forEach(function (k) {
      params.set(k, extra[k]);
    });
    return path + "?" + params.toString();
  }

  function esc(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  function partsText(parts, withShare) {
    var total = 0;
    parts.forEach(function (p) {
      total += p.long_usd + p.short_usd;
    });
    return parts
      .filter(function (p) {
        return p.long_usd + p.short_usd > 0;
      })
      .map(function (p) {
        var usd = p.long_usd + p.short_usd;
        var share = withShare && total > 0 ? " (" + Math.round((usd / total) * 100) + " %)" : "";
        return esc(p.name) + " " + D.usd(usd) + share;
      })
      .join(" · ");
  }

  function showBreakdown(tip, cell) {
    var old = tip.querySelector(".breakdown");
    if (old) old.remove();
    var box = document.createElement("div");
    box.className = "breakdown";
    var tiers = partsText(cell.tiers, false);
    var exchanges = partsText(cell.exchanges, true);
    box.innerHTML =
      (tiers ? "<span class=\"muted\">by tier</span> " + tiers : "") +
      (exchanges ? (tiers ? "<br>" : "") + "<span class=\"muted\">by exchange</span> " + exchanges : "");
    if (box.innerHTML) tip.appendChild(box);
    tip.dataset.breakdown = JSON.stringify({
      tiers: cell.tiers.map(function (p) {
        return [p.key, p.long_usd + p.short_usd];
      }),
      exchanges: cell.exchanges.map(function (p) {
        return [p.key, p.long_usd + p.short_usd];
      }),
    });
  }

  function breakdownLater(state, cell, tip) {
    clearTimeout(state.breakdownTimer);
    tip.dataset.breakdown = "";
    var data = state.data;
    if (!(state.grid.long[cell.col * data.bins + cell.bin] + state.grid.short[cell.col * data.bins + cell.bin] > 0)) return;
    var key = (state.etag || "") + ":" + cell.col + ":" + cell.bin;
    state.breakdownKey = key;
    state.breakdowns = state.breakdowns || {};
    if (state.breakdowns[key]) {
      showBreakdown(tip, state.breakdowns[key]);
      return;
    }
    state.breakdownTimer = setTimeout(function () {
      var binW = (data.price_hi - data.price_lo) / data.bins;
      var url = breakdownUrl(state, {
        time: String(data.times[cell.col]),
        price: String(data.price_lo + (cell.bin + 0.5) * binW),
      });
      fetch(url, { headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (body) {
          if (!body || !body.cell) return;
          state.breakdowns[key] = body.cell;
          if (state.breakdownKey === key && !tip.hidden) showBreakdown(tip, body.cell);
        })
        .catch(function () {});
    }, 300);
  }

  // The cluster list's exchange mix: each row (data-peak) gets the shares of the exchanges' own maps.
  function clusterMix(state) {
    var rows = state.section.querySelectorAll("table.clusters tr[data-peak]");
    if (!rows.length || state.section.dataset.exchangeCount === "1") return;
    fetch(breakdownUrl(state, {}), { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (!body) return;
        rows.forEach(function (row) {
          var peak = parseFloat(row.dataset.peak);
          var found = body.clusters.filter(function (c) {
            return c.price_low <= peak && peak <= c.price_high && row.dataset.side === c.side;
          })[0];
          var slot = row.querySelector(".cluster-exchanges");
          if (!found || !slot) return;
          var parts = found.exchanges.filter(function (e) {
            return e.share > 0;
          });
          parts.sort(function (a, b) {
            return b.share - a.share;
          });
          slot.textContent = parts.length
            ? " · " +
              parts
                .map(function (e) {
                  return e.name + " " + Math.round(e.share * 100) + " %";
                })
                .join(", ")
            : "";
          slot.title = body.exchanges_note;
        });
      })
      .catch(function () {});
  }

  // The measured Hyperliquid layer's line in the tooltip: the cell's measured share of its USD (in the band
  // that holds the measured snapshot), else what the column is in this layer.
  function layerLine(layer, cell, long, short, tip) {
    if (cell.col < layer.from) {
      tip.dataset.measuredShare = "";
      return "<span class=\"muted\">" + (layer.only ? "measured layer: only now, at the right-edge band" : "modelled; measured only at the right-edge band (now)") + "</span>";
    }
    var total = long + short;
    var share = total > 0 ? (long * (layer.longShare[cell.bin] || 0) + short * (layer.shortShare[cell.bin] || 0)) / total : 0;
    tip.dataset.measuredShare = share.toFixed(4);
    return "<span class=\"measured-share\">measured share " + (share * 100).toFixed(0) + " %</span> <span class=\"muted\">(Hyperliquid, now)</span>";
  }

  // ---- intensity handles: ?min= and ?full= ---------------------------------------------------

  function sliderRange(state) {
    var auto = state.autoFull > 0 ? state.autoFull : 1e6;
    return { lo: Math.log10(Math.max(1, auto / 1000)), hi: Math.log10(auto * 20) };
  }

  function toSlider(state, value) {
    var r = sliderRange(state);
    if (!(value > 0)) return 0;
    return Math.round(((Math.log10(value) - r.lo) / (r.hi - r.lo)) * SLIDER);
  }

  function fromSlider(state, position) {
    var r = sliderRange(state);
    if (position <= 0) return 0;
    var raw = Math.pow(10, r.lo + (position / SLIDER) * (r.hi - r.lo));
    var mag = Math.pow(10, Math.floor(Math.log10(raw)) - 2); // three significant digits
    return Math.round(raw / mag) * mag;
  }

  function wireIntensity(state) {
    var form = state.section.querySelector("form.intensity");
    if (!form) return;
    var handles = form.querySelector(".handles");
    var minHandle = form.querySelector(".handle-min");
    var fullHandle = form.querySelector(".handle-full");
    var minInput = form.querySelector("input[name=min]");
    var fullInput = form.querySelector("input[name=full]");
    if (!handles || !minHandle || !fullHandle) return;
    handles.hidden = false;
    minHandle.value = String(toSlider(state, state.minUsd));
    fullHandle.value = String(toSlider(state, state.fullUsd || state.autoFull));
    function changed() {
      var min = fromSlider(state, Number(minHandle.value));
      var full = fromSlider(state, Number(fullHandle.value));
      if (full <= 0) full = fromSlider(state, 1);
      if (min >= full) {
        min = 0;
        minHandle.value = "0";
      }
      state.minUsd = min;
      state.fullUsd = full;
      if (minInput) minInput.value = min ? String(min) : "";
      if (fullInput) fullInput.value = String(full);
      var legendMin = state.section.querySelector(".legend-min");
      var legendFull = state.section.querySelector(".legend-full");
      if (legendMin) legendMin.textContent = min ? "below " + D.usd(min) + " not drawn" : "$0";
      if (legendFull) legendFull.textContent = "full intensity = " + D.usd(full) + " (pinned)";
      redrawImage(state);
      rememberIntensity(state);
    }
    minHandle.addEventListener("input", changed);
    fullHandle.addEventListener("input", changed);
  }

  // The URL, the tabs' plain links and the next htmx requests carry the handles' values, so a shared
  // link or another timeframe shows the same picture.
  function withIntensity(url, state) {
    var u = new URL(url, window.location.href);
    if (state.minUsd) u.searchParams.set("min", String(state.minUsd));
    else u.searchParams.delete("min");
    if (state.fullUsd) u.searchParams.set("full", String(state.fullUsd));
    else u.searchParams.delete("full");
    return u;
  }

  function rememberIntensity(state) {
    var u = withIntensity(window.location.href, state);
    window.history.replaceState(window.history.state, "", u.pathname + u.search);
    state.section.querySelectorAll("nav.tabs a, nav.sides a, .liqmap-legend a").forEach(function (a) {
      if (!sameMapLink(a)) return;
      var next = withIntensity(a.getAttribute("href"), state);
      a.setAttribute("href", next.search);
    });
    state.intensityTouched = true;
  }

  // ---- wiring -------------------------------------------------------------------------------

  function wire(state) {
    var canvas = state.canvas;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (!canvas.isConnected) return;
        draw(state);
        if (state.panels) state.panels.setWidth(canvas.clientWidth);
      }).observe(canvas);
    }
    canvas.addEventListener("mousemove", function (event) {
      hover(state, event);
    });
    canvas.addEventListener("mouseleave", function () {
      if (state.tooltip) state.tooltip.hidden = true;
      showCrosshair(state, null, null);
      if (state.panels) state.panels.setCursor(null);
    });
    canvas.addEventListener("click", function (event) {
      click(state, event);
    });
    canvas.addEventListener("wheel", function (event) {
      wheel(state, event);
    }, { passive: false });
    canvas.addEventListener("mousedown", function (event) {
      startDrag(state, event);
    });
    canvas.addEventListener("dblclick", function () {
      resetView(state);
    });
    canvas.addEventListener("keydown", function (event) {
      mapKeys(state, event);
    });
    wireTouch(state);
    if (state.liqCanvas) {
      state.liqCanvas.addEventListener("mousemove", function (event) {
        liqHover(state, event.clientY);
      });
      state.liqCanvas.addEventListener("mouseleave", function () {
        liqLeave(state);
      });
      state.liqCanvas.addEventListener("touchstart", function (event) {
        if (event.touches.length === 1) liqHover(state, event.touches[0].clientY);
      }, { passive: true });
    }
    canvas.addEventListener("liq:map-redraw", function () {
      if (canvas.isConnected) draw(state);
    });
    var reset = state.section.querySelector(".zoom-reset");
    if (reset) {
      reset.addEventListener("click", function () {
        resetView(state);
      });
    }
    if (state.panelsBox) {
      state.panelsBox.addEventListener("wheel", function (event) {
        // Wheel over the panels zooms the shared time axis.
        var l = state.layout;
        var rect = state.panelsBox.getBoundingClientRect();
        var x = event.clientX - rect.left;
        if (!l || x > l.plot.w) return;
        event.preventDefault();
        zoom(state, Math.pow(1.0015, event.deltaY), l.xToTime(x), null);
      }, { passive: false });
    }
    wireIntensity(state);
  }

  // Touch: one finger drags (horizontally; a vertical swipe scrolls the page, see touch-action in the
  // CSS), two fingers pinch-zoom around their midpoint, a tap shows the tooltip and crosshair.
  function wireTouch(state) {
    var canvas = state.canvas;
    var gesture = null;

    function local(t) {
      var rect = canvas.getBoundingClientRect();
      return { x: t.clientX - rect.left, y: t.clientY - rect.top, clientX: t.clientX, clientY: t.clientY };
    }

    canvas.addEventListener("touchstart", function (event) {
      if (!state.layout) return;
      var ts = event.touches;
      if (ts.length === 1) {
        gesture = { kind: "pan", start: local(ts[0]), view: state.view, moved: false };
      } else if (ts.length === 2) {
        var a = local(ts[0]);
        var b = local(ts[1]);
        gesture = {
          kind: "pinch",
          dist: Math.max(10, Math.hypot(a.x - b.x, a.y - b.y)),
          mid: { t: state.layout.xToTime((a.x + b.x) / 2), p: state.layout.yToPrice((a.y + b.y) / 2) },
          view: state.view,
          moved: true,
        };
        event.preventDefault();
      }
    }, { passive: false });

    canvas.addEventListener("touchmove", function (event) {
      if (!gesture || !state.layout) return;
      var ts = event.touches;
      var v = gesture.view;
      var plot = state.layout.plot;
      if (gesture.kind === "pan" && ts.length === 1) {
        var p = local(ts[0]);
        var dx = p.x - gesture.start.x;
        var dy = p.y - gesture.start.y;
        if (!gesture.moved && Math.abs(dx) < 6) return; // a vertical swipe is the page's
        gesture.moved = true;
        event.preventDefault();
        var dt = (-dx / plot.w) * (v.t1 - v.t0);
        var dp = (dy / plot.h) * (v.p1 - v.p0);
        setView(state, { t0: v.t0 + dt, t1: v.t1 + dt, p0: v.p0 + dp, p1: v.p1 + dp });
      } else if (gesture.kind === "pinch" && ts.length === 2) {
        event.preventDefault();
        var a = local(ts[0]);
        var b = local(ts[1]);
        var f = gesture.dist / Math.max(10, Math.hypot(a.x - b.x, a.y - b.y));
        var m = gesture.mid;
        setView(state, {
          t0: m.t - (m.t - v.t0) * f,
          t1: m.t + (v.t1 - m.t) * f,
          p0: m.p - (m.p - v.p0) * f,
          p1: m.p + (v.p1 - m.p) * f,
        });
      }
    }, { passive: false });

    canvas.addEventListener("touchend", function (event) {
      if (gesture && gesture.kind === "pan" && !gesture.moved && event.touches.length === 0) {
        hover(state, gesture.start);
        // no click (and so no annotation form) for a tap that only asked for values
        event.preventDefault();
      }
      if (event.touches.length === 0) gesture = null;
    });
  }

  function currentState() {
    var canvas = document.querySelector("canvas.heatmap");
    return canvas && canvas.__heatmap;
  }

  // ← / → switch timeframe (unless typing in a field or holding a modifier); the tabs stay reachable by Tab.
  function timeframeKeys(event) {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    if (event.shiftKey || event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var tabs = Array.prototype.slice.call(document.querySelectorAll("#heatmap-panel nav.tabs a.tab"));
    if (!tabs.length) return;
    var current = tabs.findIndex(function (a) {
      return a.getAttribute("aria-current") === "page";
    });
    var next = current + (event.key === "ArrowRight" ? 1 : -1);
    if (current < 0 || next < 0 || next >= tabs.length) return;
    event.preventDefault();
    var focusTabs = target && target.closest && target.closest("nav.tabs");
    tabs[next].click();
    if (focusTabs) {
      // keep the keyboard user on the tabs after the swap
      document.body.addEventListener("htmx:afterSettle", function refocus() {
        document.body.removeEventListener("htmx:afterSettle", refocus);
        var active = document.querySelector("#heatmap-panel nav.tabs a[aria-current='page']");
        if (active) active.focus();
      });
    }
  }

  window.LiqHeatmap = {
    current: currentState,
    reload: function () {
      var state = currentState();
      return state && state.reload ? state.reload() : Promise.resolve(false);
    },
    tick: function (timeMs, price) {
      var state = currentState();
      if (state) liveTick(state, timeMs, price);
    },
    // Hyperliquid's measured positions (measured.js), drawn as outlines over the liquidation map.
    setMeasured: function (layer) {
      var state = currentState();
      if (!state || !state.data) return;
      state.data.measured = layer;
      state.canvas.dataset.measured = layer ? "shown" : "";
      if (state.drawn) draw(state);
    },
    // The measured Hyperliquid layer (measured.js): the newest `band` columns and the liquidation map hold the
    // measured (or merged) USD per bin; with `only`, every other column is emptied (a snapshot has no past).
    setLayer: function (overlay) {
      var state = currentState();
      if (!state || !state.data || !state.grid) return;
      var data = state.data;
      var bins = data.bins;
      var from = Math.max(0, data.width - overlay.band);
      ["long", "short"].forEach(function (side) {
        var grid = overlay.only ? new Float64Array(state.grid[side].length) : state.grid[side];
        for (var col = from; col < data.width; col++) {
          for (var b = 0; b < bins; b++) grid[col * bins + b] = overlay[side][b] || 0;
        }
        state.grid[side] = grid;
      });
      data.liquidation_map = overlay.liquidation_map;
      state.layer = Object.assign({ from: from }, overlay);
      if (overlay.full > 0) state.autoFull = overlay.full;
      state.canvas.dataset.layer = overlay.name;
      state.image = D.buildImage(data, state.grid, imageOptions(state));
      if (state.drawn) draw(state);
    },
    // The stream is open (live.js): the whole view gains the forming bar's column, or loses it.
    setLive: function (live) {
      var state = currentState();
      if (!state || !state.data || !!state.live === !!live) {
        if (state) state.live = !!live;
        return;
      }
      var whole = sameView(state.view, fullView(state.data, state.live));
      state.live = !!live;
      if (whole) state.view = fullView(state.data, state.live);
      if (state.drawn) draw(state);
    },
    liquidation: function (p) {
      var state = currentState();
      if (state) liveLiquidation(state, p);
    },
  };

  function boot() {
    init(document);
    document.addEventListener("keydown", timeframeKeys);
    if (window.htmx) {
      // Fires for content htmx swaps in (the timeframe tabs) and for restored history snapshots.
      window.htmx.onLoad(init);
      document.body.addEventListener("htmx:historyRestore", function () {
        init(document);
      });
      // Requests for the panel carry the intensity the handles set since the page was rendered.
      document.body.addEventListener("htmx:configRequest", function (event) {
        var from = event.detail.elt;
        var state0 = currentState();
        if (state0 && event.detail.target.id === "heatmap-panel" && from && from.tagName === "A" && !from.closest("nav.tabs")) {
          var zoomed = new URL(event.detail.path, window.location.href);
          var value = zoomValue(state0);
          if (value) zoomed.searchParams.set("zoom", value);
          else zoomed.searchParams.delete("zoom");
          event.detail.path = zoomed.pathname + zoomed.search;
        }
        var state = currentState();
        if (!state || !state.intensityTouched || event.detail.target.id !== "heatmap-panel") return;
        var params = event.detail.parameters;
        var url = withIntensity(event.detail.path, state);
        if (params && typeof params.set === "function" && params.has("min")) {
          params.set("min", state.minUsd ? String(state.minUsd) : "");
          params.set("full", String(state.fullUsd));
        } else {
          event.detail.path = url.pathname + url.search;
        }
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
