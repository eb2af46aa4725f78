"""A trader in headless Chromium: star an asset without a reload, add a level by clicking the map,
see it drawn on every timeframe across HTMX tab switches, then delete it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from accounts.annotations import annotation_create
from accounts.models import Annotation, User, Watchlist
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from tests.browser.test_heatmap_page import screenshot, wait_drawn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The overlay counts what it drew on the canvas it drew on; a stale count from before a redraw is
# ruled out by also checking the map for the level's colour along its row.
ANNOTATIONS_DRAWN = (
    "() => { const c = document.querySelector('canvas.heatmap'); return c && c.dataset.annotationsDrawn; }"
)
LEVEL_PIXELS = """([r, g, b]) => {
  const canvas = document.querySelector("canvas.heatmap");
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let hits = 0;
  for (let i = 0; i < px.length; i += 4)
    if (Math.abs(px[i] - r) < 12 && Math.abs(px[i + 1] - g) < 12 && Math.abs(px[i + 2] - b) < 12) hits++;
  return hits;
}"""
ORANGE = "#ff8800"


def sign_in(page: Any, live_server: Any, user: User) -> None:
    """Log in through a session cookie, independent of whichever login pages the platform has."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def wait_annotations(page: Any, count: int) -> None:
    page.wait_for_function(f"() => ({ANNOTATIONS_DRAWN})() === '{count}'")


def test_star_then_mark_a_level_on_the_map(live_server: Any, page: Any, alice: User) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h", "1w"])
    sign_in(page, live_server, alice)
    page.set_viewport_size({"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # Star BTCUSDT on the overview: only the widget is swapped, the page stays.
    page.goto(f"{live_server.url}/")
    page.evaluate("window.__marker = 'same page'")
    star = page.locator(f"#star-{btc.pk} button.star")
    assert star.get_attribute("aria-pressed") == "false"
    star.click()
    page.wait_for_selector(f"#star-{btc.pk} button.star[aria-pressed='true']")
    assert page.evaluate("window.__marker") == "same page"
    assert page.locator("#watchlist-nav a", has_text="★ Watchlist").count() == 1  # the header learnt of the new list
    # The first list is named for the trader, who is told so and where to rename it.
    note = page.locator(f"#star-{btc.pk} .star-note")
    assert note.is_visible() and "your new list “Watchlist”" in note.inner_text()
    assert (
        note.locator("a", has_text="rename it").get_attribute("href")
        == f"/watchlists/{Watchlist.objects.get(user=alice).pk}/"
    )
    watchlist = Watchlist.objects.get(user=alice)
    assert [i.asset.symbol for i in watchlist.items.all()] == ["BTCUSDT"]

    # The list's overview shows it.
    page.locator("#watchlist-nav a", has_text="★ Watchlist").click()
    page.wait_for_url(re.compile(rf"/\?watchlist={watchlist.pk}$"))
    assert page.locator("h1").inner_text() == "Watchlist: Watchlist"
    assert page.locator("table a", has_text="ETHUSDT").count() == 0
    screenshot(page, "watchlist-overview.png")

    # Its map: click inside the plot, fill the small form, add a level.
    page.locator("table a", has_text="BTCUSDT").click()
    wait_drawn(page, "24h")
    wait_annotations(page, 0)
    box = page.locator("canvas.heatmap").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.45)
    form = page.locator("form.annotation-popover")
    form.wait_for(state="visible")
    price = float(form.locator("input[name=price]").input_value())
    assert price > 0
    form.locator("input[name=label]").fill("my level")
    form.locator("input[name=color]").evaluate(f"(el) => {{ el.value = '{ORANGE}'; }}")
    page.evaluate("window.__marker = 'same page'")
    form.locator("button[type=submit]").click()
    page.locator("#annotation-panel li", has_text="my level").wait_for()
    form.wait_for(state="hidden")
    wait_annotations(page, 1)
    assert page.evaluate(LEVEL_PIXELS, [255, 136, 0]) > 200
    assert page.evaluate("window.__marker") == "same page"
    saved = Annotation.objects.get(user=alice)
    assert (saved.kind, saved.label, saved.color) == ("level", "my level", ORANGE)
    assert saved.price == pytest.approx(price, rel=1e-5)
    screenshot(page, "annotation-level.png")

    # Switch to 1w and back with the tabs (HTMX swaps): the level is drawn each time.
    page.locator("nav.tabs a", has_text=re.compile(r"^1w$")).click()
    wait_drawn(page, "1w")
    wait_annotations(page, 1)
    assert page.evaluate(LEVEL_PIXELS, [255, 136, 0]) > 200
    page.locator("nav.tabs a", has_text=re.compile(r"^24h$")).click()
    wait_drawn(page, "24h")
    wait_annotations(page, 1)
    assert page.evaluate("window.__marker") == "same page"

    # Delete it from the panel: gone from the list and from the map, still without a reload.
    page.locator("#annotation-panel li", has_text="my level").locator("button", has_text="delete").click()
    page.wait_for_selector("#annotation-panel li", state="detached")
    wait_annotations(page, 0)
    assert page.evaluate(LEVEL_PIXELS, [255, 136, 0]) < 20
    assert not Annotation.objects.exists()
    assert page.evaluate("window.__marker") == "same page"
    assert not [e for e in errors if "Content Security Policy" in e or "annotations" in e], errors


def test_levels_zones_and_notes_are_drawn_for_their_owner_only(
    live_server: Any, page: Any, alice: User, bob: User
) -> None:
    load_sample_data()
    heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["24h"])
    annotation_create(user=alice, asset="BTCUSDT", kind="level", price=86_000.0, label="level")
    annotation_create(user=alice, asset="BTCUSDT", kind="zone", price=82_000.0, price_high=83_000.0, color=ORANGE)
    # Inside the 24h window of the sample (which ends 2026-01-29 17:05 UTC), and one far before it.
    annotation_create(
        user=alice, asset="BTCUSDT", kind="note", price=85_000.0, time=datetime(2026, 1, 29, 12, tzinfo=UTC)
    )
    annotation_create(user=alice, asset="BTCUSDT", kind="note", price=85_000.0, time=datetime(2025, 1, 1, tzinfo=UTC))
    page.set_viewport_size({"width": 1400, "height": 900})

    sign_in(page, live_server, alice)
    page.goto(f"{live_server.url}/assets/BTCUSDT/")
    wait_drawn(page, "24h")
    wait_annotations(page, 3)
    assert page.evaluate(LEVEL_PIXELS, [255, 136, 0]) > 200  # the zone's edges

    page.context.clear_cookies()
    sign_in(page, live_server, bob)
    page.goto(f"{live_server.url}/assets/BTCUSDT/")
    wait_drawn(page, "24h")
    wait_annotations(page, 0)
