"""Payload parsers against recorded responses in the exchanges' exact shapes (tests/heatmaps/exchanges/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from heatmaps.exchanges import (
    MalformedPayload,
    PermanentExchangeError,
    RateLimitedError,
    UnknownSymbolError,
    binance,
    bybit,
    okx,
)
from heatmaps.exchanges.liquidations import (
    parse_binance_force_order,
    parse_bybit_all_liquidation,
    parse_okx_liquidation_orders,
)
from heatmaps.rows import CandleRow, FundingRow, OpenInterestRow

FIXTURES = Path(__file__).parent / "fixtures"
T0 = 1_704_067_200_000
M5 = 300_000


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --------------------------------------------------------------------------- Binance


def test_binance_klines_drop_forming_candle_and_keep_taker_and_quote_volume() -> None:
    now = T0 + 2 * M5 + 60_000  # inside the third bar
    rows = binance.parse_klines(load("binance_klines.json"), now_ms=now)
    assert rows == [
        CandleRow(T0, 42283.6, 42350.0, 42251.1, 42300.2, 1502.118, 801.552, 63532158.9142),
        CandleRow(T0 + M5, 42300.2, 42420.7, 42290.0, 42401.3, 1130.507, 600.01, 47904471.9938),
    ]


def test_binance_klines_keep_last_candle_once_closed() -> None:
    rows = binance.parse_klines(load("binance_klines.json"), now_ms=T0 + 3 * M5)
    assert [r.open_time_ms for r in rows] == [T0, T0 + M5, T0 + 2 * M5]


def test_binance_klines_accept_numbers_and_empty_page() -> None:
    rows = binance.parse_klines(load("binance_klines_numbers.json"), now_ms=T0 + M5)
    assert rows == [CandleRow(T0, 42283.6, 42350.0, 42251.1, 42300.2, 1502.118, 801.552, 63532158.9142)]
    assert binance.parse_klines(load("binance_klines_empty.json"), now_ms=T0) == []


def test_binance_klines_short_row_is_malformed_and_names_endpoint() -> None:
    with pytest.raises(MalformedPayload, match=r"/fapi/v1/klines.*row 0 has 5 elements"):
        binance.parse_klines(load("binance_klines_short_row.json"), now_ms=T0 + M5)


def test_binance_open_interest_hist() -> None:
    rows = binance.parse_open_interest_hist(load("binance_open_interest_hist.json"))
    assert rows == [
        OpenInterestRow(1583127900000, 20403.637, 150570784.07809979),
        OpenInterestRow(1583128200000, 20401.367, 149940752.14464448),
    ]


def test_binance_current_open_interest_and_premium_index() -> None:
    assert binance.parse_open_interest_now(load("binance_open_interest.json")) == OpenInterestRow(
        1589437530011, 10659.509, None
    )
    mark = binance.parse_premium_index(load("binance_premium_index.json"))
    assert mark.mark_price == 11793.63104562
    assert mark.next_funding_time_ms == 1597392000000
    assert mark.last_funding_rate == 0.00038246


def test_binance_funding_empty_mark_price_and_mixed_types() -> None:
    assert binance.parse_funding(load("binance_funding_rate.json")) == [
        FundingRow(1570608000000, -0.0375, None),
        FundingRow(1570636800000, 0.0001, 34287.54619963),
        FundingRow(1570665600000, 0.0001, None),
    ]


def test_binance_error_bodies_map_to_errors() -> None:
    err = binance.classify_error(400, load("binance_error_invalid_symbol.json"), "/fapi/v1/klines")
    assert isinstance(err, UnknownSymbolError) and isinstance(err, PermanentExchangeError)
    err = binance.classify_error(429, load("binance_error_too_many_requests.json"), "/fapi/v1/klines")
    assert isinstance(err, RateLimitedError)
    with pytest.raises(UnknownSymbolError):  # the same body on a 200
        binance.parse_klines(load("binance_error_invalid_symbol.json"), now_ms=T0)


def test_binance_klines_weight_table() -> None:
    assert [binance.klines_weight(n) for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)] == [1, 1, 2, 2, 5, 5, 10, 10]


# --------------------------------------------------------------------------- Bybit


def test_bybit_kline_newest_first_is_reversed_and_forming_bar_dropped() -> None:
    rows = bybit.parse_kline(load("bybit_kline.json"), now_ms=T0 + 2 * M5 + 60_000)
    assert rows == [
        CandleRow(T0, 42283.6, 42350.0, 42251.1, 42300.2, 1502.118, None, 63532158.9142),
        CandleRow(T0 + M5, 42300.2, 42420.7, 42290.0, 42401.3, 1130.507, None, 47904471.9938),
    ]
    assert bybit.parse_kline(load("bybit_kline_empty.json"), now_ms=T0) == []


def test_bybit_open_interest_base_only_with_cursor() -> None:
    rows, cursor = bybit.parse_open_interest(load("bybit_open_interest.json"))
    assert rows == [OpenInterestRow(T0, 50190.5, None), OpenInterestRow(T0 + M5, 50213.399, None)]
    assert cursor == "lastid%3D123456"


def test_bybit_funding() -> None:
    assert bybit.parse_funding(load("bybit_funding_history.json")) == [
        FundingRow(1704067200000, -0.00002115, None),
        FundingRow(1704096000000, 0.0001, None),
    ]


def test_bybit_error_envelopes() -> None:
    with pytest.raises(UnknownSymbolError, match="retCode 10001"):
        bybit.parse_kline(load("bybit_error_symbol.json"), now_ms=T0)
    with pytest.raises(RateLimitedError):
        bybit.parse_funding(load("bybit_error_rate_limit.json"))
    with pytest.raises(MalformedPayload, match=r"/v5/market/kline.*retCode"):
        bybit.parse_kline({"result": {}}, now_ms=T0)


# --------------------------------------------------------------------------- OKX


def test_okx_candles_confirm_flag_and_volumes() -> None:
    rows = okx.parse_candles(load("okx_history_candles.json"), now_ms=T0 + 10 * M5)  # bar closed in time, confirm 0
    assert rows == [
        CandleRow(T0, 42283.6, 42350.0, 42251.1, 42300.2, 1502.118, None, 63532158.9142),
        CandleRow(T0 + M5, 42300.2, 42420.7, 42290.0, 42401.3, 1130.507, None, 47904471.9938),
    ]
    assert okx.parse_candles(load("okx_empty.json"), now_ms=T0) == []


def test_okx_open_interest_history_and_funding() -> None:
    assert okx.parse_open_interest_history(load("okx_open_interest_history.json")) == [
        OpenInterestRow(T0, 27900.0, 1179651600.0),
        OpenInterestRow(T0 + M5, 27946.4021, 1181785553.07),
    ]
    assert okx.parse_funding(load("okx_funding_rate_history.json")) == [
        FundingRow(1704067200000, 0.0000628, None),  # realizedRate, not the predicted fundingRate 0.00006281
        FundingRow(1704096000000, 0.0001, None),
    ]


def test_okx_error_envelopes() -> None:
    with pytest.raises(UnknownSymbolError, match="51001"):
        okx.parse_candles(load("okx_error_instrument.json"), now_ms=T0)
    with pytest.raises(RateLimitedError):
        okx.parse_funding(load("okx_error_rate_limit.json"))
    bad = load("okx_open_interest_history.json")
    bad["data"][0] = bad["data"][0][:2]
    with pytest.raises(MalformedPayload, match=r"open-interest-history.*row 0 has 2 elements"):
        okx.parse_open_interest_history(bad)


# --------------------------------------------------------------------------- liquidation frames


def test_binance_force_order_sides_quantity_and_dedupe_key() -> None:
    [row] = parse_binance_force_order(json.dumps(load("ws_binance_force_order.json")))
    assert (row.symbol, row.side, row.price, row.quantity, row.time_ms) == (
        "BTCUSDT",
        "long",
        9910.0,
        0.014,
        1568014460893,
    )
    assert row.value == pytest.approx(138.74)
    # one key per order: symbol, side, original quantity, order price and the UTC day (18148 = 2019-09-09)
    assert row.dedupe_key == "binance:BTCUSDT:SELL:0.014:9910.0:18148"
    [row] = parse_binance_force_order(load("ws_binance_force_order_combined.json"))
    assert (row.symbol, row.side, row.price, row.quantity) == ("ETHUSDT", "short", 180.0, 1.0)  # z, not l
    with pytest.raises(MalformedPayload, match="COIN-M"):
        parse_binance_force_order(load("ws_binance_force_order_cm.json"))
    assert parse_binance_force_order(load("ws_binance_subscribe_ack.json")) == []


def test_bybit_all_liquidation_position_side() -> None:
    rows = parse_bybit_all_liquidation(json.dumps(load("ws_bybit_all_liquidation.json")).encode())
    assert [(r.side, r.quantity, r.price) for r in rows] == [("short", 20000.0, 0.04499), ("long", 1500.0, 0.04501)]
    assert rows[0].value == pytest.approx(899.8)
    assert parse_bybit_all_liquidation(load("ws_bybit_subscribe_ack.json")) == []
    assert parse_bybit_all_liquidation(load("ws_bybit_pong.json")) == []


def test_okx_liquidation_orders_contract_size_and_sides() -> None:
    frame = load("ws_okx_liquidation_orders.json")
    rows = parse_okx_liquidation_orders(frame, {"BTC-USDT-SWAP": 0.01, "IOST-USDT-SWAP": 1000})
    assert [(r.symbol, r.side, r.quantity, r.price) for r in rows] == [
        ("BTC-USDT-SWAP", "long", 0.13, 42001.5),
        ("IOST-USDT-SWAP", "short", 130000.0, 0.007831),
    ]
    assert rows[0].value == pytest.approx(0.13 * 42001.5)
    unsized: list[str] = []
    only_btc = parse_okx_liquidation_orders(frame, {"BTC-USDT-SWAP": 0.01}, on_unsized=unsized.append)
    assert [r.symbol for r in only_btc] == ["BTC-USDT-SWAP"]
    assert unsized == ["IOST-USDT-SWAP"]  # unknown ctVal: reported, not read
    assert parse_okx_liquidation_orders(load("ws_okx_subscribe_ack.json"), {}) == []
    assert parse_okx_liquidation_orders("pong", {}) == []


def test_malformed_liquidation_frame_names_the_stream() -> None:
    frame = load("ws_bybit_all_liquidation.json")
    frame["data"][0]["p"] = "n/a"
    with pytest.raises(MalformedPayload, match=r"allLiquidation.*data\[0\]\.p"):
        parse_bybit_all_liquidation(frame)
