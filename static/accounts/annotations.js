/* A signed-in trader's own annotations over the heat map (loaded only for signed-in users).
 *
 * Reads them from the annotation panel beside the map (<script type="application/json"
 * id="annotations-data">), draws levels (line + label), zones (translucent band) and notes (marker +
 * label) whenever heatmap.js announces a draw (`liq:map-drawn`), and on a click in the map
 * (`liq:map-click`) opens a small form that POSTs to the JSON API, then refreshes the panel with htmx
 * and asks the map to redraw. Sets canvas.dataset.annotationsDrawn to the number drawn.
 */
(function () {
  "use strict";

  var KINDS = ["level", "zone", "note"];

  function panel() {
    return document.getElementById("annotation-panel");
  }

  function annotations() {
    var node = document.getElementById("annotations-data");
    if (!node) return [];
    try {
      return JSON.parse(node.textContent) || [];
    } catch (error) {
      console.error("annotations", error);
      return [];
    }
  }

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function priceText(value) {
    var places = value ? Math.max(0, Math.min(8, 5 - Math.floor(Math.log10(Math.abs(value))))) : 2;
    return value.toLocaleString("en-US", { minimumFractionDigits: places, maximumFractionDigits: places });
  }

  // ---- drawing ------------------------------------------------------------------------------

  function tag(ctx, text, x, y, colour) {
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    var w = ctx.measureText(text).width + 8;
    ctx.fillStyle = "rgba(13,17,23,.85)";
    ctx.fillRect(x, y - 8, w, 16);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1;
    ctx.strokeRect(x + 0.5, y - 7.5, w - 1, 15);
    ctx.fillStyle = "#e6edf3";
    ctx.fillText(text, x + 4, y);
  }

  function hline(ctx, g, y, colour, dash) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    ctx.moveTo(g.plot.x, Math.round(y) + 0.5);
    ctx.lineTo(g.plot.x + g.plot.w, Math.round(y) + 0.5);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function drawOne(ctx, g, a) {
    var plot = g.plot;
    var bottom = plot.y + plot.h;
    if (a.kind === "zone") {
      var top = g.priceToY(a.price_high);
      var low = g.priceToY(a.price);
      if (low < plot.y || top > bottom) return false;
      ctx.fillStyle = rgba(a.color, 0.2);
      ctx.fillRect(plot.x, top, plot.w, low - top);
      hline(ctx, g, top, a.color, [6, 3]);
      hline(ctx, g, low, a.color, [6, 3]);
      tag(ctx, (a.label || "zone") + "  " + priceText(a.price) + " – " + priceText(a.price_high), plot.x + 6, Math.max(plot.y + 9, top + 10));
      return true;
    }
    var y = g.priceToY(a.price);
    if (y < plot.y || y > bottom) return false;
    if (a.kind === "level") {
      hline(ctx, g, y, a.color);
      tag(ctx, (a.label ? a.label + "  " : "") + priceText(a.price), plot.x + 6, Math.max(plot.y + 9, y - 10));
      return true;
    }
    if (a.time < g.timeStart || a.time > g.timeEnd) return false; // a note outside this timeframe's window
    var x = g.timeToX(a.time);
    ctx.fillStyle = a.color;
    ctx.strokeStyle = "#0d1117";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x, y - 6);
    ctx.lineTo(x + 6, y);
    ctx.lineTo(x, y + 6);
    ctx.lineTo(x - 6, y);
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    var text = a.label || priceText(a.price);
    var left = x + 9 + ctx.measureText(text).width + 8 > plot.x + plot.w ? x - 17 - ctx.measureText(text).width : x + 9;
    tag(ctx, text, left, y, a.color);
    return true;
  }

  function drawAll(canvas, g) {
    var ctx = g.ctx;
    var list = annotations();
    var drawn = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(g.plot.x, g.plot.y, g.plot.w, g.plot.h);
    ctx.clip();
    for (var i = 0; i < list.length; i++) if (drawOne(ctx, g, list[i])) drawn++;
    ctx.restore();
    canvas.dataset.annotationsDrawn = String(drawn);
  }

  function redraw() {
    var canvas = document.querySelector("canvas.heatmap");
    if (canvas) canvas.dispatchEvent(new CustomEvent("liq:map-redraw"));
  }

  // ---- the quick form -----------------------------------------------------------------------

  function element(tagName, attrs, text) {
    var node = document.createElement(tagName);
    for (var key in attrs) if (Object.prototype.hasOwnProperty.call(attrs, key)) node.setAttribute(key, attrs[key]);
    if (text) node.textContent = text;
    return node;
  }

  function labelled(form, text, input) {
    var label = element("label", { for: input.id }, text);
    form.appendChild(label);
    form.appendChild(input);
    return [label, input];
  }

  function buildForm(wrap, quote) {
    var form = element("form", { class: "annotation-popover", method: "post", hidden: "" });
    var kind = element("select", { name: "kind", id: "annotation-kind" });
    for (var i = 0; i < KINDS.length; i++) kind.appendChild(element("option", { value: KINDS[i] }, KINDS[i]));
    labelled(form, "Kind", kind);
    labelled(form, "Price (" + quote + ")", element("input", { name: "price", id: "annotation-price", type: "number", step: "any", required: "" }));
    form.highRow = labelled(form, "High (" + quote + ")", element("input", { name: "price_high", id: "annotation-price-high", type: "number", step: "any" }));
    form.timeRow = labelled(form, "Time (UTC)", element("input", { name: "time_text", id: "annotation-time", type: "text", readonly: "" }));
    labelled(form, "Label", element("input", { name: "label", id: "annotation-label", type: "text", maxlength: "80" }));
    labelled(form, "Colour", element("input", { name: "color", id: "annotation-color", type: "color", value: "#58a6ff" }));
    form.appendChild(element("input", { name: "time", type: "hidden" }));
    form.errors = element("p", { class: "errors", role: "alert" });
    form.appendChild(form.errors);
    var actions = element("div", { class: "actions" });
    var cancel = element("button", { type: "button" }, "Cancel");
    actions.appendChild(cancel);
    actions.appendChild(element("button", { type: "submit" }, "Add"));
    form.appendChild(actions);
    kind.addEventListener("change", function () {
      showKind(form);
    });
    cancel.addEventListener("click", function () {
      form.hidden = true;
    });
    form.addEventListener("keydown", function (event) {
      if (event.key === "Escape") form.hidden = true;
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit(form);
    });
    wrap.appendChild(form);
    return form;
  }

  function showKind(form) {
    var kind = form.elements.kind.value;
    for (var i = 0; i < 2; i++) {
      form.highRow[i].hidden = kind !== "zone";
      form.timeRow[i].hidden = kind !== "note";
    }
    if (kind === "zone" && !form.elements.price_high.value) {
      var price = parseFloat(form.elements.price.value);
      if (price > 0) form.elements.price_high.value = (price * 1.005).toPrecision(6);
    }
  }

  function utcText(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function openForm(canvas, detail) {
    var box = panel();
    if (!box) return;
    var wrap = canvas.parentElement;
    var form = wrap.querySelector("form.annotation-popover") || buildForm(wrap, box.dataset.quote || detail.quote);
    form.reset();
    form.errors.textContent = "";
    form.elements.price.value = detail.price.toPrecision(6);
    form.elements.time.value = new Date(detail.time).toISOString();
    form.elements.time_text.value = utcText(detail.time);
    showKind(form);
    form.hidden = false;
    var left = Math.min(detail.x + 12, wrap.clientWidth - form.offsetWidth - 4);
    var top = Math.min(detail.y + 12, wrap.clientHeight - form.offsetHeight - 4);
    form.style.left = Math.max(0, left) + "px";
    form.style.top = Math.max(0, top) + "px";
    form.elements.label.focus();
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function submit(form) {
    var box = panel();
    if (!box) return;
    var f = form.elements;
    var payload = { asset: box.dataset.asset, kind: f.kind.value, price: parseFloat(f.price.value), label: f.label.value, color: f.color.value };
    if (payload.kind === "zone") payload.price_high = parseFloat(f.price_high.value);
    if (payload.kind === "note") payload.time = f.time.value;
    form.errors.textContent = "";
    fetch(box.dataset.apiUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(payload),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (result) {
        if (!result.ok) {
          form.errors.textContent = describe(result.body);
          return;
        }
        form.hidden = true;
        refreshPanel();
      })
      .catch(function (error) {
        form.errors.textContent = "Could not save (" + error.message + ").";
      });
  }

  function describe(body) {
    if (!body || typeof body !== "object") return "Could not save.";
    if (body.detail) return body.detail;
    var parts = [];
    for (var key in body) if (Object.prototype.hasOwnProperty.call(body, key)) parts.push(key + ": " + [].concat(body[key]).join(" "));
    return parts.join(" · ");
  }

  function refreshPanel() {
    var box = panel();
    if (!box) return;
    if (!window.htmx) {
      window.location.reload();
      return;
    }
    // The swap settles with htmx:afterSettle, which redraws the map with the new list.
    window.htmx.ajax("GET", box.dataset.refreshUrl, { target: "#annotation-panel", swap: "outerHTML" });
  }

  // ---- wiring -------------------------------------------------------------------------------

  document.addEventListener("liq:map-drawn", function (event) {
    drawAll(event.target, event.detail);
  });
  document.addEventListener("liq:map-click", function (event) {
    openForm(event.target, event.detail);
  });
  // The panel was swapped (a delete, a refresh after an add): draw the map again from its new list.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (panel() && event.target && (event.target.id === "annotation-panel" || event.target.contains(panel()))) redraw();
  });
})();
