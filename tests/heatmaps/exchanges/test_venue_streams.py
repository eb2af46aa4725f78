"""Market-stream parsers of Hyperliquid, Bitget, Gate, BitMEX and Deribit against documented and recorded frames:
units (coin, contracts, USD), bar open times (BitMEX's end-stamped buckets shifted back), closed-bar detection
where the venue never says a bar is final, subscribe messages, Deribit's heartbeat answer."""

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
    BitgetMarketParser,
    BitmexMarketParser,
    DeribitMarketParser,
    GateMarketParser,
    HyperliquidMarketParser,
    MarkEvent,
    OiEvent,
    StreamRefused,
    bitget_messages,
    bitget_topics,
    bitmex_messages,
    bitmex_topics,
    deribit_answer,
    deribit_hello,
    deribit_messages,
    deribit_topics,
    gate_messages,
    gate_ping,
    gate_topics,
    hyperliquid_messages,
    hyperliquid_topics,
    topic_symbol,
)
from tests.heatmaps.exchanges.fake_ws import MarketWsServer

FIXTURES = Path(__file__).parent / "fixtures"
T5 = 1_704_067_200_000  # a 5-minute boundary (2024-01-01 00:00 UTC)
STEP = 300_000


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def bars(events: list[Any]) -> list[tuple[int, bool]]:
    return [(e.row.open_time_ms, e.closed) for e in events if isinstance(e, BarEvent)]


# --------------------------------------------------------------------------- Hyperliquid


def hl_candle(t: int, close: str | None = None) -> dict[str, Any]:
    frame = load("ws_hyperliquid_candle_docs.json")
    frame["data"].update(i="5m", t=t, T=t + STEP - 1)
    if close is not None:
        frame["data"]["c"] = close
    return frame


def test_hyperliquid_candle_is_closed_when_a_later_bar_arrives() -> None:
    parse = HyperliquidMarketParser()
    assert parse(load("ws_hyperliquid_candle_docs.json")) == []  # a 15m candle: not ours
    [forming] = parse(hl_candle(T5))
    assert isinstance(forming, BarEvent) and not forming.closed and forming.symbol == "BTC"
    assert bars(parse(hl_candle(T5, close="29270.5"))) == [(T5, False)]  # the same bar, updated
    closed, nxt = parse(hl_candle(T5 + STEP))
    assert isinstance(closed, BarEvent) and closed.closed and closed.row.open_time_ms == T5
    # The closed bar is its last push: open/high/low from the docs, the updated close, volume in the coin.
    row = closed.row
    assert (row.open, row.high, row.low, row.close, row.volume) == (29295.0, 29309.0, 29250.0, 29270.5, 0.98639)
    assert row.quote_volume is None and row.taker_buy_volume is None
    assert bars([nxt]) == [(T5 + STEP, False)]
    assert parse(hl_candle(T5)) == []  # a late push of a bar already closed


def test_hyperliquid_reset_forgets_the_open_bar() -> None:
    parse = HyperliquidMarketParser()
    parse(hl_candle(T5))
    parse.reset()  # a reconnect: the bar seen before it may miss trades of the outage
    assert bars(parse(hl_candle(T5 + 3 * STEP))) == [(T5 + 3 * STEP, False)]


def test_hyperliquid_candle_off_the_5_minute_grid_is_refused() -> None:
    with pytest.raises(MalformedPayload, match="5-minute"):
        HyperliquidMarketParser()(hl_candle(T5 + 60_000))


def test_hyperliquid_active_asset_ctx_mark_and_open_interest_in_coin() -> None:
    parse = HyperliquidMarketParser(now_ms=lambda: T5 + 1_234)
    mark, oi = parse(load("ws_hyperliquid_active_asset_ctx_nautilus.json"))
    assert mark == MarkEvent("BTC", T5 + 1_234, 77562.0)  # no time in the push: stamped when read
    assert isinstance(oi, OiEvent) and oi.symbol == "BTC" and oi.time_ms == T5 + 1_234
    assert oi.oi_base == 27353.17682 and oi.oi_value == pytest.approx(27353.17682 * 77562.0)
    assert parse(load("ws_hyperliquid_subscription_response_docs.json")) == []
    assert parse('{"channel":"pong"}') == []


