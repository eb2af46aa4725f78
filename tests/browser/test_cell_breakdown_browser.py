"""The map's tooltip splits the hovered cell by leverage tier and by exchange, and the cluster list
gives each cluster's exchange mix, in headless Chromium on the sample with a second exchange's open
interest. Both are the breakdown API's figures for the map on screen."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from tests.heatmaps.explorer_data import add_bybit_open_interest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE = "document.querySelector('canvas.heatmap').__heatmap"
# The page position of the map's busiest cell (largest long + short USD) at the current zoom.
BUSIEST = f"""() => {{
  const s = {STATE}, d = s.data, g = s.grid, l = s.layout;
  let best = -1, at = 0;
  for (let i = 0; i < g.long.length; i++) {{ const v = g.long[i] + g.short[i]; if (v > best) {{ best = v; at = i; }} }}
  const col = Math.floor(at / d.bins), bin = at % d.bins;
  const binW = (d.price_hi - d.price_lo) / d.bins;
  const r = s.canvas.getBoundingClientRect();
  return {{ x: r.left + l.x(d.times[col] + d.bar_seconds * 500), y: r.top + l.y(d.price_lo + (bin + 0.5) * binW),
           col: col, bin: bin, usd: best }};
}}"""


@pytest.fixture
def sample(transactional_db: None) -> Asset:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    add_bybit_open_interest(btc)
    heatmap_compute(asset=btc, timeframes=["24h"])
    return btc


def test_tooltip_splits_the_cell_by_tier_and_exchange(live_server: Any, page: Any, sample: Asset) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?timeframe=24h")
    page.wait_for_function(f"() => {STATE} && {STATE}.drawn")
    cell = page.evaluate(BUSIEST)
    assert cell["usd"] > 0
    page.mouse.move(cell["x"], cell["y"])
    page.wait_for_function("() => document.querySelector('.map-tooltip .breakdown')", timeout=10_000)
    tip = page.locator(".map-tooltip")
    assert tip.get_attribute("data-col") == str(cell["col"])
    text = tip.inner_text()
    assert "by tier" in text and "by exchange" in text
    shown = json.loads(tip.get_attribute("data-breakdown") or "{}")
    # The tiers add up to the cell the tooltip shows (the page's grid is the stored codec's).
    total = float(tip.get_attribute("data-long") or 0) + float(tip.get_attribute("data-short") or 0)
    assert sum(usd for _, usd in shown["tiers"]) == pytest.approx(total, rel=0.02)
    assert {code for code, _ in shown["exchanges"]} == {"binance", "bybit"}
    # The cluster list: each row says how its USD splits between the exchanges' own maps.
    page.wait_for_function("() => [...document.querySelectorAll('.cluster-exchanges')].some(s => s.textContent)")
    mix = page.locator("table.clusters .cluster-exchanges").first.inner_text()
    assert "Binance" in mix and "%" in mix
    assert not errors, errors
