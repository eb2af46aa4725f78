"""Ingest holds implausible candles back: they land in HeldBackCandle, never among the candles."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from heatmaps import ingest
from heatmaps.exchanges import get_connector
from heatmaps.marketdata import ms_to_dt, upsert_candles
from heatmaps.models import Asset, Candle, Exchange, HeldBackCandle
from heatmaps.rows import BASE_BAR_MS
from tests.heatmaps.exchanges.fake_exchange import Bar, FakeExchange, Series

pytestmark = pytest.mark.django_db

SHIFTED = 700  # a bar whose prices arrive ten times too high (a shifted decimal point)
OPEN_ABOVE_HIGH = 900  # a bar whose open lies above its high


@dataclass(frozen=True)
class DamagedSeries(Series):
    def bar(self, i: int) -> Bar:
        b = super().bar(i)
        if i == SHIFTED:
            return replace(b, open=b.open * 10, high=b.high * 10, low=b.low * 10, close=b.close * 10)
        if i == OPEN_ABOVE_HIGH:
            return replace(b, open=b.high + 50)
        return b


@pytest.fixture
def damaged() -> Iterator[FakeExchange]:
    with FakeExchange(DamagedSeries(bars=1200)) as fake:
        yield fake


def make_asset() -> tuple[Asset, Exchange]:
    exchange = Exchange.get_supported("binance")
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=exchange)
    asset.exchanges.add(exchange)
    return asset, exchange


def test_implausible_candles_are_held_back_with_a_warning_and_the_rest_stored(
    damaged: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    asset, binance = make_asset()
    series = damaged.series
    conn = get_connector("binance", base_url=damaged.base_url, now_ms=lambda: damaged.now_ms, sleep=lambda s: None)
    # The first day stored, so the check has stored neighbours to judge the rest against.
    upsert_candles(
        asset=asset,
        exchange=binance,
        rows=series.candle_rows("binance", series.start_ms, series.start_ms + 288 * BASE_BAR_MS, now_ms=damaged.now_ms),
    )
    with caplog.at_level(logging.WARNING, logger="heatmaps.ingest.fetch"):
        result = ingest.ingest_since_last(
            asset=asset, exchange=binance, kind="candles", now_ms=damaged.now_ms, connector=conn
        )
    fetched = series.bars - 1 - 288  # the last bar is still forming
    assert result.rows_fetched == fetched and result.rows_written == fetched - 2
    held = {h.open_time: h for h in HeldBackCandle.objects.filter(asset=asset, exchange=binance)}
    shifted, inconsistent = ms_to_dt(series.bar_time(SHIFTED)), ms_to_dt(series.bar_time(OPEN_ABOVE_HIGH))
    assert set(held) == {shifted, inconsistent}
    assert not Candle.objects.filter(open_time__in=[shifted, inconsistent]).exists()
    assert Candle.objects.filter(asset=asset).count() == series.bars - 1 - 2
    bad = series.bar(SHIFTED)
    assert held[shifted].reason == "jump" and f"close {bad.close:g}" in held[shifted].detail
    assert held[shifted].values == {
        "open": bad.open,
        "high": bad.high,
        "low": bad.low,
        "close": bad.close,
        "volume": bad.volume,
    }
    assert held[inconsistent].reason == "inconsistent" and "open" in held[inconsistent].detail
    assert any("held back 2 implausible candle(s) of BTCUSDT@binance" in r.getMessage() for r in caplog.records)

    # Fetching the same span again changes nothing: the same two rows, upserted in place.
    seen = {h.open_time: h.pk for h in HeldBackCandle.objects.all()}
    again = ingest.backfill(
        asset=asset, exchange=binance, kinds=["candles"], start_ms=series.start_ms, end_ms=series.end_ms,
        now_ms=damaged.now_ms, connector=conn,
    )  # fmt: skip
    assert again[0].rows_written == 0
    assert {h.open_time: h.pk for h in HeldBackCandle.objects.all()} == seen
    conn.close()


def test_a_held_back_candle_that_turns_out_plausible_is_stored_and_released() -> None:
    asset, binance = make_asset()
    series = Series(bars=400)
    rows = series.candle_rows("binance", series.start_ms, series.end_ms, now_ms=series.end_ms + BASE_BAR_MS)
    t = ms_to_dt(rows[300].open_time_ms)
    HeldBackCandle.objects.create(
        asset=asset, exchange=binance, open_time=t, reason="jump", detail="earlier verdict", values={}, seen_at=t
    )
    assert ingest.fetch._store("candles", asset, binance, rows) == len(rows)
    assert not HeldBackCandle.objects.exists()
