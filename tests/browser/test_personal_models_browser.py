"""A trader in headless Chromium sets up a model of her own on Model settings: a bad margin is refused
next to its field without a reload, the corrected model is saved, and "Draw BTCUSDT with this model"
opens the asset page with the map drawn with it and its name in the map's title."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import PersonalModel, User
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from tests.browser.test_heatmap_page import DRAWN, LIT_PIXELS, console_errors, screenshot
from tests.browser.test_personal_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME = "Quick fade 25x heavy"


def test_set_up_a_model_and_draw_a_map_with_it(live_server: Any, page: Any, alice: User) -> None:
    load_sample_data()
    heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["24h"])
    sign_in(page, live_server, alice)
    page.set_viewport_size({"width": 1400, "height": 900})
    errors = console_errors(page)

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Models", exact=True).click()
    page.wait_for_url("**/account/models/")
    page.get_by_role("heading", name="Model settings").wait_for()

    # The form starts from the v2 defaults; change the tiers' mix, shorten one half-life.
    page.fill("#pm-name", NAME)
    rows = page.locator("table.tier-table tbody tr")
    assert rows.count() >= 3
    leverages = [page.input_value(f"#tier-{i}-leverage") for i in range(rows.count())]
    filled = [i for i, value in enumerate(leverages) if value]
    assert len(filled) >= 2, leverages
    first, second = filled[0], filled[1]
    for i in filled:
        page.fill(f"#tier-{i}-weight", "0")
    page.fill(f"#tier-{first}-weight", "40")
    page.fill(f"#tier-{second}-weight", "60")
    page.fill(f"#tier-{second}-half_life", "6")

    # A margin above 5 %: refused beside its field, the page not reloaded (HTMX swaps the form only).
    page.evaluate("window.__notReloaded = true")
    page.fill("#pm-mmr", "7")
    page.get_by_role("button", name="Save model").click()
    page.locator("#pm-mmr-error").wait_for()
    assert "0.05" in page.inner_text("#pm-mmr-error")
    assert page.evaluate("window.__notReloaded") is True
    assert page.input_value("#pm-name") == NAME  # what she typed is kept
    assert not PersonalModel.objects.exists()

    page.fill("#pm-mmr", "0.5")
    page.get_by_role("button", name="Save model").click()
    page.get_by_role("heading", name=NAME).wait_for()
    saved = PersonalModel.objects.get(user=alice)
    assert page.url.endswith(f"/account/models/{saved.pk}/")
    page.get_by_text(f"Model “{NAME}” saved.").wait_for()
    screenshot(page, "personal-model-saved.png")

    page.get_by_role("link", name="Draw BTCUSDT with this model").click()
    page.wait_for_url(f"**/assets/BTCUSDT/?model=mine:{saved.pk}")
    shown = page.get_by_test_id("model-shown")
    shown.wait_for()
    assert NAME in shown.inner_text()
    page.wait_for_function(
        "() => { const c = document.querySelector('canvas.heatmap'); return c && c.__heatmap && c.__heatmap.drawn; }"
    )
    src = page.evaluate("document.querySelector('canvas.heatmap').dataset.heatmapSrc")
    assert f"model=mine%3A{saved.pk}" in src or f"model=mine:{saved.pk}" in src
    page.wait_for_function(DRAWN, arg=src)
    assert page.evaluate(LIT_PIXELS) > 5_000
    screenshot(page, "personal-model-map.png")
    assert errors == []
