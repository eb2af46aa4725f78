"""Putting the bundled sample into the test database bar by bar, as ingest would."""

from __future__ import annotations

import numpy as np

from heatmaps.marketdata import upsert_candles, upsert_funding, upsert_open_interest
from heatmaps.models import Asset
from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow
from tests.accounts.alerts.sample import btc_bars, btc_open_interest

FIRST = 2000  # where the loaded history starts in the sample (a few days in)


def load_bars(asset: Asset, stop: int, start: int = FIRST, **override: float) -> None:
    """Sample bars [start, stop) of the reference exchange; ``override`` changes the last one's fields."""
    bars = btc_bars()
    rows = []
    for i in range(start, stop):
        values = {
            "open": float(bars.open[i]),
            "high": float(bars.high[i]),
            "low": float(bars.low[i]),
            "close": float(bars.close[i]),
        }
        if i == stop - 1:
            values.update(override)
        rows.append(CandleRow(open_time_ms=int(bars.times_ms[i]), volume=10.0, taker_buy_volume=5.0, **values))
    upsert_candles(asset=asset, exchange=asset.reference_exchange, rows=rows)


def load_open_interest(asset: Asset, stop: int, start: int = FIRST) -> None:
    """The sample's (simulated) OI stamped at the close of bars [start, stop)."""
    oi = btc_open_interest()
    lo, hi = btc_bars().times_ms[start] + BASE_BAR_MS, btc_bars().times_ms[stop - 1] + BASE_BAR_MS
    keep = (oi.times_ms >= lo) & (oi.times_ms <= hi)
    rows = [OpenInterestRow(int(t), None, float(v)) for t, v in zip(oi.times_ms[keep], oi.values[keep], strict=True)]
    upsert_open_interest(asset=asset, exchange=asset.reference_exchange, rows=rows, simulated=True)


def set_funding(asset: Asset, at_ms: int, rate: float) -> None:
    upsert_funding(asset=asset, exchange=asset.reference_exchange, rows=[FundingRow(time_ms=at_ms, rate=rate)])


def bar_ms(index: int) -> int:
    return int(btc_bars().times_ms[index])


def close(index: int) -> float:
    return float(btc_bars().close[index])


def crossing_level(index: int) -> tuple[float, str]:
    """A level between bar ``index - 1``'s close and bar ``index``'s close, and the direction."""
    prev, now = close(index - 1), close(index)
    assert prev != now
    return float(np.mean([prev, now])), "up" if now > prev else "down"
