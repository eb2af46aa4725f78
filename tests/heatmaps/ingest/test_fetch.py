"""Ingestion against the fake exchange server: a real Celery worker, faults, idempotency, gap repair."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from heatmaps import ingest
from heatmaps.exchanges import get_connector
from heatmaps.marketdata import dt_to_ms, ms_to_dt, upsert_candles
from heatmaps.models import Asset, Candle, Exchange, FundingRate, OpenInterest
from heatmaps.rows import BASE_BAR_MS, CandleRow
from heatmaps.tasks import ingest_asset_exchange
from tests.heatmaps.exchanges.fake_exchange import FakeExchange


def stored_candles(asset: Asset, exchange: Exchange) -> list[CandleRow]:
    return [
        CandleRow(dt_to_ms(c.open_time), c.open, c.high, c.low, c.close, c.volume, c.taker_buy_volume, c.quote_volume)
        for c in Candle.objects.filter(asset=asset, exchange=exchange).order_by("open_time")
    ]


def make_asset(code: str = "binance") -> tuple[Asset, Exchange]:
    exchange = Exchange.get_supported(code)
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=exchange)
    asset.exchanges.add(exchange)
    return asset, exchange


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ingest_task_on_real_worker_survives_429_500_and_malformed_row(
    celery_worker_process: Any, fake: FakeExchange
) -> None:
    asset, binance = make_asset()
    series = fake.series
    first = series.candle_rows("binance", series.start_ms, series.start_ms + BASE_BAR_MS, now_ms=fake.now_ms)
    upsert_candles(asset=asset, exchange=binance, rows=first)  # the newest stored bar is where ingest resumes
    # The worker runs on the wall clock (2026), so every bar of the 2024 series is closed for it.
    expected = series.candle_rows("binance", series.start_ms, series.end_ms, now_ms=series.end_ms + BASE_BAR_MS)

    fake.rate_limit_next(retry_after=1, path="/fapi/v1/klines")
    fake.fail_next(500, path="/fapi/v1/klines")
    assert ingest_asset_exchange.delay(asset.pk, binance.pk, "candles").get(timeout=90) == len(expected) - 1
    assert stored_candles(asset, binance) == expected
    statuses = [r for r in fake.requests_to("/fapi/v1/klines")]
    assert len(statuses) >= 3  # 429, 500, then the successful pages
    binance.refresh_from_db()
    assert binance.degraded_since is None and binance.last_success_at is not None

    # A malformed row fails the run without writing its page; the next run completes the data.
    Candle.objects.filter(open_time__gte=ms_to_dt(series.start_ms + 1000 * BASE_BAR_MS)).delete()
    fake.malform_next(path="/fapi/v1/klines")
    assert ingest_asset_exchange.delay(asset.pk, binance.pk, "candles").get(timeout=90) == 0
    assert len(stored_candles(asset, binance)) == 1000
    binance.refresh_from_db()
    # Recorded for the operator, but a bad payload is not an outage: the exchange is not marked degraded.
    assert "malformed" in binance.last_error and binance.degraded_since is None
    assert ingest_asset_exchange.delay(asset.pk, binance.pk, "candles").get(timeout=90) == len(expected) - 1000
    assert stored_candles(asset, binance) == expected

    # Running again adds nothing.
    assert ingest_asset_exchange.delay(asset.pk, binance.pk, "candles").get(timeout=90) == 0
    assert Candle.objects.count() == len(expected)


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_backfill_every_kind_is_exact_and_rerunnable(fake: FakeExchange, code: str) -> None:
    asset, exchange = make_asset(code)
    series = fake.series
    conn = get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)
    start, end = series.start_ms + 288 * BASE_BAR_MS, series.start_ms + 3 * 288 * BASE_BAR_MS
    results = ingest.backfill(
        asset=asset,
        exchange=exchange,
        kinds=list(ingest.KINDS),
        start_ms=start,
        end_ms=end,
        now_ms=fake.now_ms,
        connector=conn,
    )
    assert [r.kind for r in results] == ["candles", "open_interest", "funding"]
    assert stored_candles(asset, exchange) == series.candle_rows(code, start, end, now_ms=fake.now_ms)
    oi = series.oi_rows(code, start, end, now_ms=fake.now_ms)
    assert list(OpenInterest.objects.filter(asset=asset).order_by("time").values_list("oi_base", "oi_value")) == [
        (r.oi_base, r.oi_value) for r in oi
    ]
    assert FundingRate.objects.filter(asset=asset).count() == len(series.funding_rows(code, start, end))
    again = ingest.backfill(
        asset=asset,
        exchange=exchange,
        kinds=list(ingest.KINDS),
        start_ms=start,
        end_ms=end,
        now_ms=fake.now_ms,
        connector=conn,
    )
    assert sum(r.rows_written for r in again) == 0
    conn.close()


@pytest.mark.django_db
def test_gap_repair_fills_punched_holes_in_candles_and_open_interest(fake: FakeExchange) -> None:
    asset, binance = make_asset()
    series = fake.series
    conn = get_connector("binance", base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)
    ingest.backfill(
        asset=asset, exchange=binance, kinds=["candles", "open_interest"], start_ms=series.start_ms,
        end_ms=series.end_ms, now_ms=fake.now_ms, connector=conn,
    )  # fmt: skip
    complete = stored_candles(asset, binance)
    complete_oi = list(OpenInterest.objects.order_by("time").values_list("time", "oi_value"))
    hole = [ms_to_dt(series.start_ms + k * BASE_BAR_MS) for k in (500, 501, 502, 900)]
    assert Candle.objects.filter(open_time__in=hole).delete()[0] == 4
    assert OpenInterest.objects.filter(time__in=hole[:2]).delete()[0] == 2
    fake.requests.clear()
    written = ingest.repair_gaps(asset=asset, exchange=binance, days=30, now_ms=fake.now_ms, connector=conn)
    assert written == 4 + 2
    assert stored_candles(asset, binance) == complete
    assert list(OpenInterest.objects.order_by("time").values_list("time", "oi_value")) == complete_oi
    # One request per hole, nothing else refetched.
    assert len(fake.requests_to("/fapi/v1/klines")) == 2
    assert len(fake.requests_to("/futures/data/openInterestHist")) == 1
    assert ingest.repair_gaps(asset=asset, exchange=binance, days=30, now_ms=fake.now_ms, connector=conn) == 0
    conn.close()


@pytest.mark.django_db
def test_backfill_command(fake: FakeExchange, settings: Any) -> None:
    settings.LIQ_BINANCE_FAPI_URL = fake.base_url
    make_asset()
    start = ms_to_dt(fake.series.start_ms)
    out = io.StringIO()
    call_command(
        "backfill",
        "--exchange",
        "binance",
        "--symbol",
        "btcusdt",
        "--start",
        f"{start - timedelta(days=40):%Y-%m-%dT%H:%MZ}",
        "--end",
        f"{start + timedelta(days=1):%Y-%m-%dT%H:%MZ}",
        "--kinds",
        "candles,oi",
        stdout=out,
        stderr=io.StringIO(),
    )  # fmt: skip  (a start 40 days back is beyond Binance's 30 days of open interest)
    text = out.getvalue()
    rows = {
        line.split()[0]: line.split() for line in text.splitlines() if line.startswith(("candles ", "open_interest "))
    }
    # kind, fetched, new or changed, stored, first (date time UTC), last (date time UTC), missing 5m bars
    assert rows["candles"][1:4] == ["288", "288", "288"] and rows["candles"][-1] == "0"
    assert rows["open_interest"][-1] == "0"
    assert "serves open interest only back to" in text and "import_market_data" in text
    with pytest.raises(CommandError, match=r"unknown asset 'DOGEUSDT'.*add_asset DOGEUSDT --exchanges binance"):
        call_command("backfill", "--exchange", "binance", "--symbol", "DOGEUSDT", "--start", "2024-01-01T00:00Z")
    with pytest.raises(CommandError, match="not an ISO time"):
        call_command("backfill", "--exchange", "binance", "--symbol", "BTCUSDT", "--start", "yesterday")


@pytest.mark.django_db
def test_interrupted_backfill_keeps_whole_pages_and_resumes(fake: FakeExchange) -> None:
    asset, binance = make_asset()
    series = fake.series
    conn = get_connector("binance", base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)

    def interrupt_after_second_page(p: Any) -> None:
        if p.pages == 2:
            raise KeyboardInterrupt  # Ctrl-C halfway

    with pytest.raises(KeyboardInterrupt):
        ingest.backfill(
            asset=asset, exchange=binance, kinds=["candles"], start_ms=series.start_ms, end_ms=series.end_ms,
            now_ms=fake.now_ms, connector=conn, progress=interrupt_after_second_page,
        )  # fmt: skip
    partial = stored_candles(asset, binance)
    expected = series.candle_rows("binance", series.start_ms, series.end_ms, now_ms=fake.now_ms)
    assert 0 < len(partial) < len(expected) and partial == expected[: len(partial)]
    (result,) = ingest.backfill(
        asset=asset, exchange=binance, kinds=["candles"], start_ms=series.start_ms, end_ms=series.end_ms,
        now_ms=fake.now_ms, connector=conn,
    )  # fmt: skip
    assert result.rows_written == len(expected) - len(partial)
    assert stored_candles(asset, binance) == expected
    conn.close()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_tick_fans_out_to_enabled_exchanges_only(celery_worker_process: Any, fake: FakeExchange) -> None:
    from heatmaps.tasks import ingest_tick
    from tests.conftest import wait_for

    asset, binance = make_asset()
    bybit, okx = Exchange.get_supported("bybit"), Exchange.get_supported("okx")
    asset.exchanges.add(bybit, okx)
    Exchange.objects.filter(pk=okx.pk).update(enabled=False)
    Asset.objects.create(symbol="ETHUSDT", display_name="Ether", base="ETH", reference_exchange=binance, enabled=False)
    series = fake.series
    for exchange in (binance, bybit):  # resume points, so the tick fetches the fake's 7 days only
        upsert_candles(
            asset=asset,
            exchange=exchange,
            rows=series.candle_rows(exchange.code, series.start_ms, series.start_ms + BASE_BAR_MS, now_ms=fake.now_ms),
        )
    assert ingest_tick.delay("candles").get(timeout=30) == 2  # BTCUSDT × (binance, bybit)
    wait_for(
        lambda: all(Candle.objects.filter(asset=asset, exchange=e).count() == 2016 for e in (binance, bybit)),
        timeout=90,
    )
    assert not Candle.objects.filter(exchange=okx).exists()
    assert not fake.requests_to("/api/v5/market/history-candles") and not fake.requests_to("/api/v5/market/candles")


@pytest.mark.django_db
def test_ticker_stores_mark_price_and_next_funding_and_shows_on_the_page(fake: FakeExchange, client: Any) -> None:
    from heatmaps.maps import heatmap_compute
    from heatmaps.models import Ticker

    asset, binance = make_asset()
    series = fake.series
    conn = get_connector("binance", base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)
    ingest.backfill(
        asset=asset, exchange=binance, kinds=["candles"], start_ms=series.end_ms - 288 * BASE_BAR_MS,
        end_ms=series.end_ms, now_ms=fake.now_ms, connector=conn,
    )  # fmt: skip
    first = ingest.ingest_ticker(asset=asset, exchange=binance, connector=conn)
    again = ingest.ingest_ticker(asset=asset, exchange=binance, connector=conn)
    assert first is not None and again is not None and Ticker.objects.count() == 1  # an upsert, not a new row
    expected_next = (fake.now_ms // series.funding_every_ms + 1) * series.funding_every_ms
    assert again.funding_rate == 0.0001 and again.next_funding_time == ms_to_dt(expected_next)
    assert again.mark_price == pytest.approx(fake.series.bar((fake.now_ms - series.start_ms) // BASE_BAR_MS).close)
    # Bybit and OKX publish no premiumIndex: nothing to store, nothing raised.
    assert (
        ingest.ingest_ticker(
            asset=asset,
            exchange=Exchange.get_supported("bybit"),
            connector=get_connector("bybit", base_url=fake.base_url),
        )
        is None
    )
    conn.close()

    heatmap_compute(asset=asset, timeframes=["24h"])
    html = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    assert "Next funding (binance)" in html and "0.0100 %" in html
    assert f"at {ms_to_dt(expected_next):%H:%M} UTC" in html


@pytest.mark.django_db
def test_outage_marks_the_exchange_degraded_until_it_recovers(fake: FakeExchange) -> None:
    from heatmaps.exchanges import TransientExchangeError

    asset, binance = make_asset()
    series = fake.series
    conn = get_connector(
        "binance", base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None, max_retries=1
    )
    upsert_candles(
        asset=asset,
        exchange=binance,
        rows=series.candle_rows("binance", series.start_ms, series.start_ms + BASE_BAR_MS, now_ms=fake.now_ms),
    )
    fake.fail_next(503, path="/fapi/v1/klines", times=2)
    with pytest.raises(TransientExchangeError):
        ingest.ingest_since_last(asset=asset, exchange=binance, kind="candles", now_ms=fake.now_ms, connector=conn)
    binance.refresh_from_db()
    assert binance.degraded_since is not None and "503" in binance.last_error
    assert Candle.objects.count() == 1  # nothing half-written
    result = ingest.ingest_since_last(asset=asset, exchange=binance, kind="candles", now_ms=fake.now_ms, connector=conn)
    binance.refresh_from_db()
    assert result.rows_written == 2014 and binance.degraded_since is None and binance.last_error == ""
    conn.close()
