"""What a trader sees on a laptop, a tablet and a phone: the map, its price axis with the current
price, the timeframe tabs and the colour scale above the fold at 1280×720; one compact status line;
readouts under the cursor on every chart; the map at full width on narrow screens with nothing
overflowing; touch pan, pinch and tap; the keyboard help; the PNG/CSV buttons for the zoomed view.
Screenshots at each size go to var/artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from heatmaps.models import Asset, Exchange, Heatmap
from tests.browser.test_heatmap_page import STATE, console_errors, sample, screenshot, wait_drawn

__all__ = ["sample"]  # the fixture, shared with the heat-map page's tests

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAYOUT = """() => {
  const box = s => { const e = document.querySelector(s); if (!e) return null; const b = e.getBoundingClientRect();
    return {x: b.x, y: b.y, w: b.width, h: b.height, bottom: b.bottom, right: b.right}; };
  const s = document.querySelector('canvas.heatmap').__heatmap;
  const canvas = box('canvas.heatmap');
  return {
    vw: innerWidth, vh: innerHeight, page: document.documentElement.scrollWidth,
    map: canvas, liq: box('canvas.liqmap-chart'), scale: box('.legend-bar'), scaleText: box('.legend-ends'),
    tabs: box('nav.tabs'), status: box('.status-line'), panels: box('.panels'),
    priceY: canvas.y + s.layout.y(s.data.current_price), plotRight: canvas.x + s.layout.plot.w,
  };
}"""


def layout(page: Any) -> dict[str, Any]:
    return page.evaluate(LAYOUT)


@pytest.mark.parametrize("size", [(1280, 720), (1440, 900)])
def test_laptop_sees_map_price_tabs_and_scale_without_scrolling(
    live_server: Any, page: Any, sample: Asset, size: tuple[int, int]
) -> None:
    errors = console_errors(page)
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/assets/BTCUSDT/")
    wait_drawn(page, "24h")
    box = layout(page)
    print(f"\n{width}×{height}: map y={box['map']['y']:.0f} h={box['map']['h']:.0f}, scale y={box['scale']['y']:.0f}")
    assert box["tabs"]["y"] >= 0 and box["tabs"]["bottom"] <= height
    assert box["map"]["y"] < 160 and box["map"]["bottom"] <= height  # the whole map, axes included
    assert box["map"]["h"] >= 460
    assert box["map"]["y"] < box["priceY"] < box["map"]["bottom"]  # the current-price line and its label
    assert box["map"]["right"] <= width
    # The colour scale sits directly under the map, its USD ends readable, still above the fold.
    assert 0 <= box["scale"]["y"] - box["map"]["bottom"] < 12 and box["scaleText"]["bottom"] <= height
    # Stale data and simulated open interest: one line, not two stacked banners.
    assert box["status"]["h"] < 36 and box["status"]["bottom"] <= box["map"]["y"]
    assert page.locator(".status-line .chip").count() == 2
    screenshot(page, f"trader-{width}x{height}.png")
    assert errors == []


def test_status_line_details_on_demand_and_dismissed_until_it_changes(
    live_server: Any, page: Any, sample: Asset
) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live_server.url}/assets/BTCUSDT/")
    wait_drawn(page, "24h")
    map_y = layout(page)["map"]["y"]
    page.locator(".status-line summary").click()
    assert page.locator(".badge-stale-data").is_visible() and page.locator(".badge-simulated").is_visible()
    assert layout(page)["map"]["y"] == map_y  # the details open over the map, which does not move
    page.locator(".status-dismiss").click()
    assert not page.locator(".status-line").is_visible()
    page.reload()
    wait_drawn(page, "24h")
    assert not page.locator(".status-line").is_visible()  # still dismissed in this tab…
    # …but another combination of conditions (here: a feed degraded too) shows again.
    Exchange.objects.filter(code="binance").update(degraded_since=datetime(2026, 1, 29, 17, 30, tzinfo=UTC))
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w")
    wait_drawn(page, "1w")
    assert page.locator(".status-line .chip-degraded").is_visible()
    # Three conditions still make one line beside the tabs, and the map does not move down for them.
    box = layout(page)
    assert page.locator(".status-line .chip").count() == 3 and box["status"]["h"] < 36
    assert box["map"]["y"] == map_y
    screenshot(page, "trader-1280x720-degraded.png")


def test_every_chart_reads_out_under_the_cursor(live_server: Any, page: Any, sample: Asset) -> None:
    errors = console_errors(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w")
    wait_drawn(page, "1w")
    box = page.locator("canvas.heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    page.locator(".map-tooltip").wait_for(state="visible")

    readouts = {
        kind: page.locator(f".panel[data-panel='{kind}'] .panel-readout").inner_text()
        for kind in ("oi", "funding", "volume")
    }
    assert re.match(r"^\$\d[\d.]*[KMB] \([+−]\d+\.\d\d % on the column before\)", readouts["oi"]), readouts
    assert re.match(r"^-?\d\.\d{4} % settled [A-Z][a-z]{2} \d+ \d\d:\d\d UTC", readouts["funding"]), readouts
    assert re.match(r"^\$\d[\d.]*[KMB]? (total · taker buy \$|\(taker split not reported\))", readouts["volume"]), (
        readouts
    )
    # The OI readout is the API's figure for the hovered column.
    col = int(page.locator(".map-tooltip").get_attribute("data-col") or "-1")
    oi = page.evaluate(f"c => {STATE}.data.panels.oi_usd[c]", col)
    assert readouts["oi"].startswith(page.evaluate("v => window.LiqDraw.usd(v)", oi))

    # The crosshair's price on the price axis, its time on the time axis.
    price_label = page.locator(".axis-price")
    time_label = page.locator(".axis-time")
    assert price_label.is_visible() and time_label.is_visible()
    label_price = float(price_label.inner_text().replace(",", ""))
    lo, hi = (
        float(v.replace(",", "")) for v in re.findall(r"[\d,]+\.\d+", page.locator(".map-tooltip").inner_text())[:2]
    )
    assert lo - (hi - lo) <= label_price <= hi + (hi - lo)
    assert re.match(r"^\d\d-\d\d \d\d:\d\d UTC$", time_label.inner_text())
    label_box = price_label.bounding_box()
    assert label_box["x"] >= box["x"] + page.evaluate(f"() => {STATE}.layout.plot.w") - 1

    # The funding axis: labels that differ from each other (not all "0.000 %").
    labels = page.evaluate(f"() => {STATE}.panels.charts[1].axes[1]._values")
    assert len(set(labels)) == len(labels) >= 3, labels

    # The liquidation map: hover above the price reads the cumulative shorts of that bin, as stored.
    liq = page.locator("canvas.liqmap-chart").bounding_box()
    state = page.evaluate(
        f"() => {{ const s = {STATE}; return {{ top: s.layout.plot.y, price: s.layout.y(s.data.current_price) }}; }}"
    )
    page.mouse.move(liq["x"] + liq["width"] / 2, liq["y"] + (state["top"] + state["price"]) / 2)
    tip = page.locator(".liqmap-tooltip")
    tip.wait_for(state="visible")
    assert "shorts liquidated up to here $" in tip.inner_text() and "at this price $" in tip.inner_text()
    stored = Heatmap.objects.get(asset=sample, timeframe="1w").liquidation_map
    bin_ = int(tip.get_attribute("data-bin") or "-1")
    assert float(tip.get_attribute("data-cum") or "nan") == pytest.approx(stored["cum_short"][bin_], rel=1e-6)
    assert page.locator(".crosshair-y").is_visible()  # the same price on the map
    screenshot(page, "trader-readouts.png")
    assert errors == []


@pytest.fixture
def touch_page(browser: Any, request: Any) -> Iterator[Any]:
    width, height = request.param
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=True, is_mobile=True, timezone_id="UTC"
    )
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


@pytest.mark.parametrize("touch_page", [(390, 844), (768, 1024)], indirect=True, ids=["phone", "tablet"])
def test_narrow_screens_full_width_map_nothing_overflows_and_touch(
    live_server: Any, touch_page: Any, sample: Asset
) -> None:
    page = touch_page
    errors = console_errors(page)
    page.goto(f"{live_server.url}/assets/BTCUSDT/")
    wait_drawn(page, "24h")
    box = layout(page)
    width = box["vw"]
    print(
        f"\n{width}×{box['vh']}: map {box['map']['w']:.0f} px wide ({box['map']['w'] / width:.0%}), y={box['map']['y']:.0f}"
    )
    assert box["map"]["w"] >= 0.9 * width
    assert box["page"] <= width  # nothing makes the page scroll sideways
    overflowing = page.evaluate(
        "w => [...document.querySelectorAll('main *')].filter(e => { const r = e.getBoundingClientRect();"
        " return r.width && r.right > w + 1 && !e.closest('.map-toolbar, nav.tabs, .side table, .table-scroll'); })"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5)",
        width,
    )
    assert overflowing == []
    # The liquidation map and the panels go under the map, at its width.
    assert box["liq"]["y"] >= box["map"]["bottom"] and box["liq"]["w"] >= 0.9 * width
    assert box["panels"]["y"] > box["liq"]["y"]
    screenshot(page, f"trader-{width}x{box['vh']}.png")

    # Tap: the tooltip and crosshair for the tapped cell.
    canvas = box["map"]
    page.touchscreen.tap(canvas["x"] + canvas["w"] * 0.4, canvas["y"] + canvas["h"] * 0.5)
    page.locator(".map-tooltip").wait_for(state="visible")
    assert "longs" in page.locator(".map-tooltip").inner_text()
    # Pinch out: the visible time span shrinks; a one-finger horizontal drag pans it.
    cdp = page.context.new_cdp_session(page)
    cx, cy = canvas["x"] + canvas["w"] / 2, canvas["y"] + canvas["h"] / 2

    def touch(kind: str, points: list[tuple[float, float]]) -> None:
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]},
        )

    view = [float(v) for v in page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view").split(",")]
    touch("touchStart", [(cx - 20, cy), (cx + 20, cy)])
    for step in range(1, 6):
        touch("touchMove", [(cx - 20 - step * 20, cy), (cx + 20 + step * 20, cy)])
    touch("touchEnd", [])
    pinched = [
        float(v) for v in page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view").split(",")
    ]
    assert pinched[1] - pinched[0] < (view[1] - view[0]) * 0.5
    touch("touchStart", [(cx, cy)])
    for step in range(1, 6):
        touch("touchMove", [(cx + step * 15, cy)])
    touch("touchEnd", [])
    panned = [float(v) for v in page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view").split(",")]
    assert panned[0] < pinched[0] and panned[1] - panned[0] == pytest.approx(pinched[1] - pinched[0])
    assert errors == []


@pytest.mark.parametrize("size", [(390, 844), (768, 1024)], ids=["phone", "tablet"])
def test_overview_scrolls_inside_its_table_with_the_symbol_fixed(
    live_server: Any, page: Any, sample: Asset, size: tuple[int, int]
) -> None:
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    scroller = page.locator(".table-scroll")
    symbol = page.locator("tr[data-symbol='BTCUSDT'] a.symbol")
    before = symbol.bounding_box()
    if page.evaluate(
        "() => { const s = document.querySelector('.table-scroll'); return s.scrollWidth > s.clientWidth; }"
    ):
        scroller.evaluate("s => { s.scrollLeft = s.scrollWidth; }")
        after = symbol.bounding_box()
        assert after["x"] == pytest.approx(before["x"], abs=1)  # the symbol column stays put
        # …while the last column came into view.
        last = page.locator("tr[data-symbol='BTCUSDT'] td").last.bounding_box()
        assert last["x"] + last["width"] <= width + 1
    else:
        assert width > 700  # only a tablet fits the whole table
    # Every column is there (nothing cut after "24 h").
    assert page.locator("thead th").count() == 11
    screenshot(page, f"overview-{width}x{height}.png")


def test_keyboard_help_header_links_and_export_buttons(live_server: Any, page: Any, sample: Asset) -> None:
    errors = console_errors(page)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w")
    wait_drawn(page, "1w")
    nav = page.locator("nav.site-nav")
    assert nav.locator("a").all_inner_texts() == ["Markets", "Model accuracy", "API"]  # Alerts once signed in
    page.keyboard.press("?")
    help_ = page.locator("#keyboard-help")
    help_.wait_for(state="visible")
    text = help_.inner_text()
    for words in (
        "previous / next timeframe",
        "zoom in / out",
        "reset the zoom",
        "pan the map",
        "show or hide this list",
    ):
        assert words in text
    page.keyboard.press("Escape")
    help_.wait_for(state="hidden")

    # PNG and CSV: the whole map, then the zoomed window.
    png = page.locator("a.export-png")
    assert "format=png" in (png.get_attribute("href") or "") and "start=" not in (png.get_attribute("href") or "")
    box = page.locator("canvas.heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.wheel(0, -600)
    page.wait_for_function("() => document.querySelector('a.export-png').href.includes('start=')")
    href = png.get_attribute("href") or ""
    view = [float(v) for v in page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view").split(",")]
    assert f"start={int(view[0])}" in href and "price_low=" in href and "timeframe=1w" in href
    response = page.request.get(f"{live_server.url}{href}")
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    csv_href = page.locator("a.export-csv").get_attribute("href") or ""
    csv = page.request.get(f"{live_server.url}{csv_href}")
    assert csv.status == 200 and csv.text().startswith("time_utc,price,long_usd,short_usd")
    assert errors == []


def test_signed_in_header_profile_tokens_and_dark_controls(live_server: Any, page: Any, alice: Any) -> None:
    from accounts.tokens import api_token_create
    from tests.browser.test_personal_browser import sign_in

    api_token_create(user=alice, name="a bot with a long descriptive name", expires_at=None)
    sign_in(page, live_server, alice)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live_server.url}/account/profile/")
    assert page.locator("nav.site-nav a").all_inner_texts() == ["Markets", "Model accuracy", "Alerts", "API"]
    assert page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "dark"  # date pickers too
    revoke = page.locator("table.tokens button", has_text="Revoke")
    create = page.locator("button", has_text="Create token")
    colour = "e => getComputedStyle(e).backgroundColor"
    assert revoke.evaluate(colour) != create.evaluate(colour)  # not the primary (green) action
    assert revoke.evaluate("e => getComputedStyle(e).color") == "rgb(248, 81, 73)"
    # Each date on one line: a wrapped inline element has more than one box.
    assert page.locator("table.tokens tbody td.date time").count() == 1  # created; never expires, never used
    for cell in page.locator("table.tokens tbody td.date time").all():
        assert cell.evaluate("t => t.getClientRects().length") == 1
    screenshot(page, "profile-tokens.png")
