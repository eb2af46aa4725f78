"""The market streams of Hyperliquid, Bitget, Gate, BitMEX and Deribit end to end: a stand-in websocket server per
venue on 127.0.0.1 scripted in the venue's frames, the venues' REST stand-in for the repair, and `stream_market`'s
streamer storing into PostgreSQL. Per venue: the closed bars stored once through the REST path with no hole after
an outage, the bar left open by the outage not stored from the stream (its trades of the outage are missing),
open interest sampled onto the bar close in the coin, the venue's ping (or Deribit's heartbeat answer), and the
subscription naming the venue's symbol."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command

from heatmaps.ingest.streamer import MarketStreamer
from heatmaps.marketdata import ms_to_dt
from heatmaps.models import Candle, OpenInterest
from heatmaps.rows import BASE_BAR_MS
from tests.heatmaps.exchanges.fake_exchange import Series, _s
from tests.heatmaps.exchanges.fake_venues import (
    BITMEX_CONTRACTS_PER_COIN,
    GATE_MULTIPLIER,
    FakeVenues,
)
from tests.heatmaps.exchanges.fake_ws import DROP, MarketWsServer
from tests.heatmaps.ingest.test_streamer import in_thread, run_until, stored_candles, tracked

SERIES = Series(bars=40)
CLOSE = SERIES.bar_time(12)  # the close the open-interest snapshots straddle


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _bar(i: int, partial: bool) -> dict[str, float]:
    """Bar ``i`` as the series has it, or (``partial``) as it stood early on: fewer trades, another close."""
    b = SERIES.bar(i)
    if not partial:
        return {"o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume, "q": b.quote_volume}
    return {"o": b.open, "h": b.open + 1, "l": b.open - 1, "c": b.open + 0.5, "v": 0.25, "q": 0.25 * b.open}


# --------------------------------------------------------------------------- each venue's frames


def hl_bar(i: int, partial: bool = False) -> str:
    b, t = _bar(i, partial), SERIES.bar_time(i)
    data = {"t": t, "T": t + BASE_BAR_MS - 1, "s": "BTC", "i": "5m", "o": _s(b["o"]), "c": _s(b["c"]),
            "h": _s(b["h"]), "l": _s(b["l"]), "v": _s(b["v"]), "n": 120}  # fmt: skip
    return json.dumps({"channel": "candle", "data": data})


def bitget_bar(i: int, partial: bool = False) -> str:
    b, t = _bar(i, partial), SERIES.bar_time(i)
    row = [str(t), _s(b["o"]), _s(b["h"]), _s(b["l"]), _s(b["c"]), _s(b["v"]), _s(b["q"]), _s(b["q"])]
    arg = {"instType": "USDT-FUTURES", "channel": "candle5m", "instId": "BTCUSDT"}
    return json.dumps({"action": "update", "arg": arg, "data": [row], "ts": t + 1_000})


def bitget_oi(t: int, coins: float) -> str:
    item = {"instId": "BTCUSDT", "markPrice": "30000.0", "holdingAmount": _s(coins), "ts": str(t)}
    arg = {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"}
    return json.dumps({"action": "snapshot", "arg": arg, "data": [item], "ts": t + 5})


def gate_bar(i: int, partial: bool = False) -> str:
    b, t = _bar(i, partial), SERIES.bar_time(i)
    item = {"t": t // 1000, "v": round(b["v"] / GATE_MULTIPLIER), "c": _s(b["c"]), "h": _s(b["h"]), "l": _s(b["l"]),
            "o": _s(b["o"]), "n": "5m_BTC_USDT", "a": _s(b["v"])}  # fmt: skip
    return json.dumps({"time": t // 1000 + 1, "time_ms": t + 1_000, "channel": "futures.candlesticks",
                       "event": "update", "error": None, "result": [item]})  # fmt: skip


def gate_oi(t: int, coins: float) -> str:
    item = {"contract": "BTC_USDT", "mark_price": "30000.0", "total_size": str(round(coins / GATE_MULTIPLIER))}
    return json.dumps({"time": t // 1000, "time_ms": t, "channel": "futures.tickers", "event": "update",
                       "error": None, "result": [item]})  # fmt: skip


def bitmex_bin(i: int, partial: bool = False) -> str:
    b, t = _bar(i, partial), SERIES.bar_time(i)
    row = {"timestamp": _iso(t + BASE_BAR_MS), "symbol": "XBTUSDT", "open": b["o"], "high": b["h"], "low": b["l"],
           "close": b["c"], "trades": 120, "volume": round(b["v"] * BITMEX_CONTRACTS_PER_COIN),
           "homeNotional": b["v"], "foreignNotional": b["q"]}  # fmt: skip
    return json.dumps({"table": "tradeBin5m", "action": "insert", "data": [row]})


def bitmex_oi(t: int, coins: float, *, partial: bool = False) -> str:
    row: dict[str, Any] = {"symbol": "XBTUSDT", "openInterest": round(coins * BITMEX_CONTRACTS_PER_COIN),
                           "timestamp": _iso(t)}  # fmt: skip
    if partial:
        row.update(markPrice=30000.0, isInverse=False, isQuanto=False,
                   underlyingToPositionMultiplier=BITMEX_CONTRACTS_PER_COIN)  # fmt: skip
    return json.dumps({"table": "instrument", "action": "partial" if partial else "update", "data": [row]})


def deribit_bar(i: int, partial: bool = False) -> str:
    b, t = _bar(i, partial), SERIES.bar_time(i)
    data = {"tick": t, "open": b["o"], "high": b["h"], "low": b["l"], "close": b["c"], "volume": b["v"], "cost": b["q"]}
    params = {"channel": "chart.trades.BTC-PERPETUAL.5", "data": data}
    return json.dumps({"jsonrpc": "2.0", "method": "subscription", "params": params})


def deribit_oi(t: int, coins: float) -> str:
    data = {"timestamp": t, "instrument_name": "BTC-PERPETUAL", "mark_price": 30000.0, "open_interest": coins * 30000}
    params = {"channel": "ticker.BTC-PERPETUAL.agg2", "data": data}
    return json.dumps({"jsonrpc": "2.0", "method": "subscription", "params": params})


DERIBIT_TEST_REQUEST = json.dumps({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})


@dataclass(frozen=True)
class Venue:
    code: str
    symbol: str  # what the subscription must name
    setting: str  # the websocket URL setting
    bar: Callable[..., str]
    oi: Callable[[int, float], str] | None  # None: the push carries no time (Hyperliquid), not sampled here
    volume: Callable[[float], float] = lambda v: v  # the coin volume the REST stand-in serves
    ends_bars: bool = False  # BitMEX sends only finished buckets: no bar in progress
    ping: str | None = None  # what the stand-in must have received as a ping


VENUES = [
    Venue("hyperliquid", '"coin": "BTC"', "LIQ_HYPERLIQUID_WS_URL", hl_bar, None, ping='{"method":"ping"}'),
    Venue("bitget", '"instId": "BTCUSDT"', "LIQ_BITGET_WS_URL", bitget_bar, bitget_oi, ping="ping"),
    Venue("gate", '"BTC_USDT"', "LIQ_GATE_WS_URL", gate_bar, gate_oi,
          volume=lambda v: round(v / GATE_MULTIPLIER) * GATE_MULTIPLIER, ping="futures.ping"),
    Venue("bitmex", "tradeBin5m:XBTUSDT", "LIQ_BITMEX_WS_URL", bitmex_bin, None, ends_bars=True, ping="ping"),
    Venue("deribit", "chart.trades.BTC-PERPETUAL.5", "LIQ_DERIBIT_WS_URL", deribit_bar, deribit_oi),
]  # fmt: skip


def scripts(v: Venue) -> list[list[str | None]]:
    """Connection 1 (at bar 12 + 30 s): bar 11 closes, bar 12 is left open, open interest 4 s before and
    1.5 s after bar 12's open; then the connection drops. Connection 2 (at bar 17 + 30 s): bar 16 closes
    (Deribit: and the venue's heartbeat asks for an answer)."""
    if v.ends_bars:
        first: list[str | None] = [v.bar(11), bitmex_oi(CLOSE - 4_000, 81_000.5, partial=True),
                                   bitmex_oi(CLOSE + 1_500, 81_002.25)]  # fmt: skip
        second: list[str | None] = [v.bar(16)]
    else:
        first = [v.bar(11, True), v.bar(11), v.bar(12, True)]
        if v.oi is not None:
            first += [v.oi(CLOSE - 4_000, 81_000.5), v.oi(CLOSE + 1_500, 81_002.25)]
        second = [v.bar(16), v.bar(17, True)]
    if v.code == "deribit":
        second.append(DERIBIT_TEST_REQUEST)  # on the connection that stays open, so the answer can reach it
    return [[*first, DROP], second]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("v", VENUES, ids=[v.code for v in VENUES])
def test_venue_stream_stores_closed_bars_repairs_the_outage_and_samples_open_interest(settings: Any, v: Venue) -> None:
    asset = tracked(v.code)
    with FakeVenues(SERIES, now_ms=SERIES.bar_time(12) + 30_000) as fake:
        setattr(settings, f"LIQ_{v.code.upper()}_URL", fake.base_url)

        def on_connection(n: int) -> None:
            if n == 2:  # the outage lasted until bar 17 was forming: bars 12-15 came by REST only
                fake.now_ms = SERIES.bar_time(17) + 30_000

        async def main() -> tuple[MarketWsServer, MarketStreamer]:
            async with MarketWsServer(scripts(v), on_connection=on_connection) as srv:
                setattr(settings, v.setting, srv.url)
                streamer = MarketStreamer(exchanges=(v.code,), now_ms=lambda: fake.now_ms, backoff_base=0.05)
                for conn in streamer.connections.values():
                    conn.ping_interval = 0.2

                async def done() -> bool:
                    stored = await in_thread(lambda: Candle.objects.filter(asset=asset).count())
                    pong = v.ping or '"public/test"'
                    pinged = any(pong in m for m in srv.messages())
                    return srv.connections == 2 and stored >= 17 and streamer.bars_stored >= 2 and pinged

                await run_until(streamer, done)
                return srv, streamer

        srv, streamer = asyncio.run(main())

    # Bars 0-16, no hole and no duplicate, each as the venue has it: bar 12 (open at the drop, its stream state
    # partial) is REST's, bars 11 and 16 came by the stream too.
    got = [(c.open_time_ms, c.open, c.high, c.low, c.close, c.volume) for c in stored_candles(asset)]
    want = [(b.open_time_ms, b.open, b.high, b.low, b.close, v.volume(b.volume)) for b in map(SERIES.bar, range(17))]
    assert got == [pytest.approx(w) for w in want]
    assert streamer.bars_stored == 2 and streamer.repairs == 2
    assert any("subscribe" in m and v.symbol in m for m in srv.messages())
    if v.oi is not None or v.ends_bars:
        oi = OpenInterest.objects.get(asset=asset, time=ms_to_dt(CLOSE))
        assert oi.oi_base == pytest.approx(81_002.25)  # 1.5 s after the close beats 4 s before it, in the coin
    if v.code == "deribit":
        sent = [json.loads(m) for m in srv.messages()]
        assert sent[0]["method"] == "public/set_heartbeat"  # before the subscription
        assert any(m["method"] == "public/test" for m in sent)  # the heartbeat's test_request answered


@pytest.mark.django_db(transaction=True)
def test_offline_gate_is_said_once_and_not_asked_over_rest(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Gate's websocket does not answer: said once, and its REST is not asked for contracts at every refresh of
    the assets (only a reached venue is)."""
    tracked("gate")
    settings.LIQ_MARKET_REFRESH_SECONDS = 1
    settings.LIQ_GATE_WS_URL = "ws://127.0.0.1:9/v4/ws/usdt"
    with FakeVenues(SERIES, now_ms=SERIES.bar_time(12)) as fake:
        settings.LIQ_GATE_URL = fake.base_url
        out = io.StringIO()
        with caplog.at_level(logging.INFO, logger="heatmaps.market_stream"):
            call_command("stream_market", "--exchange", "gate", "--seconds", "3.5", stdout=out)
        assert fake.requests == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0]
    assert not any(r.exc_info for r in caplog.records)
    assert "bars=0" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_gate_without_its_contract_stores_no_stream_bar(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Gate's websocket answers but its contract cannot be read: no bar is stored without its volume, and the
    failed read and the unconvertible frames are each said once though the read is retried every refresh."""
    asset = tracked("gate")
    settings.LIQ_MARKET_REFRESH_SECONDS = 1

    async def main() -> MarketStreamer:
        async with MarketWsServer([[gate_bar(11), gate_bar(12), gate_oi(CLOSE + 1_000, 5.0)]]) as srv:
            settings.LIQ_GATE_WS_URL = srv.url
            streamer = MarketStreamer(exchanges=("gate",), now_ms=lambda: SERIES.bar_time(12) + 30_000)
            loop = asyncio.get_running_loop()
            read_at: list[float] = []

            async def done() -> bool:
                if not read_at and streamer.connections["gate"].stats.frames >= 3:  # after the REST repair's tries
                    read_at.append(loop.time())
                return bool(read_at) and loop.time() - read_at[0] > 2.5  # refreshes with the venue up meanwhile

            await run_until(streamer, done, timeout=25)
            return streamer

    with FakeVenues(SERIES, now_ms=SERIES.bar_time(12) + 30_000) as fake:
        settings.LIQ_GATE_URL = fake.base_url
        body = {"label": "INVALID_KEY", "message": "the contract cannot be read now"}
        fake.fail_next(403, path="/api/v4/futures/usdt/contracts/BTC_USDT", times=1_000, body=body)
        with caplog.at_level(logging.INFO, logger="heatmaps.market_stream"):
            streamer = asyncio.run(main())
        asked = len(fake.requests_to("/api/v4/futures/usdt/contracts/BTC_USDT"))
    assert asked >= 3  # at the connect (and its repair), then at refreshes with the venue up
    assert streamer.bars_stored == 0 and streamer.oi_stored == 0
    assert not Candle.objects.filter(asset=asset).exists()
    ours = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == "heatmaps.market_stream"
    ]
    assert sum("contract of BTC_USDT not read" in m for m in ours) == 1, ours
    assert sum("cannot convert" in m for m in ours) == 1, ours


@pytest.mark.django_db
def test_new_venues_are_asked_for_by_their_own_names_or_the_admins() -> None:
    from heatmaps.ingest.streamer import load_feeds
    from heatmaps.models import Exchange, VenueSymbol

    codes = ("hyperliquid", "bitget", "gate", "bitmex", "deribit")
    asset = tracked(codes[0])
    asset.exchanges.add(*(Exchange.get_supported(code) for code in codes[1:]))
    feeds = load_feeds(codes)
    assert {code: list(feeds[code]) for code in codes} == {
        "hyperliquid": ["BTC"], "bitget": ["BTCUSDT"], "gate": ["BTC_USDT"], "bitmex": ["XBTUSDT"],
        "deribit": ["BTC-PERPETUAL"],
    }  # fmt: skip
    VenueSymbol.objects.create(asset=asset, exchange=Exchange.get_supported("deribit"), symbol="BTC_USDC-PERPETUAL")
    assert list(load_feeds(("deribit",))["deribit"]) == ["BTC_USDC-PERPETUAL"]
