"""The market-data streamer against stand-in websocket servers and the REST stand-in: closed bars stored
once through the REST path, forming bars not stored, an outage repaired from REST with no hole and no
duplicate, open interest sampled onto the bar close, pings, subscriptions following the enabled assets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections

from heatmaps.ingest.streamer import MarketStreamer
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, Candle, Exchange, OpenInterest
from heatmaps.rows import BASE_BAR_MS, CandleRow
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series, _s
from tests.heatmaps.exchanges.fake_ws import DROP, MarketWsServer

SERIES = Series(bars=40)


def bar_time(i: int) -> int:
    return SERIES.bar_time(i)


def tracked(code: str, symbol: str = "BTCUSDT", base: str = "BTC") -> Asset:
    exchange = Exchange.get_supported(code)
    asset = Asset.objects.create(symbol=symbol, display_name=base, base=base, reference_exchange=exchange)
    asset.exchanges.add(exchange)
    return asset


def bybit_bar(i: int, *, confirm: bool) -> str:
    b = SERIES.bar(i)
    item = {
        "start": b.open_time_ms, "end": b.open_time_ms + BASE_BAR_MS - 1, "interval": "5",
        "open": _s(b.open), "close": _s(b.close), "high": _s(b.high), "low": _s(b.low),
        "volume": _s(b.volume), "turnover": _s(b.quote_volume), "confirm": confirm,
        "timestamp": b.open_time_ms + (BASE_BAR_MS - 1 if confirm else 60_000),
    }  # fmt: skip
    return json.dumps({"topic": "kline.5.BTCUSDT", "data": [item], "ts": item["timestamp"], "type": "snapshot"})


def okx_candle(i: int) -> str:
    b = SERIES.bar(i)
    row = [str(b.open_time_ms), _s(b.open), _s(b.high), _s(b.low), _s(b.close), "1", _s(b.volume),
           _s(b.quote_volume), "1"]  # fmt: skip
    return json.dumps({"arg": {"channel": "candle5m", "instId": "BTC-USDT-SWAP"}, "data": [row]})


def okx_oi(t: int, coins: float) -> str:
    item = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "oi": "1", "oiCcy": _s(coins), "oiUsd": _s(coins * 30_000),
            "ts": str(t)}  # fmt: skip
    return json.dumps({"arg": {"channel": "open-interest", "instId": "BTC-USDT-SWAP"}, "data": [item]})


def stored_candles(asset: Asset) -> list[CandleRow]:
    return [
        CandleRow(dt_to_ms(c.open_time), c.open, c.high, c.low, c.close, c.volume, c.taker_buy_volume, c.quote_volume)
        for c in Candle.objects.filter(asset=asset).order_by("open_time")
    ]


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """ORM work off the event loop, its connection closed after (the test database is dropped at the end)."""

    def call() -> Any:
        try:
            return fn(*args)
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)


async def run_until(streamer: MarketStreamer, done: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    stop = asyncio.Event()

    async def watch() -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await done() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything still in flight (a duplicate frame) lands before the stop
        stop.set()

    await asyncio.gather(streamer.run(stop), watch())


@pytest.mark.django_db(transaction=True)
def test_bybit_bars_stored_once_and_an_outage_repaired_from_rest(settings: Any) -> None:
    asset = tracked("bybit")
    recomputes: list[int] = []
    with FakeExchange(SERIES, now_ms=bar_time(11) + 60_000) as fake:
        settings.LIQ_BYBIT_URL = fake.base_url

        def on_connection(n: int) -> None:
            if n == 2:  # the outage lasted until bar 16 was forming: bars 12-15 came by REST only
                fake.now_ms = bar_time(16) + 60_000

        scripts: list[list[str | None]] = [
            [bybit_bar(11, confirm=False), bybit_bar(11, confirm=True), bybit_bar(11, confirm=True), DROP],
            [bybit_bar(16, confirm=False), bybit_bar(16, confirm=True)],
        ]

        async def main() -> MarketWsServer:
            async with MarketWsServer(scripts, on_connection=on_connection) as srv:
                settings.LIQ_BYBIT_WS_URL = srv.url
                streamer = MarketStreamer(
                    exchanges=("bybit",), on_stored=recomputes.append, now_ms=lambda: fake.now_ms, backoff_base=0.05
                )

                async def done() -> bool:
                    return await in_thread(lambda: Candle.objects.filter(asset=asset).count()) >= 17

                await run_until(streamer, done)
                assert streamer.bars_stored == 3  # the duplicate frame went through the idempotent path
                return srv

        srv = asyncio.run(main())
        expected = SERIES.candle_rows("bybit", SERIES.start_ms, bar_time(17), now_ms=bar_time(17))
    assert srv.connections == 2
    assert stored_candles(asset) == expected  # bars 0-16: no hole, no duplicate, the REST values
    assert recomputes and set(recomputes) == {asset.pk}
    assert any("kline.5.BTCUSDT" in m and "subscribe" in m for m in srv.messages())


@pytest.mark.django_db(transaction=True)
def test_okx_candles_open_interest_and_ping(settings: Any) -> None:
    asset = tracked("okx")
    close = bar_time(12)
    with FakeExchange(SERIES, now_ms=bar_time(12) + 2_000) as fake:
        settings.LIQ_OKX_URL = fake.base_url

        async def main() -> tuple[MarketWsServer, MarketWsServer]:
            async with (
                MarketWsServer([[okx_candle(11)]]) as business,
                MarketWsServer([[okx_oi(close - 4_000, 81_000.5), okx_oi(close + 1_500, 81_002.25)]]) as public,
            ):
                settings.LIQ_OKX_BUSINESS_WS_URL = business.url
                settings.LIQ_OKX_WS_URL = public.url
                streamer = MarketStreamer(exchanges=("okx",), now_ms=lambda: fake.now_ms, backoff_base=0.05)
                for conn in streamer.connections.values():
                    conn.ping_interval = 0.2

                async def done() -> bool:
                    has_oi = await in_thread(
                        lambda: OpenInterest.objects.filter(asset=asset, time__gte=ms_to_dt(close)).exists()
                    )
                    return has_oi and "ping" in public.messages() and "ping" in business.messages()

                await run_until(streamer, done)
                return business, public

        business, public = asyncio.run(main())
    subscribed = json.loads(business.messages()[0])
    assert subscribed == {"op": "subscribe", "args": [{"channel": "candle5m", "instId": "BTC-USDT-SWAP"}]}
    assert "ping" in public.messages()
    oi = OpenInterest.objects.get(asset=asset, time=ms_to_dt(close))
    assert oi.oi_base == pytest.approx(81_002.25)  # 1.5 s after the close beats 4 s before it
    assert [c.open_time_ms for c in stored_candles(asset)][-1] == bar_time(11)
    assert len(stored_candles(asset)) == 12  # bars 0-10 by REST, 11 by REST and stream: stored once


@pytest.mark.django_db(transaction=True)
def test_an_asset_enabled_while_running_is_subscribed_within_the_refresh(settings: Any) -> None:
    tracked("bybit")
    settings.LIQ_MARKET_REFRESH_SECONDS = 1
    with FakeExchange(SERIES, now_ms=bar_time(11) + 60_000) as fake:
        settings.LIQ_BYBIT_URL = fake.base_url

        async def main() -> tuple[MarketWsServer, float]:
            async with MarketWsServer([[]]) as srv:
                settings.LIQ_BYBIT_WS_URL = srv.url
                streamer = MarketStreamer(exchanges=("bybit",), now_ms=lambda: fake.now_ms, backoff_base=0.05)
                loop = asyncio.get_running_loop()
                enabled_at: list[float] = []

                async def done() -> bool:
                    if not enabled_at and srv.connections:
                        await in_thread(tracked, "bybit", "ETHUSDT", "ETH")
                        enabled_at.append(loop.time())
                    return any("kline.5.ETHUSDT" in m for m in srv.messages())

                await run_until(streamer, done, timeout=8)
                took = loop.time() - enabled_at[0]
                return srv, took

        srv, took = asyncio.run(main())
    assert srv.connections == 1  # no reconnect: subscribed on the live connection
    assert any("kline.5.ETHUSDT" in m and "tickers.ETHUSDT" in m for m in srv.messages())
    assert took < 1 + 1.5


@pytest.mark.django_db(transaction=True)
def test_offline_the_command_says_so_once(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    tracked("bybit")
    settings.LIQ_BYBIT_WS_URL = "ws://127.0.0.1:9/v5/public/linear"
    settings.LIQ_BYBIT_URL = "http://127.0.0.1:9"
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger="heatmaps.market_stream"):
        call_command("stream_market", "--exchange", "bybit", "--seconds", "3", stdout=out)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert "bars=0" in out.getvalue()


@pytest.mark.django_db
def test_streams_ask_for_the_venue_symbol_set_in_the_admin() -> None:
    from heatmaps.ingest.recorder import instrument_name
    from heatmaps.ingest.streamer import load_feeds
    from heatmaps.models import VenueSymbol

    asset = tracked("okx")
    assert instrument_name("okx", asset) == "BTC-USDT-SWAP"  # the convention
    VenueSymbol.objects.create(asset=asset, exchange=Exchange.get_supported("okx"), symbol="BTC-USD-SWAP")
    assert instrument_name("okx", asset) == "BTC-USD-SWAP"
    assert list(load_feeds(("okx",))["okx"]) == ["BTC-USD-SWAP"]