def test_hyperliquid_messages_one_subscription_each() -> None:
    topics = hyperliquid_topics(["BTC"])
    assert [topic_symbol(t) for t in topics] == ["BTC", "BTC"]
    assert [json.loads(m) for m in hyperliquid_messages("subscribe", topics)] == [
        {"method": "subscribe", "subscription": {"type": "candle", "coin": "BTC", "interval": "5m"}},
        {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}},
    ]
    [unsub] = hyperliquid_messages("unsubscribe", ["activeAssetCtx:ETH"])
    assert json.loads(unsub) == {"method": "unsubscribe", "subscription": {"type": "activeAssetCtx", "coin": "ETH"}}


# --------------------------------------------------------------------------- Bitget


def bitget_candles(action: str, times: list[int]) -> dict[str, Any]:
    frame = load("ws_bitget_candle_docs.json")
    row = frame["data"][0]
    frame.update(action=action, arg={**frame["arg"], "channel": "candle5m"})
    frame["data"] = [[str(t), *row[1:]] for t in times]
    return frame


def test_bitget_snapshot_gives_the_last_closed_bar_and_the_one_in_progress() -> None:
    parse = BitgetMarketParser()
    assert parse(load("ws_bitget_candle_docs.json")) == []  # candle1m: not ours
    events = parse(bitget_candles("snapshot", [T5, T5 - 2 * STEP, T5 - STEP]))  # out of order on purpose
    assert bars(events) == [(T5 - STEP, True), (T5, False)]  # older bars are the REST ingest's
    assert isinstance(events[0], BarEvent) and events[0].symbol == "BTCUSDT"
    row = events[0].row
    assert (row.open, row.high, row.low, row.close) == (27000.0, 27000.5, 27000.0, 27000.5)
    assert (row.volume, row.quote_volume) == (0.057, 1539.0155)  # base coin, then USDT
    assert bars(parse(bitget_candles("update", [T5 + STEP]))) == [(T5, True), (T5 + STEP, False)]


def test_bitget_recorded_update_rows_in_order() -> None:
    frame = load("ws_bitget_candle_nautilus.json")
    frame["arg"]["channel"] = "candle5m"
    frame["data"][0][0], frame["data"][1][0] = str(T5), str(T5 + STEP)
    events = BitgetMarketParser()(frame)
    assert bars(events) == [(T5, True), (T5 + STEP, False)]  # the first row was closed by the second
    closed = events[0]
    assert isinstance(closed, BarEvent) and closed.symbol == "BTCUSDT-PERP"
    assert (closed.row.close, closed.row.volume, closed.row.quote_volume) == (100.75, 10.5, 12.0)


def test_bitget_ticker_mark_and_holding_amount_in_coin() -> None:
    mark, oi = BitgetMarketParser()(load("ws_bitget_ticker_docs.json"))
    assert mark == MarkEvent("BTCUSDT", 1695715383021, 27000.0)
    assert oi == OiEvent("BTCUSDT", 1695715383021, 929.502, 929.502 * 27000.0)
    assert BitgetMarketParser()({"event": "subscribe", "arg": {"channel": "ticker"}}) == []
    assert BitgetMarketParser()("pong") == []


