"""The asset page in headless Chromium: the canvas map, HTMX timeframe tabs, the tooltip and the back button."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import insert_liquidations, load_sample_data
from heatmaps.models import Asset
from heatmaps.rows import LiquidationRow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def compute(asset: Asset, timeframes: list[str]) -> None:
    heatmap_compute(asset=asset, timeframes=timeframes)


# Pixels clearly brighter than the page background (13, 17, 23): heat, candles and axis labels.
LIT_PIXELS = """() => {
  const canvas = document.querySelector("canvas.heatmap");
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] > 150) lit++;
  return lit;
}"""
DRAWN = "src => { const c = document.querySelector('canvas.heatmap'); return c && c.dataset.heatmapSrc === src && c.__heatmap && c.__heatmap.drawn; }"


def wait_drawn(page: Any, timeframe: str) -> None:
    page.wait_for_function(DRAWN, arg=f"/api/assets/BTCUSDT/heatmaps/{timeframe}/")
    assert page.evaluate(LIT_PIXELS) > 5_000


def screenshot(page: Any, name: str) -> None:
    """Set LIQ_SCREENSHOTS=<dir> to keep screenshots of the page for a look."""
    if directory := os.environ.get("LIQ_SCREENSHOTS"):
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / name), full_page=True)


def test_map_tabs_tooltip_and_back_button(live_server: Any, page: Any) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    compute(btc, ["24h", "1w"])
    # Two recorded liquidations inside the 24h window: drawn as circles over the map.
    insert_liquidations(
        asset=btc,
        exchange=btc.reference_exchange,
        rows=[
            LiquidationRow("BTCUSDT", 1_769_700_000_000, "long", 84_900.0, 3.0, 254_700.0, "a"),
            LiquidationRow("BTCUSDT", 1_769_690_000_000, "short", 86_100.0, 1.0, 86_100.0, "b"),
        ],
    )
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/")
    wait_drawn(page, "24h")
    assert page.locator(".badge-simulated").is_visible()
    assert "computed" in page.locator(".provenance").inner_text()
    screenshot(page, "heatmap-24h.png")

    # The 1w tab swaps the panel in place and pushes ?tf=1w; the page itself is not reloaded.
    page.evaluate("window.__marker = 'same page'")
    page.locator("nav.tabs a", has_text=re.compile(r"^1w$")).click()
    page.wait_for_url(re.compile(r"/assets/BTCUSDT/\?tf=1w$"))
    page.wait_for_selector("#heatmap-panel[data-timeframe='1w']")
    assert page.locator("nav.tabs a[aria-current='page']").inner_text() == "1w"
    wait_drawn(page, "1w")
    assert page.evaluate("window.__marker") == "same page"
    assert page.title().startswith("BTCUSDT 1w")

    # Hovering the map shows the stored values under the pointer.
    box = page.locator("canvas.heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
    tooltip = page.locator(".map-tooltip")
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()
    assert "UTC" in text and "$" in text and "longs" in text and "shorts" in text and "USDT" in text
    screenshot(page, "heatmap-1w-tooltip.png")

    # Back returns to the 24h map, restored by htmx without a reload, and draws it again.
    page.go_back()
    page.wait_for_url(re.compile(r"/assets/BTCUSDT/$"))
    page.wait_for_selector("#heatmap-panel[data-timeframe='24h']")
    wait_drawn(page, "24h")
    assert page.locator("nav.tabs a[aria-current='page']").inner_text() == "24h"
    assert page.evaluate("window.__marker") == "same page"

    # Pinning the colour scale keeps it across timeframes, so two maps compare cell for cell.
    lit_auto = page.evaluate(LIT_PIXELS)
    page.fill(".pin-scale input[name=full]", "1000000000")
    page.click(".pin-scale button")
    page.wait_for_url(re.compile(r"full=1000000000"))
    page.wait_for_selector("canvas.heatmap[data-full-usd]")
    wait_drawn_pinned = (
        "() => { const c = document.querySelector('canvas.heatmap'); return c.__heatmap && c.__heatmap.drawn; }"
    )
    page.wait_for_function(wait_drawn_pinned)
    assert "(pinned)" in page.locator(".legend").inner_text()
    assert page.evaluate(LIT_PIXELS) < lit_auto  # $1B at full intensity: a much darker map
    page.locator("nav.tabs a", has_text=re.compile(r"^1w$")).click()
    page.wait_for_url(re.compile(r"tf=1w&full=1000000000"))
    page.wait_for_selector("#heatmap-panel[data-timeframe='1w'] canvas.heatmap[data-full-usd]")
