/* liqplatform live updates on the asset page: one EventSource on /assets/<symbol>/events.
 *
 * `map` for the timeframe on screen → the map is refetched (If-None-Match) and redrawn (heatmap.js,
 * window.LiqHeatmap); `tick` → the price line moves, the forming bar is drawn in a column right of the
 * map, and levels price trades through show as swept on the liquidation map; `liquidation` → a circle;
 * `alert` (a signed-in user's own) → a line in the badge's title. The badge says live / reconnecting /
 * paused. While the tab is hidden the stream is closed, and reopened with the last event id, so the
 * server resumes where it stopped. EventSource reconnects on its own after a dropped connection
 * (sending Last-Event-ID itself); "computed … ago" ages in place.
 */
(function () {
  "use strict";

  var badge = document.querySelector("[data-live-src]");
  if (!badge) return;
  var source = null;
  var lastId = "";
  var label = badge.querySelector(".live-label") || badge;

  function setState(state, text) {
    badge.dataset.state = state;
    label.textContent = text;
  }

  function shownTimeframe() {
    var panel = document.getElementById("heatmap-panel");
    return panel && panel.dataset.timeframe;
  }

  function parse(event) {
    if (event.lastEventId) lastId = event.lastEventId;
    try {
      return JSON.parse(event.data);
    } catch (e) {
      return null;
    }
  }

  function open() {
    if (source || !window.EventSource) return;
    var url = badge.dataset.liveSrc + (lastId ? "?last_id=" + encodeURIComponent(lastId) : "");
    source = new EventSource(url);
    setState("connecting", "connecting…");
    source.onopen = function () {
      setState("live", badge.dataset.liveNote ? "live · " + badge.dataset.liveNote : "live");
      if (window.LiqHeatmap && window.LiqHeatmap.setLive) window.LiqHeatmap.setLive(true);
    };
    source.onerror = function () {
      // CLOSED: the server refused (e.g. 404/503): EventSource gives up, and so do we.
      if (source && source.readyState === EventSource.CLOSED) {
        setState("off", "live updates unavailable");
        if (window.LiqHeatmap && window.LiqHeatmap.setLive) window.LiqHeatmap.setLive(false);
        source = null;
      } else {
        setState("reconnecting", "reconnecting…");
      }
    };
    source.addEventListener("map", function (event) {
      var data = parse(event);
      if (!data || data.timeframe !== shownTimeframe() || !window.LiqHeatmap) return;
      window.LiqHeatmap.reload();
    });
    source.addEventListener("tick", function (event) {
      var data = parse(event);
      if (data && window.LiqHeatmap) window.LiqHeatmap.tick(data.time, data.price);
    });
    source.addEventListener("liquidation", function (event) {
      var d = parse(event);
      if (d && window.LiqHeatmap) window.LiqHeatmap.liquidation([d.time, d.price, d.usd, d.side]);
    });
    source.addEventListener("bar", parse);
    source.addEventListener("alert", function (event) {
      var d = parse(event);
      if (!d) return;
      badge.dataset.alerts = String((parseInt(badge.dataset.alerts, 10) || 0) + 1);
      badge.title = "Alert: " + d.text;
    });
  }

  function close() {
    if (source) source.close();
    source = null;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      close();
      setState("paused", "paused");
    } else {
      open();
    }
  });

  // "computed 3 min ago": aged every 30 s, and set anew when a reloaded map arrives.
  function age(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    if (s < 86400) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " d";
  }

  function ageProvenance() {
    var time = document.querySelector(".provenance time");
    var out = document.querySelector(".provenance .computed-age");
    if (!time || !out) return;
    var t = Date.parse(time.getAttribute("datetime"));
    if (!isNaN(t)) out.textContent = age(Date.now() - t);
  }

  document.addEventListener("liq:map-loaded", function (event) {
    var computed = event.detail && event.detail.provenance && event.detail.provenance.computed_at;
    var time = document.querySelector(".provenance time");
    if (computed && time) {
      time.setAttribute("datetime", computed);
      time.textContent = computed.slice(0, 16).replace("T", " ") + " UTC";
    }
    ageProvenance();
  });
  setInterval(ageProvenance, 30000);

  if (badge.dataset.liveOff) {
    setState("off", badge.dataset.liveOff);
    return;
  }
  if (!document.hidden) open();
  else setState("paused", "paused");
})();
