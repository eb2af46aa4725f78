/* The panels under the heat map — open interest, funding, volume — drawn with uPlot on the map's
 * time axis: the same plot width (the map's price axis is mirrored by a right-hand axis of the same
 * width), the same visible time range, and a shared crosshair. Exposed as window.LiqPanels.
 */
(function () {
  "use strict";

  var AXIS_RIGHT = 74; // px, as heatmap.js
  var HEIGHT = { oi: 110, funding: 90, volume: 110 };
  var TITLE_STRIP = 18; // px above each plot for its title and the value at the crosshair
  var EXCHANGE_COLOURS = { binance: "#f0b90b", bybit: "#f7a600", okx: "#a371f7" };

  function usdAxis(u, values) {
    return values.map(function (v) {
      return v == null ? "" : window.LiqDraw.usd(v);
    });
  }

  // Funding rates are small (0.01 % per 8 h is typical): as many decimals as the smallest label needs,
  // so the labels never all read "0.000 %".
  function pctDecimals(values) {
    var smallest = Infinity;
    values.forEach(function (v) {
      if (v) smallest = Math.min(smallest, Math.abs(v));
    });
    if (!isFinite(smallest)) return 2;
    return Math.max(2, Math.min(6, Math.ceil(-Math.log10(smallest) + 1e-9) + 1));
  }

  function pctAxis(u, values) {
    var decimals = pctDecimals(values);
    return values.map(function (v) {
      return v == null ? "" : v.toFixed(decimals) + "%";
    });
  }

  // A symmetric range ending on a round rate (1, 2, 2.5 or 5 × 10^k %), labelled at −m, 0 and +m:
  // the axis reads at a glance however small the rates are.
  function fundingRange(u, min, max) {
    var raw = Math.max(Math.abs(min || 0), Math.abs(max || 0), 0.0001);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= raw) return [-steps[i] * mag, steps[i] * mag];
    return [-10 * mag, 10 * mag];
  }

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function utcShort(ms) {
    var d = new Date(ms);
    return MONTHS_SHORT[d.getUTCMonth()] + " " + d.getUTCDate() + " " + pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + " UTC";
  }

  var MONTHS_SHORT = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function signedPct(value) {
    return (value >= 0 ? "+" : "−") + Math.abs(value).toFixed(2) + " %";
  }

  // The value at the crosshair, in words with units, for each kind of panel.
  var READOUTS = {
    oi: function (u, i) {
      var usd = u.data[1][i];
      if (usd == null) return "";
      var text = window.LiqDraw.usd(usd);
      var prev = i > 0 ? u.data[1][i - 1] : null;
      if (prev) text += " (" + signedPct(((usd - prev) / prev) * 100) + " on the column before)";
      var parts = [];
      for (var s = 2; s < u.series.length; s++) {
        if (u.data[s][i] != null) parts.push(u.series[s].label + " " + window.LiqDraw.usd(u.data[s][i]));
      }
      return parts.length ? text + " · " + parts.join(" · ") : text;
    },
    funding: function (u, i) {
      var t = u.data[0][i];
      if (t == null) return "";
      var rate = u.data[1][i] != null ? u.data[1][i] : u.data[2][i];
      if (rate == null) return "";
      var n = u.__settled ? u.__settled[i] : 1;
      return rate.toFixed(4) + " % settled " + utcShort(t * 1000) + (n > 1 ? " (mean of " + n + " exchanges)" : "");
    },
    volume: function (u, i) {
      var buy = u.data[1][i];
      var sell = u.data[2][i];
      var total = u.data[3][i];
      if (buy != null && sell != null) {
        return window.LiqDraw.usd(buy - sell) + " total · taker buy " + window.LiqDraw.usd(buy) + " / sell " + window.LiqDraw.usd(-sell);
      }
      return total != null ? window.LiqDraw.usd(total) + " (taker split not reported)" : "";
    },
  };

  function updateReadout(u) {
    var out = u.__readout;
    if (!out) return;
    var i = u.cursor.idx;
    var text = i == null || u.cursor.left < 0 ? "" : READOUTS[u.__kind](u, i);
    out.textContent = text;
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // The map's time labels: "Jan 23" at midnight or for day steps, "14:30" otherwise, in UTC.
  function timeAxis(u, splits, axisIdx, space, incr) {
    return splits.map(function (s) {
      var d = new Date(s * 1000);
      if (incr >= 86400 || (d.getUTCHours() === 0 && d.getUTCMinutes() === 0)) return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
      return (d.getUTCHours() < 10 ? "0" : "") + d.getUTCHours() + ":" + (d.getUTCMinutes() < 10 ? "0" : "") + d.getUTCMinutes();
    });
  }

  function utcDate(ts) {
    return window.uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  }

  function baseOptions(width, kind, showTime, valueAxis, syncKey, onCursor) {
    return {
      width: width,
      height: HEIGHT[kind] + (showTime ? 26 : 0),
      padding: [TITLE_STRIP, 0, 0, 0],
      tzDate: utcDate,
      legend: { show: false },
      cursor: {
        sync: { key: syncKey, setSeries: false },
        drag: { x: false, y: false, setScale: false },
        points: { show: false },
        y: false,
      },
      scales: { x: { time: true, auto: false } },
      axes: [
        { show: showTime, values: timeAxis, space: 95, stroke: "#8b949e", size: 26, grid: { stroke: "#21262d" }, ticks: { stroke: "#30363d" }, font: "11px system-ui, sans-serif" },
        { side: 1, size: AXIS_RIGHT, stroke: "#8b949e", values: valueAxis, grid: { stroke: "#21262d" }, ticks: { stroke: "#30363d" }, font: "11px system-ui, sans-serif" },
      ],
      hooks: {
        setCursor: [
          function (u) {
            updateReadout(u);
            if (onCursor) onCursor(u.cursor.left, u);
          },
        ],
      },
      series: [{}],
    };
  }

  function bars(size) {
    return window.uPlot.paths.bars({ size: [size, 40], align: 0 });
  }

  // Column centres in seconds: the map draws column i over [times[i], times[i] + bar).
  function columnX(data) {
    var half = data.bar_seconds / 2;
    return data.times.map(function (t) {
      return t / 1000 + half;
    });
  }

  function oiChart(el, data, width, key, onCursor) {
    var p = data.panels;
    var xs = columnX(data);
    var opts = baseOptions(width, "oi", false, usdAxis, key, onCursor);
    var series = [xs, p.oi_usd];
    opts.series.push({ label: "OI, all exchanges", stroke: "#58a6ff", width: 1.5, fill: "rgba(88,166,255,.08)" });
    var codes = Object.keys(p.oi_by_exchange || {});
    if (codes.length > 1) {
      codes.forEach(function (code) {
        series.push(p.oi_by_exchange[code]);
        opts.series.push({ label: code, stroke: EXCHANGE_COLOURS[code] || "#8b949e", width: 1, dash: [4, 3] });
      });
    }
    return new window.uPlot(opts, series, el);
  }

  function fundingChart(el, data, width, key, onCursor) {
    // One bar per settlement time: the mean over the exchanges that settled then, in percent.
    var byTime = {};
    (data.panels.funding || []).forEach(function (f) {
      var slot = byTime[f[0]] || (byTime[f[0]] = [0, 0]);
      slot[0] += f[1];
      slot[1] += 1;
    });
    var times = Object.keys(byTime).map(Number).sort(function (a, b) {
      return a - b;
    });
    var xs = times.map(function (t) {
      return t / 1000;
    });
    var pos = [];
    var neg = [];
    times.forEach(function (t) {
      var rate = (byTime[t][0] / byTime[t][1]) * 100;
      pos.push(rate >= 0 ? rate : null);
      neg.push(rate < 0 ? rate : null);
    });
    var opts = baseOptions(width, "funding", false, pctAxis, key, onCursor);
    opts.axes[1].splits = function (u) {
      var m = u.scales.y.max;
      return [-m, 0, m];
    };
    opts.series.push({ label: "funding ≥ 0", fill: "rgba(63,185,80,.8)", stroke: "#3fb950", paths: bars(0.5) });
    opts.series.push({ label: "funding < 0", fill: "rgba(248,81,73,.8)", stroke: "#f85149", paths: bars(0.5) });
    opts.scales.y = { range: fundingRange };
    opts.padding = [TITLE_STRIP, 0, 8, 0]; // room for the −m label under the plot
    var chart = new window.uPlot(opts, [xs, pos, neg], el);
    chart.__settled = times.map(function (t) {
      return byTime[t][1];
    });
    return chart;
  }

  function volumeChart(el, data, width, key, onCursor) {
    // Taker buys up, taker sells down, where the exchange reports them; otherwise the total, up, in grey.
    var p = data.panels;
    var xs = columnX(data);
    var buy = [];
    var sell = [];
    var total = [];
    for (var i = 0; i < xs.length; i++) {
      var known = p.buy_usd[i] != null && p.sell_usd[i] != null;
      buy.push(known ? p.buy_usd[i] : null);
      sell.push(known ? -p.sell_usd[i] : null);
      total.push(known ? null : p.volume_usd[i]);
    }
    var opts = baseOptions(width, "volume", true, usdAxis, key, onCursor);
    opts.series.push({ label: "taker buy", fill: "rgba(63,185,80,.75)", stroke: "#3fb950", paths: bars(0.7) });
    opts.series.push({ label: "taker sell", fill: "rgba(248,81,73,.75)", stroke: "#f85149", paths: bars(0.7) });
    opts.series.push({ label: "volume", fill: "rgba(139,148,158,.55)", stroke: "#8b949e", paths: bars(0.7) });
    opts.axes[1].values = function (u, values) {
      return values.map(function (v) {
        return v == null ? "" : window.LiqDraw.usd(Math.abs(v));
      });
    };
    return new window.uPlot(opts, [xs, buy, sell, total], el);
  }

  var BUILDERS = { oi: oiChart, funding: fundingChart, volume: volumeChart };

  // container: the .panels element; width: the map canvas's CSS width, so the plots line up.
  function create(container, data, width, view, onCursor) {
    if (!window.uPlot || !data.panels || !data.panels.oi_usd) {
      container.dataset.panels = "none";
      return null;
    }
    var key = "liq-" + Math.random().toString(36).slice(2);
    var charts = [];
    var nodes = container.querySelectorAll(".panel[data-panel]");
    for (var i = 0; i < nodes.length; i++) {
      var kind = nodes[i].dataset.panel;
      var old = nodes[i].querySelector(".uplot");
      if (old) old.remove();
      var chart = BUILDERS[kind](nodes[i], data, width, key, onCursor);
      chart.__kind = kind;
      chart.__readout = nodes[i].querySelector(".panel-readout");
      charts.push(chart);
    }
    var panels = {
      charts: charts,
      setView: function (t0, t1) {
        charts.forEach(function (u) {
          u.setScale("x", { min: t0 / 1000, max: t1 / 1000 });
        });
      },
      setWidth: function (w) {
        charts.forEach(function (u) {
          u.setSize({ width: w, height: u.height });
        });
      },
      // x in CSS pixels from the plot's left edge, or null to hide
      setCursor: function (x) {
        var u = charts[0];
        if (!u) return;
        charts.forEach(function (c) {
          c.setCursor({ left: x == null ? -10 : x, top: x == null ? -10 : 5 }, false);
          updateReadout(c);
        });
      },
      // The time range each chart shows, in UTC ms (for tests: the panels share the map's range).
      ranges: function () {
        return charts.map(function (u) {
          return [u.scales.x.min * 1000, u.scales.x.max * 1000, u.bbox.left / (window.devicePixelRatio || 1), u.bbox.width / (window.devicePixelRatio || 1)];
        });
      },
    };
    panels.setView(view.t0, view.t1);
    container.dataset.panels = String(charts.length);
    return panels;
  }

  window.LiqPanels = { create: create, AXIS_RIGHT: AXIS_RIGHT, pctDecimals: pctDecimals };
})();
