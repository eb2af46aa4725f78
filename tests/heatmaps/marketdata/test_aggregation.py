"""An asset fed by several exchanges: OI summed per bar, funding OI-weighted, volume summed."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.maps import heatmap_compute, load_base_bars
from heatmaps.marketdata import market_snapshot, ms_to_dt, upsert_candles, upsert_funding, upsert_open_interest
from heatmaps.models import Asset, Exchange, OpenInterest
from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

pytestmark = pytest.mark.django_db
T0 = 1_767_225_600_000
N = 24  # two hours of 5m bars


@pytest.fixture
def multi() -> tuple[Asset, Exchange, Exchange]:
    binance, bybit = Exchange.get_supported("binance"), Exchange.get_supported("bybit")
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=binance)
    asset.exchanges.add(binance, bybit)
    for ex, price in ((binance, 100.0), (bybit, 101.0)):
        upsert_candles(
            asset=asset,
            exchange=ex,
            rows=[CandleRow(T0 + i * BASE_BAR_MS, price, price + 1, price - 1, price, 2.0, 1.0) for i in range(N)],
        )
    # Binance stamps OI at the bar's close in USD; Bybit in base units only, and misses bar 5.
    upsert_open_interest(
        asset=asset,
        exchange=binance,
        rows=[OpenInterestRow(T0 + (i + 1) * BASE_BAR_MS, 10.0, 1000.0 + i) for i in range(N)],
    )
    upsert_open_interest(
        asset=asset,
        exchange=bybit,
        rows=[OpenInterestRow(T0 + (i + 1) * BASE_BAR_MS, 3.0, None) for i in range(N) if i != 5],
    )
    upsert_funding(asset=asset, exchange=binance, rows=[FundingRow(T0, 0.0001)])
    upsert_funding(asset=asset, exchange=bybit, rows=[FundingRow(T0, 0.0003)])
    return asset, binance, bybit


def test_base_bars_sum_open_interest_only_where_every_exchange_reports(multi: tuple[Asset, Exchange, Exchange]) -> None:
    asset, _, _ = multi
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None
    assert loaded.candle_exchange == "binance" and loaded.oi_exchanges == ["binance", "bybit"]
    oi = loaded.bars.oi_value
    # Bybit's base-unit OI is valued at the reference close (100): 3 × 100 = 300 USD.
    expected = np.array([1000.0 + i + 300.0 for i in range(N)])
    expected[5] = np.nan
    np.testing.assert_array_equal(oi, expected)
    np.testing.assert_array_equal(loaded.bars.close, np.full(N, 100.0))  # candles: reference exchange only


def test_snapshot_per_exchange_and_aggregated(multi: tuple[Asset, Exchange, Exchange]) -> None:
    asset, _, _ = multi
    rows = {r.exchange: r for r in market_snapshot(asset=asset)}
    last_binance = 1000.0 + N - 1
    assert rows["binance"].oi_usd == last_binance and rows["bybit"].oi_usd == pytest.approx(303.0)
    agg = rows["all"]
    assert agg.oi_usd == pytest.approx(last_binance + 303.0)
    assert agg.funding_rate == pytest.approx((0.0001 * last_binance + 0.0003 * 303) / (last_binance + 303.0))
    assert agg.volume_24h == pytest.approx(2 * N * 2.0)
    assert agg.close == 100.0


def test_stored_map_records_its_sources(multi: tuple[Asset, Exchange, Exchange]) -> None:
    asset, _, _ = multi
    (m,) = heatmap_compute(asset=asset, timeframes=["12h"])
    assert m.candle_exchange == "binance" and m.oi_exchanges == ["binance", "bybit"] and not m.oi_simulated


def test_disabled_or_stopped_exchanges_do_not_freeze_the_sum(multi: tuple[Asset, Exchange, Exchange]) -> None:
    asset, _, bybit = multi
    # Bybit stops reporting after bar 3, more than an hour before the end: it no longer contributes.
    OpenInterest.objects.filter(exchange=bybit, time__gt=ms_to_dt(T0 + 4 * BASE_BAR_MS)).delete()
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None and loaded.oi_exchanges == ["binance"]
    np.testing.assert_array_equal(loaded.bars.oi_value, [1000.0 + i for i in range(N)])
    # A disabled exchange is left out even while its data is current.
    OpenInterest.objects.filter(exchange=bybit).delete()
    upsert_open_interest(
        asset=asset, exchange=bybit, rows=[OpenInterestRow(T0 + (i + 1) * BASE_BAR_MS, 3.0, None) for i in range(N)]
    )
    Exchange.objects.filter(pk=bybit.pk).update(enabled=False)
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None and loaded.oi_exchanges == ["binance"]
