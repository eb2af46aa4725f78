"""Mark-price candles fetched where candles are (backfill, the since-last ingest) into PostgreSQL against the
stand-in venues, idempotently; a mark-price failure leaves the candles alone; and the base bars carry the
reference venue's mark extremes aligned with its candles (NaN where none is stored)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from heatmaps import ingest
from heatmaps.exchanges import binance, bybit, get_connector, okx
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.marketdata.base_bars import load_base_bars
from heatmaps.models import Asset, Candle, Exchange, MarkCandle
from heatmaps.rows import BASE_BAR_MS as M5
from heatmaps.rows import CandleRow
from tests.heatmaps.exchanges.fake_exchange import Series
from tests.heatmaps.exchanges.fake_risk_marks import FakeRiskMarkExchange, mark_rows

MARK_PATHS = {"binance": binance.MARK_PRICE_KLINES, "bybit": bybit.MARK_KLINE, "okx": okx.HISTORY_MARK_CANDLES}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRiskMarkExchange]:
    with FakeRiskMarkExchange(Series(bars=1152)) as fx:  # 4 days
        yield fx


@pytest.fixture(autouse=True)
def _clean(fake: FakeRiskMarkExchange) -> Iterator[None]:
    fake.clear_faults()
    fake.requests.clear()
    yield
    fake.clear_faults()


def make_asset(code: str) -> tuple[Asset, Exchange]:
    exchange = Exchange.get_supported(code)
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="BTC", base="BTC", reference_exchange=exchange)
    asset.exchanges.add(exchange)
    return asset, exchange


def connector(fake: FakeRiskMarkExchange, code: str) -> Any:
    return get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)


def stored_marks(asset: Asset, exchange: Exchange) -> list[CandleRow]:
    return [
        CandleRow(dt_to_ms(m.open_time), m.open, m.high, m.low, m.close, None, None, None)
        for m in MarkCandle.objects.filter(asset=asset, exchange=exchange).order_by("open_time")
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_backfill_stores_mark_candles_beside_the_candles_and_reruns_add_nothing(
    fake: FakeRiskMarkExchange, code: str
) -> None:
    asset, exchange = make_asset(code)
    s = fake.series
    start, end = s.start_ms + 100 * M5, s.end_ms
    with connector(fake, code) as conn:
        results = ingest.backfill(
            asset=asset, exchange=exchange, kinds=["candles"], start_ms=start, end_ms=end, now_ms=fake.now_ms,
            connector=conn,
        )  # fmt: skip
        want = mark_rows(s, start, end, now_ms=fake.now_ms)
        assert stored_marks(asset, exchange) == want and len(want) == 1152 - 100 - 1
        assert results[0].notes == [] and results[0].rows_written == len(want)
        ids = list(MarkCandle.objects.filter(asset=asset).order_by("open_time").values_list("pk", flat=True))
        ingest.backfill(
            asset=asset, exchange=exchange, kinds=["candles"], start_ms=start, end_ms=end, now_ms=fake.now_ms,
            connector=conn,
        )  # fmt: skip
    assert stored_marks(asset, exchange) == want
    assert list(MarkCandle.objects.filter(asset=asset).order_by("open_time").values_list("pk", flat=True)) == ids


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["binance", "okx"])
def test_a_mark_price_failure_leaves_the_candles_stored_and_says_so(fake: FakeRiskMarkExchange, code: str) -> None:
    asset, exchange = make_asset(code)
    s = fake.series
    start, end = s.end_ms - 50 * M5, s.end_ms
    body = {"code": -1121, "msg": "Invalid symbol."} if code == "binance" else {"code": "51001", "msg": "no such"}
    fake.fail_next(400, path=MARK_PATHS[code], body=body)
    with connector(fake, code) as conn:
        (result,) = ingest.backfill(
            asset=asset, exchange=exchange, kinds=["candles"], start_ms=start, end_ms=end, now_ms=fake.now_ms,
            connector=conn,
        )  # fmt: skip
    assert Candle.objects.filter(asset=asset, exchange=exchange).count() == 49 == result.rows_written
    assert not MarkCandle.objects.filter(asset=asset).exists()
    assert any("mark-price candles not fetched" in n for n in result.notes)


@pytest.mark.django_db
def test_since_last_fetches_the_mark_bars_after_the_newest_stored(fake: FakeRiskMarkExchange, settings: Any) -> None:
    settings.LIQ_INGEST_LOOKBACK_DAYS = 1
    asset, exchange = make_asset("bybit")
    s = fake.series
    with connector(fake, "bybit") as conn:
        ingest.ingest_since_last(asset=asset, exchange=exchange, kind="candles", now_ms=fake.now_ms, connector=conn)
        lookback = fake.now_ms - 86_400_000
        want = mark_rows(s, lookback - lookback % M5, s.end_ms, now_ms=fake.now_ms)
        assert stored_marks(asset, exchange) == want
        # The newest 10 mark bars lost: the next run asks from the newest one left, and only from there.
        cut = want[-10].open_time_ms
        MarkCandle.objects.filter(asset=asset, open_time__gte=ms_to_dt(cut)).delete()
        fake.requests.clear()
        ingest.ingest_since_last(asset=asset, exchange=exchange, kind="candles", now_ms=fake.now_ms, connector=conn)
    assert stored_marks(asset, exchange) == want
    (call,) = fake.requests_to(bybit.MARK_KLINE)
    assert int(call.params["start"]) == cut


@pytest.mark.django_db
def test_base_bars_carry_the_reference_mark_extremes_aligned_nan_where_missing(fake: FakeRiskMarkExchange) -> None:
    asset, exchange = make_asset("binance")
    s = fake.series
    start, end = s.end_ms - 300 * M5, s.end_ms
    with connector(fake, "binance") as conn:
        ingest.backfill(
            asset=asset, exchange=exchange, kinds=["candles"], start_ms=start, end_ms=end, now_ms=fake.now_ms,
            connector=conn,
        )  # fmt: skip
    missing = [start + k * M5 for k in (0, 17, 18, 250)]
    MarkCandle.objects.filter(asset=asset, open_time__in=[ms_to_dt(t) for t in missing]).delete()
    # Another venue's mark bars are not the reference's.
    other = Exchange.get_supported("bybit")
    MarkCandle.objects.create(asset=asset, exchange=other, open_time=ms_to_dt(start), open=1, high=2, low=1, close=1)

    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None
    bars = loaded.bars
    assert bars.mark_high is not None and bars.mark_low is not None
    marks = {r.open_time_ms: r for r in mark_rows(s, start, end, now_ms=fake.now_ms)}
    for i, t in enumerate(bars.open_time.tolist()):
        if t in missing:
            assert np.isnan(bars.mark_high[i]) and np.isnan(bars.mark_low[i])
        else:
            assert (bars.mark_high[i], bars.mark_low[i]) == (marks[t].high, marks[t].low)
            assert bars.mark_high[i] < bars.high[i] and bars.mark_low[i] > bars.low[i]
    assert loaded.mark_bars == len(bars) - len(missing)


@pytest.mark.django_db
def test_base_bars_without_mark_candles_have_none(fake: FakeRiskMarkExchange) -> None:
    asset, exchange = make_asset("bybit")
    s = fake.series
    with connector(fake, "bybit") as conn:
        ingest.backfill(
            asset=asset, exchange=exchange, kinds=["candles"], start_ms=s.end_ms - 20 * M5, end_ms=s.end_ms,
            now_ms=fake.now_ms, connector=conn,
        )  # fmt: skip
    MarkCandle.objects.all().delete()
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None and loaded.bars.mark_high is None and loaded.mark_bars == 0
