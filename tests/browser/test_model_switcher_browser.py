"""The model switcher in headless Chromium: v2 and back to v1 swap the map in place, the address bar and
the timeframe tabs keep the model with the other filters, the map drawn is the API's map of that model,
and a reload draws the same. Screenshots go to var/artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from tests.browser.test_explorer_browser import url_query, wait_drawn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"


@pytest.fixture
def sample(transactional_db: None) -> Asset:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h", "1w"])
    heatmap_compute(asset=btc, timeframes=["24h", "1w"], model="v2", summary=False)
    return btc


def test_the_switcher_swaps_the_model_and_keeps_the_url(live_server: Any, page: Any, sample: Asset) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w&side=long&lev=high")
    v1 = wait_drawn(page, timeframe="1w", side="long", lev="high")
    assert "model v1" in page.locator("[data-testid=model-shown]").inner_text()
    page.evaluate("window.__marker = 'same page'")

    page.locator("[data-testid=model-switcher] a", has_text="v2").click()
    page.wait_for_url(lambda url: "model=v2" in url)
    assert url_query(page) == {"tf": "1w", "side": "long", "lev": "high", "model": "v2"}
    v2 = wait_drawn(page, timeframe="1w", side="long", lev="high", model="v2")
    assert v2["filter"]["lev"] == "high"
    shown = page.locator("[data-testid=model-shown]").inner_text()
    assert "model v2" in shown and "swept on" in shown
    assert v2["lmap"]["total_long"] != v1["lmap"]["total_long"]
    assert page.evaluate("window.__marker") == "same page"  # swapped in place, not reloaded
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "model-switcher-1w-v2.png"), full_page=True)

    # Another timeframe keeps the model and the filters; a reload draws the same map.
    page.locator("nav.tabs a", has_text="24h").click()
    page.wait_for_url(lambda url: "tf=24h" in url)
    assert url_query(page) == {"tf": "24h", "side": "long", "lev": "high", "model": "v2"}
    wait_drawn(page, timeframe="24h", side="long", lev="high", model="v2")
    page.reload()
    wait_drawn(page, timeframe="24h", side="long", lev="high", model="v2")
    assert "model v2" in page.locator("[data-testid=model-shown]").inner_text()

    # Back to v1: the model leaves the URL, the filters stay.
    page.locator("[data-testid=model-switcher] a", has_text="v1").click()
    page.wait_for_url(lambda url: "model=" not in url)
    assert url_query(page) == {"tf": "24h", "side": "long", "lev": "high"}
    wait_drawn(page, timeframe="24h", side="long", lev="high")
    assert not errors, errors


DRAWN_ANY = (
    "() => { const c = document.querySelector('canvas.heatmap'); return !!(c && c.__heatmap && c.__heatmap.drawn); }"
)


def test_a_trader_reaches_model_settings_from_the_switcher_without_moving_the_map(
    live_server: Any, page: Any, sample: Asset, alice: Any
) -> None:
    from tests.browser.test_personal_browser import sign_in

    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w")
    page.wait_for_function(DRAWN_ANY)
    assert page.locator("[data-testid=model-settings]").count() == 0
    visitor_top = page.locator("canvas.heatmap").bounding_box()["y"]
    sign_in(page, live_server, alice)
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=1w")
    page.wait_for_function(DRAWN_ANY)
    link = page.locator("[data-testid=model-switcher] [data-testid=model-settings]")
    assert link.is_visible() and link.get_attribute("aria-label") == "Model settings…"
    page.screenshot(path=str(ARTIFACTS / "model-switcher-settings-1280.png"))
    # The toolbar stays one line: the map starts where a visitor's does.
    assert page.locator("canvas.heatmap").bounding_box()["y"] == visitor_top
    # Zooming rewrites the map's own links to keep the window; never this one, to another page.
    box = page.locator("canvas.heatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_function("() => new URL(location.href).searchParams.has('zoom')")
    assert link.get_attribute("href") == "/account/models/"
    link.click()
    page.wait_for_function("() => location.pathname === '/account/models/'")
    assert "alice" in page.content()
