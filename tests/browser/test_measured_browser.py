"""Hyperliquid's measured positions drawn over the liquidation map, with their coverage, and a toggle."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset, Exchange, HyperliquidAccount, MeasuredPosition, OpenInterest

STATE = "document.querySelector('canvas.heatmap')"


@pytest.mark.django_db(transaction=True)
def test_measured_outlines_and_their_coverage_on_the_asset_page(live_server: Any, page: Any) -> None:
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h"])
    hyper = Exchange.get_supported("hyperliquid")
    btc.exchanges.add(hyper)
    price = btc.heatmaps.get(timeframe="24h").current_price
    assert price is not None
    newest = OpenInterest.objects.filter(asset=btc).latest("time")
    OpenInterest.objects.create(asset=btc, exchange=hyper, time=newest.time, oi_base=10.0, oi_value=500_000.0)
    account = HyperliquidAccount.objects.create(address="0x" + "1" * 40, source="operator", added_at=timezone.now())
    MeasuredPosition.objects.create(
        account=account, coin="BTC", side="long", size=1.0, entry_price=price, notional_usd=100_000.0,
        liquidation_price=price * 0.97, leverage=20, swept_at=timezone.now(),
    )  # fmt: skip

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/assets/BTCUSDT/?tf=24h")
    page.wait_for_function(f"() => {STATE} && {STATE}.dataset.measured === 'shown'")
    toggle = page.locator(".measured-toggle")
    assert "covers 10 %" in toggle.text_content()  # 100 000 of 2 × 500 000 USD of positions
    toggle.click()
    page.wait_for_function(f"() => {STATE}.dataset.measured === ''")
    assert toggle.get_attribute("aria-pressed") == "false"
