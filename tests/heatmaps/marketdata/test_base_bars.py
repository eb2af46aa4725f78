"""Open interest summed over exchanges when one of them starts later than the others."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.marketdata import load_sample_data, upsert_candles, upsert_open_interest
from heatmaps.marketdata.base_bars import load_base_bars
from heatmaps.models import Asset, Candle, Exchange, OpenInterest
from heatmaps.rows import BASE_BAR_MS, CandleRow, OpenInterestRow

pytestmark = pytest.mark.django_db


def test_a_venue_added_later_neither_blanks_the_past_nor_adds_a_jump() -> None:
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    alone = load_base_bars(asset=btc, since=None)
    assert alone is not None
    # A second venue whose open interest (and candles) start on the sample's last day, as a venue that
    # publishes no history does from the day it is added.
    bybit = Exchange.get_supported("bybit")
    btc.exchanges.add(bybit)
    times = alone.bars.open_time
    start = len(times) - 288
    closes = alone.bars.close
    upsert_candles(asset=btc, exchange=bybit, rows=[
        CandleRow(int(t), float(c), float(c), float(c), float(c), 1_000.0) for t, c in zip(times[start:], closes[start:], strict=True)
    ])  # fmt: skip
    upsert_open_interest(asset=btc, exchange=bybit, rows=[
        OpenInterestRow(int(t) + BASE_BAR_MS, 20_000.0 + k, (20_000.0 + k) * float(c))
        for k, (t, c) in enumerate(zip(times[start:], closes[start:], strict=True))
    ])  # fmt: skip
    assert OpenInterest.objects.filter(asset=btc, exchange=bybit).count() == 288
    assert Candle.objects.filter(asset=btc, exchange=bybit).count() == 288

    both = load_base_bars(asset=btc, since=None)
    assert both is not None and both.oi_exchanges == ["binance", "bybit"]
    before_a, before_b = alone.bars.oi_value[:start], both.bars.oi_value[:start]
    # Before bybit starts: known wherever binance alone was, and moving exactly as binance's.
    assert np.array_equal(np.isfinite(before_a), np.isfinite(before_b))
    assert np.allclose(
        np.diff(before_b[np.isfinite(before_b)]), np.diff(before_a[np.isfinite(before_a)]), rtol=0, atol=1e-3
    )
    # Where it starts the sum moves by binance's change only (bybit's first value is no new money) ...
    step = both.bars.oi_value[start] - both.bars.oi_value[start - 1]
    assert step == pytest.approx(alone.bars.oi_value[start] - alone.bars.oi_value[start - 1], abs=1e-3)
    # ... and from then on by both venues' changes.
    after = np.diff(both.bars.oi_value[start:])
    binance_after = np.diff(alone.bars.oi_value[start:])
    bybit_after = np.diff([(20_000.0 + k) * float(c) for k, c in enumerate(closes[start:])])
    assert np.allclose(after, binance_after + bybit_after, rtol=1e-9)
