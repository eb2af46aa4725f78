"""Test data for the map explorer: a second exchange's open interest beside the sample's Binance."""

from __future__ import annotations

import numpy as np

from heatmaps.marketdata import dt_to_ms, upsert_open_interest
from heatmaps.models import Asset, Exchange, OpenInterest
from heatmaps.rows import OpenInterestRow


def add_bybit_open_interest(asset: Asset) -> None:
    """Bybit as one of the asset's exchanges, with a smooth open-interest series of its own (half of
    Binance's, swinging ±10 % over a few days) at Binance's stamps."""
    bybit = Exchange.get_supported("bybit")
    asset.exchanges.add(bybit)
    rows = OpenInterest.objects.filter(asset=asset, exchange=asset.reference_exchange).order_by("time")
    times = np.array([dt_to_ms(t) for t in rows.values_list("time", flat=True)])
    values = np.array(list(rows.values_list("oi_value", flat=True)), dtype=np.float64)
    phase = (times - times[0]) / 86_400_000
    series = values * (0.5 + 0.1 * np.sin(phase * 1.7))
    upsert_open_interest(
        asset=asset,
        exchange=bybit,
        rows=[OpenInterestRow(int(t), None, float(v)) for t, v in zip(times, series, strict=True)],
        simulated=True,
    )
