"""Market-stream parsers against recorded frames, the open-interest sampler, and the connection loop."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from heatmaps.exchanges.errors import MalformedPayload
from heatmaps.exchanges.market_connection import MarketConnection, run_market_connection
from heatmaps.exchanges.streams import (
    BarEvent,
    BybitMarketParser,
    CloseSampler,
    MarkEvent,
    OiEvent,
    binance_url,
    bybit_messages,
    okx_messages,
    parse_binance_market,
    parse_okx_market,
    topic_symbol,
)
from heatmaps.rows import OpenInterestRow
from tests.heatmaps.exchanges.fake_ws import DROP, MarketWsServer

FIXTURES = Path(__file__).parent / "fixtures"
T5 = 1_704_067_200_000  # a 5-minute boundary


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def as_5m_binance(frame: dict[str, Any], t: int = T5) -> dict[str, Any]:
    out = copy.deepcopy(frame)
    out["k"].update(i="5m", t=t, T=t + 299_999)
    return out


# --------------------------------------------------------------------------- Binance


def test_binance_kline_forming_and_closed() -> None:
    assert parse_binance_market(load("ws_binance_kline_docs.json")) == []  # a 1m bar: not ours
    forming = parse_binance_market(as_5m_binance(load("ws_binance_kline_docs.json")))
    assert len(forming) == 1 and isinstance(forming[0], BarEvent) and not forming[0].closed
    combined = {"stream": "btcusdt@kline_5m", "data": as_5m_binance(load("ws_binance_kline_closed_nautilus.json"))}
    [closed] = parse_binance_market(json.dumps(combined))
    assert isinstance(closed, BarEvent) and closed.closed and closed.symbol == "BTCUSDT"
    row = closed.row
    assert (row.open_time_ms, row.open, row.high, row.low, row.close) == (T5, 0.001, 0.0025, 0.001, 0.002)
    assert (row.volume, row.taker_buy_volume, row.quote_volume) == (1000.0, 500.0, 1.0)


def test_binance_mark_price_and_acks() -> None:
    [mark] = parse_binance_market(load("ws_binance_mark_price_docs.json"))
    assert mark == MarkEvent("BTCUSDT", 1562305380000, 11794.15)
    assert parse_binance_market('{"result": null, "id": 1}') == []


def test_binance_bar_time_in_seconds_is_refused() -> None:
    frame = as_5m_binance(load("ws_binance_kline_closed_nautilus.json"))
    frame["k"]["t"] = T5 // 1000
    with pytest.raises(MalformedPayload, match="seconds"):
        parse_binance_market(frame)


def test_binance_url_names_the_topics() -> None:
    url = binance_url("wss://x/market/stream", ["btcusdt@kline_5m", "btcusdt@markPrice@1s"])
    assert url == "wss://x/market/stream?streams=btcusdt@kline_5m/btcusdt@markPrice@1s"


# --------------------------------------------------------------------------- Bybit


def test_bybit_kline_confirm() -> None:
    parse = BybitMarketParser()
    [forming] = parse(load("ws_bybit_kline_docs.json"))
    assert isinstance(forming, BarEvent) and not forming.closed
    assert forming.row.open_time_ms == 1672324800000 and forming.row.quote_volume == 34666.4005
    closed = load("ws_bybit_kline_docs.json")
    closed["data"][0]["confirm"] = True
    [bar] = parse(json.dumps(closed))
    assert isinstance(bar, BarEvent) and bar.closed and bar.row.close == 16677.0


def test_bybit_tickers_snapshot_then_delta_keeps_merged_state() -> None:
    parse = BybitMarketParser()
    snap = parse(load("ws_bybit_tickers_nautilus.json"))
    assert MarkEvent("BTCUSDT", 1673272861686, 17217.33) in snap
    assert OiEvent("BTCUSDT", 1673272861686, 68744.761, 1183601235.91) in snap
    # A delta carries only what changed: here the mark price. Open interest is the snapshot's.
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "data": {"symbol": "BTCUSDT", "markPrice": "17220.00"},
             "cs": 24987956060, "ts": 1673272862686}  # fmt: skip
    events = parse(json.dumps(delta))
    assert MarkEvent("BTCUSDT", 1673272862686, 17220.0) in events
    assert OiEvent("BTCUSDT", 1673272862686, 68744.761, 1183601235.91) in events
    delta["data"] = {"symbol": "BTCUSDT", "openInterest": "68750.000"}
    assert OiEvent("BTCUSDT", 1673272862686, 68750.0, 1183601235.91) in parse(json.dumps(delta))
    assert parse('{"success":true,"ret_msg":"pong","op":"ping"}') == []


def test_bybit_messages_take_ten_args_each() -> None:
    msgs = [json.loads(m) for m in bybit_messages("subscribe", [f"kline.5.S{i}" for i in range(12)])]
    assert [len(m["args"]) for m in msgs] == [10, 2] and msgs[0]["op"] == "subscribe"


# --------------------------------------------------------------------------- OKX


def test_okx_candle_confirm_and_volume_in_coins() -> None:
    frame = load("ws_okx_candle_nautilus.json")
    assert parse_okx_market(frame, {}) == []  # candle1D: not ours
    frame["arg"] = {"channel": "candle5m", "instId": "BTC-USDT-SWAP"}
    frame["data"][0][0] = str(T5)
    [closed] = parse_okx_market(json.dumps(frame), {})
    assert isinstance(closed, BarEvent) and closed.closed and closed.symbol == "BTC-USDT-SWAP"
    assert closed.row.volume == 529.5858061 and closed.row.quote_volume == 5529.5858061
    frame["data"][0][8] = "0"
    frame["data"][0][6] = ""  # no volCcy: contracts × contract size
    [forming] = parse_okx_market(frame, {"BTC-USDT-SWAP": 0.01})
    assert isinstance(forming, BarEvent) and not forming.closed and forming.row.volume == pytest.approx(452.47)
    unsized: list[str] = []
    [bar] = parse_okx_market(frame, {}, on_unsized=unsized.append)
    assert isinstance(bar, BarEvent) and bar.row.volume is None and unsized == ["BTC-USDT-SWAP"]


def test_okx_mark_price_open_interest_and_pong() -> None:
    assert parse_okx_market(load("ws_okx_mark_price_docs.json"), {}) == [
        MarkEvent("LTC-USD-190628", 1597026383085, 0.1)
    ]
    [oi] = parse_okx_market(load("ws_okx_open_interest_docs.json"), {})
    assert oi == OiEvent("BTC-USDT-SWAP", 1743041250440, 22161.1301000000309, 1939251795.54769270396321)
    assert parse_okx_market("pong", {}) == []
    assert parse_okx_market({"event": "subscribe", "arg": {"channel": "candle5m"}}, {}) == []


def test_okx_messages_and_topic_symbols() -> None:
    [msg] = okx_messages("unsubscribe", ["candle5m:BTC-USDT-SWAP"])
    assert json.loads(msg) == {"op": "unsubscribe", "args": [{"channel": "candle5m", "instId": "BTC-USDT-SWAP"}]}
    assert topic_symbol("candle5m:BTC-USDT-SWAP") == "BTC-USDT-SWAP"
    assert topic_symbol("btcusdt@markPrice@1s") == "BTCUSDT"
    assert topic_symbol("tickers.ETHUSDT") == "ETHUSDT"


# --------------------------------------------------------------------------- open interest onto bar closes


def test_sampler_takes_the_snapshot_nearest_the_close_stamped_at_the_close() -> None:
    s = CloseSampler()
    assert s.add(OiEvent("X", T5 - 200_000, 1.0, 10.0)) == []
    assert s.add(OiEvent("X", T5 - 3_000, 2.0, 20.0)) == []
    assert s.add(OiEvent("X", T5 + 9_000, 3.0, 30.0)) == [OpenInterestRow(T5, 2.0, 20.0)]  # 3 s before beats 9 s after
    assert s.add(OiEvent("X", T5 + 9_000, 3.0, 30.0)) == []  # replay
    assert s.add(OiEvent("X", T5 + 300_000 + 1_000, 4.0, 40.0)) == [OpenInterestRow(T5 + 300_000, 4.0, 40.0)]
    # A snapshot far from any close (an outage) gives no row: REST repair fills that bar.
    assert s.add(OiEvent("X", T5 + 1_500_000 + 200_000, 5.0, 50.0)) == []
    assert s.add(OiEvent("Y", T5, 6.0, None)) == [OpenInterestRow(T5, 6.0, None)]


# --------------------------------------------------------------------------- the connection loop


def test_connection_pings_reconnects_and_follows_topics() -> None:
    frame = json.dumps(as_5m_binance(load("ws_binance_kline_closed_nautilus.json")))
    got: list[Any] = []
    connects: list[set[str]] = []

    async def main() -> tuple[MarketWsServer, MarketConnection]:
        stop = asyncio.Event()
        async with MarketWsServer([[frame, DROP], [frame]]) as srv:
            conn = MarketConnection(
                "bybit", srv.url, parse_binance_market, bybit_messages, ping_message='{"op":"ping"}', ping_interval=0.2
            )
            conn.set_topics(["kline.5.BTCUSDT"])

            async def on_events(c: MarketConnection, events: list[Any]) -> None:
                got.extend(events)

            async def on_connect(c: MarketConnection, topics: set[str]) -> None:
                connects.append(topics)

            async def drive() -> None:
                while srv.connections < 2 or len(got) < 2:
                    await asyncio.sleep(0.02)
                conn.set_topics(["kline.5.BTCUSDT", "kline.5.ETHUSDT"])
                await asyncio.sleep(0.6)
                stop.set()

            await asyncio.gather(
                run_market_connection(conn, on_events, stop_event=stop, on_connect=on_connect, backoff_base=0.05),
                drive(),
            )
            return srv, conn

    srv, conn = asyncio.run(asyncio.wait_for(main(), 15))
    assert srv.connections == 2 and conn.stats.reconnects >= 1
    assert len(got) == 2 and all(isinstance(e, BarEvent) and e.closed for e in got)
    assert connects == [{"kline.5.BTCUSDT"}, {"kline.5.BTCUSDT"}]
    sent = [json.loads(m) for n, m in srv.received if n == 2 and m.startswith("{")]
    assert {"op": "subscribe", "args": ["kline.5.ETHUSDT"]} in sent  # added on the live connection
    assert {"op": "ping"} in sent


def test_unreachable_exchange_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        conn = MarketConnection("okx-public", "ws://127.0.0.1:9/ws", parse_binance_market, okx_messages)
        conn.set_topics(["mark-price:BTC-USDT-SWAP"])

        async def nothing(c: MarketConnection, events: list[Any]) -> None:
            return None

        asyncio.get_running_loop().call_later(1.0, stop.set)
        st = await run_market_connection(conn, nothing, stop_event=stop, backoff_base=0.05, backoff_max=0.1)
        assert st.reconnects >= 3

    with caplog.at_level(logging.INFO, logger="heatmaps.exchanges.market_stream"):
        asyncio.run(main())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