def test_bitget_messages() -> None:
    [msg] = bitget_messages("subscribe", bitget_topics(["BTCUSDT"]))
    assert json.loads(msg) == {
        "op": "subscribe",
        "args": [
            {"instType": "USDT-FUTURES", "channel": "candle5m", "instId": "BTCUSDT"},
            {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"},
        ],
    }
    assert [len(json.loads(m)["args"]) for m in bitget_messages("unsubscribe", bitget_topics(list("ABCDEFGHIJK")))] == [
        20,
        2,
    ]


# --------------------------------------------------------------------------- Gate


def gate_candle(t_s: Any, **extra: Any) -> dict[str, Any]:
    frame = load("ws_gate_candlesticks_docs.json")
    frame["result"][0].update(n="5m_BTC_USDT", t=t_s, **extra)
    return frame


def test_gate_candle_seconds_contracts_and_window_close() -> None:
    parse = GateMarketParser({"BTC_USDT": 0.0001})
    assert parse(load("ws_gate_candlesticks_docs.json")) == []  # 1m: not ours
    [forming] = parse(gate_candle(T5 // 1000))
    assert isinstance(forming, BarEvent) and not forming.closed and forming.symbol == "BTC_USDT"
    row = forming.row
    assert row.open_time_ms == T5  # seconds → ms
    assert (row.open, row.high, row.low, row.close) == (94.3, 96.9, 89.5, 95.4)
    assert row.volume == pytest.approx(27525555 * 0.0001)  # contracts × quanto_multiplier
    # ``w: true`` closes it at once; without it, the next bar does.
    assert bars(parse(gate_candle(T5 // 1000, w=True))) == [(T5, True)]
    parse(gate_candle(T5 // 1000 + 300))
    assert bars(parse(gate_candle(T5 // 1000 + 600))) == [(T5 + STEP, True), (T5 + 2 * STEP, False)]


def test_gate_unsized_contract_and_millisecond_time() -> None:
    unsized: list[str] = []  # a bar without its volume is not given (the REST ingest brings it whole)
    assert GateMarketParser({}, on_unsized=unsized.append)(gate_candle(T5 // 1000)) == []
    assert unsized == ["BTC_USDT"]
    with pytest.raises(MalformedPayload, match="seconds"):
        GateMarketParser({"BTC_USDT": 0.0001})(gate_candle(T5))


def test_gate_tickers_open_interest_from_contracts() -> None:
    frame = load("ws_gate_tickers_docs.json")
    frame["result"][0]["contract"] = "BTC_USDT"
    mark, oi = GateMarketParser({"BTC_USDT": 0.0001})(frame)
    assert mark == MarkEvent("BTC_USDT", 1541659086123, 118.35)
    assert isinstance(oi, OiEvent) and oi.time_ms == 1541659086123
    assert oi.oi_base == pytest.approx(7.3648) and oi.oi_value == pytest.approx(7.3648 * 118.35)
    unsized: list[str] = []
    assert GateMarketParser({}, on_unsized=unsized.append)(frame) == [mark] and unsized == ["BTC_USDT"]
    assert GateMarketParser({})(load("ws_gate_subscribe_ack_docs.json")) == []
    assert GateMarketParser({})(load("ws_gate_pong_docs.json")) == []


def test_gate_messages_and_ping() -> None:
    msgs = [json.loads(m) for m in gate_messages("subscribe", gate_topics(["BTC_USDT"]), now_s=lambda: 1.7e9)]
    assert msgs == [
        {"time": 1700000000, "channel": "futures.candlesticks", "event": "subscribe", "payload": ["5m", "BTC_USDT"]},
        {"time": 1700000000, "channel": "futures.tickers", "event": "subscribe", "payload": ["BTC_USDT"]},
    ]
    assert json.loads(gate_ping(now_s=lambda: 1.7e9)) == {"time": 1700000000, "channel": "futures.ping"}


# --------------------------------------------------------------------------- BitMEX


def bitmex_table(table: str, action: str, rows: list[dict[str, Any]]) -> str:
    return json.dumps({"table": table, "action": action, "data": rows})


def test_bitmex_bucket_stamped_at_its_end_is_shifted_back() -> None:
    row = load("ws_bitmex_trade_bin_nautilus.json")
    parse = BitmexMarketParser()
    with pytest.raises(MalformedPayload, match="5-minute"):  # the recorded 1-minute bin ends at 20:07
        parse(bitmex_table("tradeBin5m", "insert", [row]))
    row["timestamp"] = "2024-11-23T20:10:00.000Z"
    [bar] = parse(bitmex_table("tradeBin5m", "insert", [row]))
    assert isinstance(bar, BarEvent) and bar.closed and bar.symbol == "XBTUSD"
    assert bar.row.open_time_ms == 1732392300000  # 20:05:00 UTC: the bucket's start
    assert (bar.row.open, bar.row.high, bar.row.low, bar.row.close) == (97550.0, 97584.4, 97550.0, 97570.1)
    assert (bar.row.volume, bar.row.quote_volume) == (0.8609776, 84000.0)  # homeNotional coin, foreignNotional
    empty = {**row, "open": None, "high": None, "low": None, "close": None}
    assert parse(bitmex_table("tradeBin5m", "partial", [empty])) == []  # no trades, no prices


def test_bitmex_instrument_contracts_to_coin_and_deltas() -> None:
    parse = BitmexMarketParser()
    linear = {**load("ws_bitmex_instrument_nautilus.json"), "symbol": "XBTUSDT", "isInverse": False,
              "isQuanto": False, "underlyingToPositionMultiplier": 1_000_000}  # fmt: skip
    at = 1732536000000  # 2024-11-25T12:00:00Z
    mark, oi = parse(bitmex_table("instrument", "partial", [linear]))
    assert mark == MarkEvent("XBTUSDT", at, 95125.7)
    assert isinstance(oi, OiEvent) and oi.time_ms == at
    assert oi.oi_base == pytest.approx(123.456789) and oi.oi_value == pytest.approx(123.456789 * 95125.7)
    # An update carries only what changed: a new mark, no open interest.
    update = {**load("ws_bitmex_instrument_mark_update_nautilus.json"), "symbol": "XBTUSDT"}
    [mark2] = parse(bitmex_table("instrument", "update", [update]))
    assert mark2 == MarkEvent("XBTUSDT", 1779886600500, 1.2669)
    [oi2] = parse(bitmex_table("instrument", "update", [{"symbol": "XBTUSDT", "openInterest": 2_000_000,
                                                          "timestamp": "2026-05-27T12:56:41.000Z"}]))  # fmt: skip
    assert oi2 == OiEvent("XBTUSDT", 1779886601000, 2.0, 2.0 * 1.2669)


def test_bitmex_inverse_contract_gives_no_open_interest() -> None:
    inverse = {**load("ws_bitmex_instrument_nautilus.json"), "isInverse": True, "underlyingToPositionMultiplier": None}
    events = BitmexMarketParser()(bitmex_table("instrument", "partial", [inverse]))
    assert events == [MarkEvent("XBTUSD", 1732536000000, 95125.7)]
    assert BitmexMarketParser()(load("ws_bitmex_subscribe_ack.json")) == []
    assert BitmexMarketParser()("pong") == []


def test_bitmex_messages() -> None:
    [msg] = bitmex_messages("subscribe", bitmex_topics(["XBTUSDT"]))
    assert json.loads(msg) == {"op": "subscribe", "args": ["tradeBin5m:XBTUSDT", "instrument:XBTUSDT"]}
    assert [topic_symbol(t) for t in bitmex_topics(["XBTUSDT"])] == ["XBTUSDT", "XBTUSDT"]


# --------------------------------------------------------------------------- Deribit


def deribit_chart(tick: int) -> dict[str, Any]:
    frame = copy.deepcopy(load("ws_deribit_chart_nautilus.json"))
    frame["params"]["channel"] = "chart.trades.BTC-PERPETUAL.5"
    frame["params"]["data"]["tick"] = tick
    return frame


def test_deribit_chart_closed_when_a_later_tick_arrives() -> None:
    parse = DeribitMarketParser({})
    assert parse(load("ws_deribit_chart_nautilus.json")) == []  # the 1-minute channel: not ours
    [forming] = parse(deribit_chart(T5))
    assert isinstance(forming, BarEvent) and not forming.closed and forming.symbol == "BTC-PERPETUAL"
    closed, _nxt = parse(deribit_chart(T5 + STEP))
    assert isinstance(closed, BarEvent) and closed.closed and closed.row.open_time_ms == T5
    assert (closed.row.open, closed.row.close, closed.row.volume, closed.row.quote_volume) == (
        87490.0, 87474.0, 0.95978896, 83970.0,
    )  # fmt: skip


def test_deribit_ticker_inverse_open_interest_is_usd_converted_at_the_mark() -> None:
    frame = load("ws_deribit_ticker_nautilus.json")
    mark, oi = DeribitMarketParser({"BTC-PERPETUAL": True})(frame)
    assert mark == MarkEvent("BTC-PERPETUAL", 1765541474086, 92281.78)
    assert oi == OiEvent("BTC-PERPETUAL", 1765541474086, 1132329370.0 / 92281.78, 1132329370.0)
    [_, linear] = DeribitMarketParser({"BTC-PERPETUAL": False})(frame)
    assert linear == OiEvent("BTC-PERPETUAL", 1765541474086, 1132329370.0, 1132329370.0 * 92281.78)
    unknown: list[str] = []
    assert DeribitMarketParser({}, on_unknown=unknown.append)(frame) == [mark] and unknown == ["BTC-PERPETUAL"]


def test_deribit_heartbeat_answer_and_non_data_frames() -> None:
    request = load("ws_deribit_test_request_nautilus.json")
    answer = json.loads(deribit_answer(json.dumps(request)) or "null")
    assert answer["method"] == "public/test" and answer["jsonrpc"] == "2.0" and "id" in answer
    assert deribit_answer(json.dumps(load("ws_deribit_ticker_nautilus.json"))) is None
    parse = DeribitMarketParser({})
    assert parse(request) == [] and parse(load("ws_deribit_subscribe_response_nautilus.json")) == []


def test_deribit_messages_and_heartbeat_request() -> None:
    topics = deribit_topics(["BTC-PERPETUAL"])
    assert [topic_symbol(t) for t in topics] == ["BTC-PERPETUAL", "BTC-PERPETUAL"]
    [sub] = [json.loads(m) for m in deribit_messages("subscribe", topics)]
    assert sub["method"] == "public/subscribe" and sub["jsonrpc"] == "2.0"
    assert sub["params"] == {"channels": ["chart.trades.BTC-PERPETUAL.5", "ticker.BTC-PERPETUAL.agg2"]}
    [unsub] = [json.loads(m) for m in deribit_messages("unsubscribe", topics[:1])]
    assert unsub["method"] == "public/unsubscribe" and unsub["id"] != sub["id"]
    [hello] = [json.loads(m) for m in deribit_hello()]
    assert hello["method"] == "public/set_heartbeat" and hello["params"] == {"interval": 30}


# --------------------------------------------------------------------------- refusals


REFUSALS = [
    (HyperliquidMarketParser(), {"channel": "error", "data": "Invalid subscription {\"type\":\"candle\"}"}),
    (BitgetMarketParser(), {"event": "error", "code": 30001, "msg": "instId:BTCUSDTX doesn't exist",
                            "arg": {"instType": "USDT-FUTURES", "channel": "candle5m", "instId": "BTCUSDTX"}}),
    (GateMarketParser({}), {"time": 1545404023, "channel": "futures.candlesticks", "event": "subscribe",
                            "error": {"code": 2, "message": "unknown contract BTC_USDTX"}, "result": None}),
    (BitmexMarketParser(), {"status": 400, "error": "Unknown or expired symbol.",
                            "request": {"op": "subscribe", "args": ["tradeBin5m:XBTUSDTX"]}}),
    (DeribitMarketParser({}), load("deribit_error_nautilus.json")),
]  # fmt: skip


@pytest.mark.parametrize(("parse", "frame"), REFUSALS, ids=["hyperliquid", "bitget", "gate", "bitmex", "deribit"])
def test_a_refused_request_is_told_apart_from_data(parse: Any, frame: dict[str, Any]) -> None:
    with pytest.raises(StreamRefused, match="refused a request") as info:
        parse(json.dumps(frame))
    assert not isinstance(info.value, MalformedPayload)


def test_the_connection_warns_of_a_refusal_and_stays_open(caplog: pytest.LogCaptureFixture) -> None:
    refusal = json.dumps(load("deribit_error_nautilus.json"))
    bar = json.dumps(deribit_chart(T5))
    got: list[Any] = []

    async def main() -> tuple[MarketWsServer, MarketConnection]:
        stop = asyncio.Event()
        async with MarketWsServer([[refusal, bar]]) as srv:
            conn = MarketConnection("deribit", srv.url, DeribitMarketParser({}), deribit_messages)
            conn.set_topics(deribit_topics(["BTC-PERPETUAL"]))

            async def on_events(c: MarketConnection, events: list[Any]) -> None:
                got.extend(events)
                stop.set()

            await run_market_connection(conn, on_events, stop_event=stop, backoff_base=0.05)
            return srv, conn

    with caplog.at_level(logging.INFO, logger="heatmaps.exchanges.market_stream"):
        srv, conn = asyncio.run(asyncio.wait_for(main(), 10))
    assert srv.connections == 1 and bars(got) == [(T5, False)]  # the frame after the refusal still read
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["deribit market stream: deribit refused a request: code 10028: too_many_requests"]
    assert conn.stats.malformed == 0
