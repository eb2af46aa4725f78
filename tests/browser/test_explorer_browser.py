"""The map explorer in headless Chromium: the liquidation map's legend toggles a tier and the heat map
follows, the leverage bands and the exchanges toggle, and every swap keeps the whole URL (side,
intensity, filters) in the address bar, the tabs and a reload. Screenshots go to var/artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from heatmaps.views.common import exchange_name
from tests.heatmaps.explorer_data import add_bybit_open_interest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"
STATE = "document.querySelector('canvas.heatmap').__heatmap"
# The map drawn is the one read from the API with exactly these parameters.
DRAWN = """want => {
  const c = document.querySelector('canvas.heatmap');
  if (!c || !c.__heatmap || !c.__heatmap.drawn) return false;
  const got = Object.fromEntries(new URL(c.dataset.heatmapSrc, location.href).searchParams);
  return JSON.stringify(Object.keys(got).sort().map(k => [k, got[k]])) === JSON.stringify(Object.keys(want).sort().map(k => [k, want[k]]));
}"""


@pytest.fixture
def sample(transactional_db: None) -> Asset:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    add_bybit_open_interest(btc)
    heatmap_compute(asset=btc, timeframes=["24h", "1w"])
    return btc


def url_query(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def view_of(page: Any) -> list[float]:
    """The window the map shows: first and last time (ms), lowest and highest price."""
    return [float(v) for v in page.evaluate("document.querySelector('canvas.heatmap').dataset.view").split(",")]


def wait_drawn(page: Any, **api: str) -> dict[str, Any]:
    page.wait_for_function(DRAWN, arg={"cells": "packed", **api})
    return page.evaluate(f"() => {{ const d = {STATE}.data; return {{ filter: d.filter, lmap: d.liquidation_map }}; }}")


def test_legend_bands_and_exchanges_toggle_the_map_and_keep_the_url(live_server: Any, page: Any, sample: Asset) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w&side=long&min=1000")
    whole = wait_drawn(page, timeframe="1w", side="long")
    assert whole["filter"]["tiers"] is None
    page.evaluate("window.__marker = 'same page'")

    # The legend: 100x out. The heat map and the liquidation map are redrawn from the filtered run.
    page.locator(".liqmap-legend a.tier", has_text="100×").click()
    page.wait_for_url(lambda url: "tiers=" in url)
    assert url_query(page) == {"tf": "1w", "side": "long", "min": "1000", "tiers": "5,10,25,50"}
    shown = wait_drawn(page, timeframe="1w", side="long", tiers="5,10,25,50")
    assert shown["filter"]["tiers"] == [5, 10, 25, 50]
    assert sum(shown["lmap"]["tier_long"][4]) == 0 and sum(whole["lmap"]["tier_long"][4]) > 0
    assert shown["lmap"]["total_long"] < whole["lmap"]["total_long"]
    assert page.locator(".liqmap-legend a.tier-off", has_text="100×").is_visible()
    assert page.evaluate("window.__marker") == "same page"  # swapped in place, not reloaded

    # A band, then one exchange's open interest: each keeps side and intensity.
    page.locator("nav.explore-leverage a", has_text="High").click()
    page.wait_for_url(lambda url: "lev=high" in url)
    wait_drawn(page, timeframe="1w", side="long", lev="high")
    page.locator("nav.explore-exchanges a", has_text=exchange_name("bybit")).click()
    page.wait_for_url(lambda url: "exchange=" in url)
    assert url_query(page) == {"tf": "1w", "side": "long", "min": "1000", "lev": "high", "exchange": "binance"}
    shown = wait_drawn(page, timeframe="1w", side="long", lev="high", exchange="binance")
    assert shown["filter"]["exchanges"] == ["binance"]
    assert "high leverage" in page.locator("[data-testid=explore-shown]").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explorer-1w-high-binance.png"), full_page=True)

    # Another timeframe keeps every filter; a reload draws the same map; back returns to the previous one.
    page.locator("nav.tabs a", has_text="24h").click()
    page.wait_for_url(lambda url: "tf=24h" in url)
    assert url_query(page) == {"tf": "24h", "side": "long", "min": "1000", "lev": "high", "exchange": "binance"}
    wait_drawn(page, timeframe="24h", side="long", lev="high", exchange="binance")
    page.reload()
    wait_drawn(page, timeframe="24h", side="long", lev="high", exchange="binance")
    page.go_back()
    page.wait_for_url(lambda url: "tf=1w" in url)
    wait_drawn(page, timeframe="1w", side="long", lev="high", exchange="binance")
    # "whole map" clears the filters and keeps the rest
    page.locator("a.explore-clear").click()
    page.wait_for_url(lambda url: "lev=" not in url and "exchange=" not in url)
    assert url_query(page) == {"tf": "1w", "side": "long", "min": "1000"}
    wait_drawn(page, timeframe="1w", side="long")
    assert errors == []


def test_brackets_and_the_slider_step_the_map_through_its_past(live_server: Any, page: Any, sample: Asset) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w&lev=mid")
    wait_drawn(page, timeframe="1w", side="both", lev="mid")
    assert page.locator("[data-testid=moment]").inner_text() == "now"
    page.locator("canvas.heatmap").focus()
    for _ in range(3):  # three columns back, one key press each
        before = page.url
        page.keyboard.press("[")
        page.wait_for_function("u => location.href !== u", arg=before)
        page.wait_for_selector("[data-testid=moment].moment-past")
    at = url_query(page)["at"]
    assert url_query(page) == {"tf": "1w", "lev": "mid", "at": at}
    shown = wait_drawn(page, timeframe="1w", side="both", lev="mid", at=at)
    assert shown["filter"]["at"].startswith(at[:16].replace("Z", ""))
    assert page.locator("[data-testid=moment]").inner_text() == at.replace("T", " ").replace("Z", " UTC")
    before = page.url
    page.keyboard.press("]")
    page.wait_for_function("u => location.href !== u", arg=before)
    assert url_query(page)["at"] > at  # one column later
    # The slider to its far left: the first column's end, every other setting kept.
    first_ms = int(page.eval_on_selector(".explore-moment input[type=range]", "el => el.min"))
    first = datetime.fromtimestamp(first_ms / 1000, UTC)
    page.eval_on_selector(
        ".explore-moment input[type=range]",
        "el => { el.value = el.min; el.dispatchEvent(new Event('change', { bubbles: true })); }",
    )
    page.wait_for_selector(f"[data-testid=moment]:text('{first:%Y-%m-%d %H:%M} UTC')")
    query = url_query(page)
    assert query["lev"] == "mid" and query["tf"] == "1w" and query["at"] == str(first_ms)  # as the slider sent it
    shown = wait_drawn(page, timeframe="1w", side="both", lev="mid", at=f"{first:%Y-%m-%dT%H:%MZ}")
    assert shown["filter"]["at"].startswith(f"{first:%Y-%m-%dT%H:%M}")
    assert errors == []


def test_the_zoomed_window_rides_in_the_url_through_the_filters(live_server: Any, page: Any, sample: Asset) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w&side=short")
    wait_drawn(page, timeframe="1w", side="short")
    assert "zoom" not in url_query(page)
    page.locator("canvas.heatmap").focus()
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.wait_for_function("() => new URL(location.href).searchParams.has('zoom')")
    zoom = url_query(page)["zoom"]
    view = view_of(page)
    # A filter toggle keeps the window: the URL it pushes and the map it draws.
    page.locator("nav.explore-leverage a", has_text="High").click()
    page.wait_for_url(lambda url: "lev=high" in url)
    assert url_query(page) == {"tf": "1w", "side": "short", "lev": "high", "zoom": zoom}
    wait_drawn(page, timeframe="1w", side="short", lev="high")
    assert view_of(page) == pytest.approx(view, rel=1e-8)
    # A shared link (a fresh page) opens on the same window.
    shared = page.url
    fresh = page.context.new_page()
    fresh.goto(shared)
    wait_drawn(fresh, timeframe="1w", side="short", lev="high")
    assert view_of(fresh) == pytest.approx(view, rel=1e-8)
    fresh.close()
    # Another timeframe is another window: the zoom is left behind, the filters are kept.
    page.locator("nav.tabs a", has_text="24h").click()
    page.wait_for_url(lambda url: "tf=24h" in url)
    assert url_query(page) == {"tf": "24h", "side": "short", "lev": "high"}
    # Reset zoom takes it out of the URL.
    wait_drawn(page, timeframe="24h", side="short", lev="high")
    page.locator("canvas.heatmap").focus()
    page.keyboard.press("+")
    page.wait_for_function("() => new URL(location.href).searchParams.has('zoom')")
    page.keyboard.press("0")
    page.wait_for_function("() => !new URL(location.href).searchParams.has('zoom')")
    assert errors == []


def test_compare_opens_from_the_map_with_both_maps_and_their_difference(
    live_server: Any, page: Any, sample: Asset
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w&lev=high")
    wait_drawn(page, timeframe="1w", side="both", lev="high")
    page.locator("a.explore-compare").click()
    page.wait_for_url(lambda url: "/compare/" in url)
    assert url_query(page) == {"tf": "1w", "a": "lev=high"}
    for name in ("a", "b", "diff"):  # every picture loads (a broken one has no natural width)
        page.wait_for_function(
            "n => { const i = document.querySelector(`[data-testid=png-${n}]`); return i && i.complete && i.naturalWidth === 900; }",
            arg=name,
        )
    assert "whole map" in page.locator("figcaption").nth(1).inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explorer-compare.png"), full_page=True)
    assert errors == []
