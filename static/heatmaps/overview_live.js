/* liqplatform overview, live: one EventSource on /markets/events (every enabled asset's `tick` and
 * closed `bar`). A tick rewrites the row's price and its 24 h change (against the price 24 h ago the
 * page was rendered with); a closed bar resets the row's "newest bar" age, which then ages in place.
 * Closed while the tab is hidden; EventSource reconnects on its own after a dropped connection.
 */
(function () {
  "use strict";

  var table = document.querySelector("[data-live-markets]");
  if (!table || !window.EventSource) return;
  var src = table.dataset.liveMarkets;
  var source = null;

  function decimals(text) {
    var m = /\.(\d+)/.exec(text || "");
    return m ? m[1].length : 0;
  }

  function formatPrice(value, places) {
    return value.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  }

  function age(ms) {
    var minutes = Math.max(0, Math.floor(ms / 60000));
    if (minutes < 60) return minutes + " min";
    if (minutes < 48 * 60) return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
    return Math.floor(minutes / 1440) + " d";
  }

  function row(symbol) {
    return document.querySelector('#overview-table tr[data-symbol="' + symbol + '"]');
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (e) {
      return null;
    }
  }

  function onTick(event) {
    var d = parse(event);
    var tr = d && row(d.symbol);
    if (!tr || !isFinite(d.price)) return;
    var cell = tr.querySelector("[data-live=price] .live-value");
    if (cell) {
      cell.textContent = formatPrice(d.price, decimals(cell.textContent));
      tr.dataset.livePrice = String(d.price);
    }
    var change = tr.querySelector("[data-live=change]");
    var ref = change && parseFloat(change.dataset.refPrice);
    if (change && isFinite(ref) && ref > 0) {
      var pct = (d.price / ref - 1) * 100;
      change.textContent = (pct >= 0 ? "+" : "") + pct.toFixed(2) + " %";
      change.classList.toggle("up", pct > 0);
      change.classList.toggle("down", pct < 0);
    }
  }

  function onBar(event) {
    var d = parse(event);
    var tr = d && row(d.symbol);
    var time = tr && tr.querySelector("[data-live=age] time");
    if (!time || !isFinite(d.time)) return;
    var current = Date.parse(time.getAttribute("datetime"));
    if (!isNaN(current) && d.time <= current) return;
    time.setAttribute("datetime", new Date(d.time).toISOString());
    tr.classList.remove("stale");
    var badge = tr.querySelector("[data-live=age] .badge-stale");
    if (badge) badge.remove();
    ageAll();
  }

  function ageAll() {
    var bar = 5 * 60 * 1000;
    document.querySelectorAll("#overview-table [data-live=age] time").forEach(function (time) {
      var t = Date.parse(time.getAttribute("datetime"));
      if (!isNaN(t)) time.textContent = age(Date.now() - (t + bar));
    });
  }

  function open() {
    if (source) return;
    source = new EventSource(src);
    source.onopen = function () {
      table.dataset.liveState = "live";
    };
    source.addEventListener("tick", onTick);
    source.addEventListener("bar", onBar);
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) source = null; // refused (503): stay static
    };
  }

  function close() {
    if (source) source.close();
    source = null;
    table.dataset.liveState = "paused";
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) close();
    else open();
  });
  setInterval(ageAll, 30000);
  if (!document.hidden) open();
})();
