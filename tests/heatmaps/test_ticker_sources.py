"""Which exchange the periodic ticker reads for each asset: its reference exchange when that one
publishes a mark price, else the first of its exchanges that does; none when no exchange does."""

from __future__ import annotations

from typing import Any

import pytest

from heatmaps import tasks
from heatmaps.exchanges import publishes_mark_price
from heatmaps.models import Asset, Exchange

pytestmark = pytest.mark.django_db


def _asset(symbol: str, reference: str, *others: str) -> Asset:
    ref = Exchange.get_supported(reference)
    asset = Asset.objects.create(symbol=symbol, display_name=symbol, base=symbol[:-4], reference_exchange=ref)
    asset.exchanges.add(ref, *(Exchange.get_supported(code) for code in others))
    return asset


def test_the_ticker_reads_an_exchange_that_publishes_a_mark_price(monkeypatch: pytest.MonkeyPatch) -> None:
    assert publishes_mark_price("binance") and publishes_mark_price("hyperliquid")
    assert not publishes_mark_price("bybit") and not publishes_mark_price("nosuch")
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.ingest_ticker, "delay", lambda *args: sent.append(args))
    btc = _asset("BTCUSDT", "binance", "bybit")
    sol = _asset("SOLUSDT", "bybit", "okx", "hyperliquid")
    xrp = _asset("XRPUSDT", "okx", "bybit")
    assert tasks.ingest_ticker_tick() == 2
    by_asset = {Asset.objects.get(pk=a).symbol: Exchange.objects.get(pk=e).code for a, e in sent}
    assert by_asset == {"BTCUSDT": "binance", "SOLUSDT": "hyperliquid"}
    assert xrp.pk not in {a for a, _ in sent} and btc.pk in {a for a, _ in sent} and sol.pk in {a for a, _ in sent}
