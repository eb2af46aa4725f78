"""The bundled sample data set: two assets, real Binance candles and funding, simulated open interest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.db import transaction

from heatmaps.marketdata.store import ImportResult, import_market_file
from heatmaps.marketdata.summary import asset_summary_refresh
from heatmaps.models import Asset, Exchange

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
SAMPLE_ASSETS = [("BTCUSDT", "Bitcoin perpetual", "BTC"), ("ETHUSDT", "Ether perpetual", "ETH")]


def ensure_sample_assets() -> list[Asset]:
    binance = Exchange.get_supported("binance")
    assets = []
    for symbol, name, base in SAMPLE_ASSETS:
        asset, _ = Asset.objects.get_or_create(
            symbol=symbol,
            defaults={"display_name": name, "base": base, "quote": "USDT", "reference_exchange": binance},
        )
        asset.exchanges.add(binance)
        assets.append(asset)
    return assets


def load_sample_data(*, on_file: Callable[[ImportResult], None] | None = None) -> list[ImportResult]:
    """Idempotent: a second call writes nothing."""
    with transaction.atomic():
        ensure_sample_assets()
    results = []
    for symbol, _, _ in SAMPLE_ASSETS:
        for name, simulated in (
            (f"{symbol}-5m.csv", False),
            (f"{symbol}-funding-8h.csv", False),
            (f"{symbol}-metrics-5m-SIMULATED.csv", True),
        ):
            result = import_market_file(str(SAMPLE_DIR / name), asset_symbol=symbol, simulated_oi=simulated)
            if on_file:
                on_file(result)
            results.append(result)
    for asset in Asset.objects.filter(symbol__in=[symbol for symbol, _, _ in SAMPLE_ASSETS]):
        asset_summary_refresh(asset=asset)
    return results
