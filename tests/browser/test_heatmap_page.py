"""The overview and the asset page in headless Chromium: sorting, HTMX timeframe swaps and history,
intensity handles, the side filter, zoom and reset, the tooltip against the stored grid, panels on
the map's time axis, keyboard navigation, draw time, and no console errors. Screenshots go to
var/artifacts/ (kept by CI)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from heatmaps.maps import heatmap_compute, read_heatmap
from heatmaps.marketdata import insert_liquidations, load_sample_data
from heatmaps.models import Asset
from heatmaps.rows import LiquidationRow
from heatmaps.views.overview import COLUMNS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"

# Pixels clearly brighter than the page background (13, 17, 23): heat, candles and axis labels.
LIT_PIXELS = """() => {
  const canvas = document.querySelector("canvas.heatmap");
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] > 150) lit++;
  return lit;
}"""
DRAWN = "src => { const c = document.querySelector('canvas.heatmap'); return c && c.dataset.heatmapSrc === src && c.__heatmap && c.__heatmap.drawn && c.__heatmap.panels; }"
STATE = "document.querySelector('canvas.heatmap').__heatmap"


def wait_drawn(page: Any, timeframe: str, side: str = "both") -> None:
    """Until the map drawn is the one read from the public API for this timeframe and side."""
    page.wait_for_function(DRAWN, arg=f"/api/v1/assets/BTCUSDT/heatmap/?timeframe={timeframe}&side={side}&cells=packed")
    assert page.evaluate(LIT_PIXELS) > 5_000


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def console_errors(page: Any) -> list[str]:
    """Console errors of the page, less the live event stream's refusal: this test server is WSGI, which
    answers the stream with 503 (it is served by the ASGI process; tests/browser/test_live_browser.py)."""
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.location.get("url", "").split("?")[0].endswith("/events"):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def sample(transactional_db: None) -> Asset:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h", "1w", "1y"])
    heatmap_compute(asset=Asset.objects.get(symbol="ETHUSDT"), timeframes=["24h"])
    insert_liquidations(
        asset=btc,
        exchange=btc.reference_exchange,
        rows=[
            LiquidationRow("BTCUSDT", 1_769_700_000_000, "long", 84_900.0, 3.0, 254_700.0, "a"),
            LiquidationRow("BTCUSDT", 1_769_690_000_000, "short", 86_100.0, 1.0, 86_100.0, "b"),
        ],
    )
    return btc


def test_overview_sorts_by_every_column_and_links_to_the_map(live_server: Any, page: Any, sample: Asset) -> None:
    errors = console_errors(page)
    page.set_viewport_size({"width": 1500, "height": 900})
    page.goto(f"{live_server.url}/")
    page.evaluate("window.__marker = 'same page'")
    for column in COLUMNS:
        # First click: numbers largest first, names A→Z; the second reverses.
        for direction in ("descending", "ascending") if column.numeric else ("ascending", "descending"):
            page.locator(f"th a[data-sort-key='{column.key}']").click()
            page.wait_for_selector(f"th[aria-sort='{direction}'] a[data-sort-key='{column.key}']")
            sort = page.evaluate("new URL(location.href).searchParams.get('sort')")
            assert sort.lstrip("-") == column.key and sort.startswith("-") == (direction == "descending")
    assert page.evaluate("window.__marker") == "same page"  # only the table was swapped
    symbols = page.locator("tbody tr[data-symbol]").evaluate_all("rows => rows.map(r => r.dataset.symbol)")
    assert sorted(symbols) == ["BTCUSDT", "ETHUSDT"]
    page.fill("input[name=q]", "ether")
    page.wait_for_function("() => document.querySelectorAll('tbody tr[data-symbol]').length === 1")
    assert "q=ether" in page.url
    page.fill("input[name=q]", "")
    page.wait_for_function("() => document.querySelectorAll('tbody tr[data-symbol]').length === 2")
    assert page.locator("tr[data-symbol='BTCUSDT'] .badge-stale").is_visible()
    screenshot(page, "overview.png")
    page.locator("tr[data-symbol='BTCUSDT'] a", has_text="BTCUSDT").click()
    page.wait_for_url(re.compile(r"/assets/BTCUSDT/$"))
    wait_drawn(page, "24h")
    assert errors == []


def test_asset_page_reading(live_server: Any, page: Any, sample: Asset) -> None:
    errors = console_errors(page)
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1y")
    wait_drawn(page, "1y")
    draw_ms = page.evaluate(f"() => {STATE}.drawMs")
    print(
        f"\nbrowser draw, 1y map {page.evaluate(f'() => {STATE}.data.width')}×400 + liquidation map + 3 panels: {draw_ms:.1f} ms"
    )
    page.goto(f"{live_server.url}/assets/BTCUSDT/")
    wait_drawn(page, "24h")
    # One compact status line: its chips show, the full sentences on demand.
    assert page.locator(".chip-simulated").is_visible() and page.locator(".chip-stale").is_visible()
    assert not page.locator(".badge-simulated").is_visible()
    page.locator(".status-line summary").click()
    assert page.locator(".badge-simulated").is_visible() and page.locator(".badge-stale-data").is_visible()
    page.locator(".status-line summary").click()
    screenshot(page, "asset-24h.png")

    # Timeframe tab: the panel is swapped in place, ?tf=1w pushed; the page itself is not reloaded.
    page.evaluate("window.__marker = 'same page'; document.querySelector('h1').dataset.marker = 'kept'")
    page.locator("nav.tabs a", has_text=re.compile(r"^1w$")).click()
    page.wait_for_url(re.compile(r"/assets/BTCUSDT/\?tf=1w$"))
    page.wait_for_selector("#heatmap-panel[data-timeframe='1w']")
    wait_drawn(page, "1w")
    assert page.evaluate("window.__marker") == "same page"
    assert page.evaluate("document.querySelector('h1').dataset.marker") == "kept"  # outside the swapped region
    assert page.title().startswith("BTCUSDT 1w")

    # The panels share the map's time range and plot width.
    state = page.evaluate(
        f"() => {{ const s = {STATE}; return {{ view: [s.view.t0, s.view.t1], plot: s.layout.plot.w, ranges: s.panels.ranges() }}; }}"
    )
    assert len(state["ranges"]) == 3
    for t0, t1, left, width in state["ranges"]:
        assert (t0, t1) == tuple(state["view"]) and left == 0 and abs(width - state["plot"]) <= 1

    # Hover: the tooltip reads the stored grid, with the time in UTC and in the display zone.
    box = page.locator("canvas.heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)
    tooltip = page.locator(".map-tooltip")
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()
    assert "UTC" in text and "longs" in text and "shorts" in text and "USDT" in text and "Etc/UTC" not in text
    col, bin_, long, short = (
        float(tooltip.get_attribute(f"data-{k}") or "nan") for k in ("col", "bin", "long", "short")
    )
    stored = read_heatmap(asset=sample, timeframe="1w")
    assert stored is not None
    assert long == pytest.approx(float(stored.long[int(col), int(bin_)]), rel=1e-6, abs=1e-3)
    assert short == pytest.approx(float(stored.short[int(col), int(bin_)]), rel=1e-6, abs=1e-3)
    assert page.locator(".crosshair-x").is_visible()
    screenshot(page, "asset-1w-tooltip.png")

    # Zoom with the wheel, then reset with a double-click and with the button.
    full_view = page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view")
    page.mouse.wheel(0, -600)
    page.wait_for_function("v => document.querySelector('canvas.heatmap').dataset.view !== v", arg=full_view)
    zoomed = [float(v) for v in page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view").split(",")]
    full = [float(v) for v in full_view.split(",")]
    assert zoomed[1] - zoomed[0] < (full[1] - full[0]) * 0.8
    ranges = page.evaluate(f"() => {STATE}.panels.ranges()")
    assert all(abs(r[0] - zoomed[0]) < 1 and abs(r[1] - zoomed[1]) < 1 for r in ranges)  # panels follow
    page.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    assert page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view") == full_view
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    page.mouse.wheel(0, -600)
    page.wait_for_function("v => document.querySelector('canvas.heatmap').dataset.view !== v", arg=full_view)
    page.click(".zoom-reset")
    assert page.evaluate("() => document.querySelector('canvas.heatmap').dataset.view") == full_view

    # Intensity handles: the URL and the drawn pixels change with each.
    lit_before = page.evaluate(LIT_PIXELS)
    set_range = "([sel, v]) => { const e = document.querySelector(sel); e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }"
    page.evaluate(set_range, [".handle-full", "950"])
    page.wait_for_url(re.compile(r"full=\d+"))
    lit_full = page.evaluate(LIT_PIXELS)
    assert lit_full < lit_before  # full intensity far above the 99th percentile: a darker map
    page.evaluate(set_range, [".handle-min", "700"])
    page.wait_for_url(re.compile(r"min=\d+"))
    assert page.evaluate(LIT_PIXELS) < lit_full  # cells below min are not drawn
    min_usd = float(re.search(r"min=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    assert "not drawn" in page.locator(".legend-min").inner_text()
    # A shared link shows the same picture: reload with the URL.
    page.reload()
    wait_drawn(page, "1w")
    assert page.evaluate(f"() => {STATE}.minUsd") == min_usd

    # Side filter: longs only — the URL, the clusters and the map change.
    lit_both = page.evaluate(LIT_PIXELS)
    page.locator("nav.sides a", has_text="Longs").click()
    page.wait_for_url(re.compile(r"side=long"))
    page.wait_for_selector("#heatmap-panel[data-side='long']")
    wait_drawn(page, "1w", side="long")
    assert page.evaluate(LIT_PIXELS) != lit_both
    assert "shorts" not in page.locator("table.clusters tbody").inner_text()
    assert page.evaluate(f"() => {STATE}.data.liquidations.map(p => p[3])") == ["long"]  # the circles too
    assert f"min={int(min_usd)}" in page.url  # the handles' values went along

    # Back and forward walk the swaps.
    page.go_back()
    page.wait_for_selector("#heatmap-panel[data-side='both']")
    page.go_forward()
    page.wait_for_selector("#heatmap-panel[data-side='long']")

    # Keyboard: the tabs are reachable and ← / → switch timeframe.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#heatmap-panel[data-timeframe='3d']")
    assert "tf=3d" in page.url
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#heatmap-panel[data-timeframe='1w']")
    page.locator("nav.tabs a").first.focus()
    assert page.evaluate(
        "document.activeElement.matches(':focus-visible') || document.activeElement.classList.contains('tab')"
    )

    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w")
    wait_drawn(page, "1w")
    screenshot(page, "asset-1w.png")
    assert errors == []


def test_bad_timeframe_and_unknown_symbol_pages(live_server: Any, page: Any, sample: Asset) -> None:
    response = page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=5y")
    assert response.status == 400 and page.locator("nav.tabs a").count() == 9
    page.locator("nav.tabs a", has_text=re.compile(r"^24h$")).click()
    page.wait_for_url(re.compile(r"tf=24h"))
    wait_drawn(page, "24h")
    response = page.goto(f"{live_server.url}/assets/NOPEUSDT/")
    assert response.status == 404 and page.locator("h1").inner_text() == "Not found"
