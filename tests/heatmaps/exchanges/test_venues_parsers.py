"""Hyperliquid, Bitget, Gate, BitMEX and Deribit parsers on the venues' documented example responses (fixtures/README.md names each
source): units, sides of the envelope, timestamps, and what is refused."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from heatmaps.exchanges import (
    EXCHANGE_CODES,
    MalformedPayload,
    PermanentExchangeError,
    RateLimitedError,
    UnknownSymbolError,
    bitget,
    bitmex,
    default_symbol,
    deribit,
    gate,
    get_connector,
    hyperliquid,
)
from heatmaps.rows import CandleRow, FundingRow

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --------------------------------------------------------------------------- Hyperliquid


def test_hyperliquid_candle_docs_example_is_one_closed_15m_bar_in_the_coin() -> None:
    payload = load("hyperliquid_candle_snapshot_docs.json")
    # The example is a 15-minute candle: t is its open, T = t + 15 min - 1 ms its close.
    assert payload[0]["T"] - payload[0]["t"] == 15 * 60_000 - 1
    rows = hyperliquid.parse_candle_snapshot(payload, now_ms=payload[0]["T"] + 1, coin="BTC", interval="15m")
    assert rows == [CandleRow(1681923600000, 29295.0, 29309.0, 29250.0, 29258.0, 0.98639, None, None)]
    # Still forming at its own close time; asked as 5m it is the wrong series and refused.
    assert hyperliquid.parse_candle_snapshot(payload, now_ms=payload[0]["T"], coin="BTC", interval="15m") == []
    with pytest.raises(MalformedPayload, match="interval '15m'"):
        hyperliquid.parse_candle_snapshot(payload, now_ms=payload[0]["T"] + 1, coin="BTC")
    with pytest.raises(MalformedPayload, match="coin 'BTC', not 'ETH'"):
        hyperliquid.parse_candle_snapshot(payload, now_ms=payload[0]["T"] + 1, coin="ETH", interval="15m")


def test_hyperliquid_candle_time_in_seconds_is_refused() -> None:
    row = dict(load("hyperliquid_candle_snapshot_docs.json")[0])
    row["t"] //= 1000
    with pytest.raises(MalformedPayload, match="in seconds"):
        hyperliquid.parse_candle_snapshot([row], now_ms=2_000_000_000_000, interval="15m")


def test_hyperliquid_funding_docs_and_recorded_examples() -> None:
    docs = hyperliquid.parse_funding_history(load("hyperliquid_funding_history_docs.json"), coin="ETH")
    # The documented time is not on the hour to the millisecond; it is kept as the venue stamps it.
    assert docs == [FundingRow(1683849600076, -0.00022196, None)]
    recorded = hyperliquid.parse_funding_history(load("hyperliquid_funding_history_nautilus.json"), coin="BTC")
    assert [r.rate for r in recorded] == [0.0000125, -0.0000081, 0.0000033]
    # Hourly settlements, oldest first; the third row has no premium and still parses.
    assert [b.time_ms - a.time_ms for a, b in itertools.pairwise(recorded)] == [3_600_000, 3_600_000]
    with pytest.raises(MalformedPayload, match="coin 'BTC', not 'ETH'"):
        hyperliquid.parse_funding_history(load("hyperliquid_funding_history_nautilus.json"), coin="ETH")


def test_hyperliquid_meta_and_asset_ctxs_pairs_universe_with_contexts_by_position() -> None:
    ctxs = hyperliquid.parse_meta_and_asset_ctxs(load("hyperliquid_meta_and_asset_ctxs_docs.json"))
    assert list(ctxs) == ["BTC", "ETH", "HPOS"]
    btc = ctxs["BTC"]
    assert (btc.mark_price, btc.oracle_price, btc.funding_rate, btc.open_interest) == (
        14.3161,
        14.32,
        0.0000125,
        688.11,
    )
    assert (ctxs["HPOS"].max_leverage, ctxs["HPOS"].sz_decimals, ctxs["HPOS"].delisted) == (3, 0, False)
    broken = load("hyperliquid_meta_and_asset_ctxs_docs.json")
    broken[1].pop()
    with pytest.raises(MalformedPayload, match="3 perpetuals in the universe but 2 asset contexts"):
        hyperliquid.parse_meta_and_asset_ctxs(broken)


def test_hyperliquid_hip3_dex_contexts_with_null_premium_and_mid() -> None:
    """The docs' second answer (a HIP-3 dex): coins named ``dex:COIN``, and ``premium``, ``midPx`` and
    ``impactPxs`` null on quiet markets; a null is no value, the rest of the context still reads."""
    ctxs = hyperliquid.parse_meta_and_asset_ctxs(load("hyperliquid_meta_and_asset_ctxs_hip3_docs.json"))
    assert list(ctxs) == ["xyz:XYZ100", "xyz:TSLA", "xyz:NVDA"]
    nvda = ctxs["xyz:NVDA"]
    assert (nvda.mark_price, nvda.oracle_price, nvda.funding_rate, nvda.open_interest) == (177.06, 188.15, 0.0, 9.43)
    # The first dex's answer carries marginTables and collateralToken beside the universe; they are not read.
    assert "marginTables" in load("hyperliquid_meta_and_asset_ctxs_docs.json")[0]


def test_hyperliquid_recorded_meta_universe() -> None:
    universe = hyperliquid.parse_universe(load("hyperliquid_meta_nautilus.json"))
    assert [u["name"] for u in universe] == ["BTC", "ETH", "ATOM"]


# --------------------------------------------------------------------------- Bitget


def test_bitget_candles_docs_example() -> None:
    payload = load("bitget_candles_docs.json")
    # The documented rows are 5 minutes apart, newest last, prices and volumes as strings.
    rows = bitget.parse_candles(payload, now_ms=1695836100000 + 300_000)
    assert rows == [
        CandleRow(1695835800000, 26210.5, 26210.5, 26194.5, 26194.5, 26.26, None, 687897.63),
        CandleRow(1695836100000, 26194.5, 26194.5, 26171.0, 26171.0, 17.98, None, 470618.72),
    ]
    # Quote volume is base volume times a price inside the bar's range (base coin, USDT).
    for r in rows:
        assert r.volume is not None and r.quote_volume is not None
        assert r.low <= r.quote_volume / r.volume <= r.high
    # A bar that has not closed by now is dropped.
    assert [r.open_time_ms for r in bitget.parse_candles(payload, now_ms=1695836100000 + 1)] == [1695835800000]


def test_bitget_open_interest_docs_example_in_base_coin() -> None:
    ts, size = bitget.parse_open_interest(load("bitget_open_interest_docs.json"), symbol="BTCUSDT")
    assert (ts, size) == (1695796781616, 34278.06)
    with pytest.raises(UnknownSymbolError):
        bitget.parse_open_interest(load("bitget_open_interest_docs.json"), symbol="ETHUSDT")


def test_bitget_funding_and_ticker_docs_examples() -> None:
    # Documented newest first (and 17 h apart, not one 8-hour interval): read oldest first, as they come.
    assert bitget.parse_funding(load("bitget_history_fund_rate_docs.json")) == [
        FundingRow(1695715200000, 0.000013),
        FundingRow(1695776400000, 0.0005),
    ]
    mark = bitget.parse_ticker(load("bitget_ticker_docs.json"))
    assert (mark.symbol, mark.mark_price, mark.index_price, mark.last_funding_rate, mark.time_ms) == (
        "BTCUSDT",
        12345.0,
        29132.353333,
        -0.0007,
        1695794098184,
    )


def test_bitget_contracts_keep_listed_perpetuals_only() -> None:
    assert bitget.parse_contracts(load("bitget_contracts_nautilus.json")) == ["BTCUSDT"]  # ETHUSDT is a delivery


def test_bitget_error_envelope_is_an_unknown_symbol() -> None:
    body = load("bitget_error_symbol.json")
    with pytest.raises(UnknownSymbolError, match="40034"):
        bitget.parse_candles(body, now_ms=1)
    assert isinstance(bitget.classify_error(400, body, "x"), UnknownSymbolError)
    assert isinstance(bitget.classify_error(400, {"code": "40020", "msg": "limit"}, "x"), PermanentExchangeError)


# --------------------------------------------------------------------------- naming


@pytest.mark.parametrize("code", EXCHANGE_CODES)
def test_default_symbol_is_what_the_connector_asks_for(code: str) -> None:
    with get_connector(code, base_url="http://127.0.0.1:9") as conn:
        assert default_symbol(code, "sol", "usdt") == conn.instrument("SOL", "USDT")
    expected = {
        "okx": "SOL-USDT-SWAP",
        "hyperliquid": "SOL",
        "gate": "SOL_USDT",
        "deribit": "SOL_USDC-PERPETUAL",
    }.get(code, "SOLUSDT")
    assert default_symbol(code, "SOL", "USDT") == expected
    with get_connector(code, base_url="http://127.0.0.1:9") as conn:
        assert default_symbol(code, "BTC", "USDT") == conn.instrument("BTC", "USDT")
    assert default_symbol("bitmex", "BTC", "USDT") == "XBTUSDT"
    assert default_symbol("deribit", "BTC", "USDT") == "BTC-PERPETUAL"


# --------------------------------------------------------------------------- Gate


def test_gate_candlestick_docs_example_in_seconds_and_contracts() -> None:
    payload = load("gate_candlesticks_docs.json")
    rows = gate.parse_candlesticks(payload, now_ms=1539852480_000 + 300_000, multiplier=0.0001)
    # t 1539852480 s is the open in milliseconds; v 97151 contracts of 0.0001 coin; sum is the USDT volume.
    assert rows == [CandleRow(1539852480_000, 1.032, 1.032, 1.032, 1.032, 97151 * 0.0001, None, 3580.0)]
    assert gate.parse_candlesticks(payload, now_ms=1539852480_000 + 299_999, multiplier=0.0001) == []  # forming
    in_ms = [{**payload[0], "t": payload[0]["t"] * 1000}]
    with pytest.raises(MalformedPayload, match="in milliseconds, not the documented seconds"):
        gate.parse_candlesticks(in_ms, now_ms=2_000_000_000_000, multiplier=0.0001)


def test_gate_contract_stats_docs_example_is_open_interest_in_contracts_and_usd() -> None:
    (row,) = gate.parse_contract_stats(load("gate_contract_stats_docs.json"), multiplier=0.0001)
    assert (row.time_ms, row.oi_base, row.oi_value) == (1603865400_000, 124724 * 0.0001, 1511.0)


def test_gate_funding_and_contract_docs_examples() -> None:
    assert gate.parse_funding_rate(load("gate_funding_rate_docs.json")) == [FundingRow(1543968000_000, 0.000157)]
    contract = gate.parse_contract(load("gate_contract_docs.json"))
    assert (contract.name, contract.multiplier, contract.mark_price, contract.index_price) == (
        "BTC_USDT",
        0.0001,
        37985.6,
        37954.92,
    )
    assert (contract.funding_rate, contract.funding_next_apply_ms, contract.delisting) == (
        0.002053,
        1610035200_000,
        False,
    )
    # The next funding is on an 8-hour boundary, as funding_interval (28800 s) says.
    assert contract.funding_next_apply_ms % (load("gate_contract_docs.json")["funding_interval"] * 1000) == 0
    with pytest.raises(MalformedPayload, match="quanto_multiplier"):
        gate.parse_contract({**load("gate_contract_docs.json"), "quanto_multiplier": "0"})


def test_gate_error_label_for_an_unknown_contract() -> None:
    assert isinstance(gate.classify_error(400, load("gate_error_contract.json"), "x"), UnknownSymbolError)
    assert isinstance(gate.classify_error(429, {"label": "TOO_MANY_REQUESTS"}, "x"), RateLimitedError)
    assert gate.classify_error(400, {"code": 1}, "x") is None


# --------------------------------------------------------------------------- BitMEX


def test_bitmex_buckets_are_stamped_with_their_end() -> None:
    recorded = load("bitmex_trade_bins_nautilus.json")  # 1-minute bins: only 10:30 is on a 5-minute boundary
    first = recorded[:1]
    (row,) = bitmex.parse_buckets(first, now_ms=bitmex.iso_ms(bitmex_fields(), first[0]["timestamp"], "t"))
    # Stamped 10:30, the bucket ran 10:25-10:30; homeNotional is the coin volume, foreignNotional the quote.
    assert row == CandleRow(1732530300_000, 98900.0, 98980.5, 98890.0, 98950.0, 1.520475, None, 150000.0)
    assert row.open_time_ms == bitmex.iso_ms(bitmex_fields(), "2024-11-25T10:25:00.000Z", "t")
    with pytest.raises(MalformedPayload, match="not on a 5-minute boundary"):
        bitmex.parse_buckets(recorded, now_ms=2_000_000_000_000)
    # A bucket whose end is still ahead is forming.
    assert bitmex.parse_buckets(first, now_ms=1732530600_000 - 1) == []
    with pytest.raises(MalformedPayload, match="no time zone"):
        bitmex.parse_buckets([{**first[0], "timestamp": "2024-11-25T10:30:00"}], now_ms=2_000_000_000_000)


def bitmex_fields() -> Any:
    from heatmaps.exchanges.base import Fields

    return Fields("bitmex", "test")


def test_bitmex_funding_recorded_example() -> None:
    rows = bitmex.parse_funding([load("bitmex_funding_nautilus.json")])
    assert rows == [FundingRow(1732507200_000, 0.0001)]  # 2024-11-25T04:00Z, an 8-hour settlement


def test_bitmex_recorded_xbtusd_is_inverse_and_read_as_such() -> None:
    (inst,) = bitmex.parse_instruments([load("bitmex_instrument_xbtusd_nautilus.json")])
    assert (inst.symbol, inst.perpetual, inst.linear) == ("XBTUSD", True, False)
    assert (inst.mark_price, inst.index_price, inst.funding_rate) == (97849.76, 97843.77, 0.00011)
    assert inst.next_funding_ms == 1732507200_000 and inst.time_ms == 1732491199_034
    assert isinstance(bitmex.classify_error(401, load("bitmex_error_nautilus.json"), "x"), PermanentExchangeError)
    assert isinstance(bitmex.classify_error(404, {"error": {"message": "Not Found"}}, "x"), UnknownSymbolError)


# --------------------------------------------------------------------------- Deribit


def test_deribit_chart_recorded_columns_in_base_and_usd() -> None:
    payload = load("deribit_chart_nautilus.json")  # 1-minute ticks; the columns parse the same at any resolution
    rows = deribit.parse_chart(payload, now_ms=1766483700000 + 300_000)
    assert [r.open_time_ms for r in rows] == [1766483460000, 1766483520000, 1766483580000, 1766483640000, 1766483700000]
    first = rows[0]
    assert (first.open, first.high, first.low, first.close) == (87451.0, 87456.5, 87451.0, 87456.5)
    # volume is in BTC and cost in USD even on the inverse BTC-PERPETUAL: USD / BTC is the bar's price (within
    # 0.1 %: the recorded bar's ratio, 87 470, sits 0.016 % above its high, so Deribit converts at a price of its own).
    assert (first.volume, first.quote_volume) == (2.94375216, 257490.0)
    assert first.low * 0.999 <= first.quote_volume / first.volume <= first.high * 1.001  # type: ignore[operator]
    # Read as 5-minute bars, one minute past the first one's close only the first two ticks have closed.
    assert len(deribit.parse_chart(payload, now_ms=1766483460000 + 300_000 + 60_000)) == 2
    broken = load("deribit_chart_nautilus.json")
    broken["result"]["close"].pop()
    with pytest.raises(MalformedPayload, match="columns of different lengths"):
        deribit.parse_chart(broken, now_ms=2_000_000_000_000)


def test_deribit_inverse_open_interest_is_usd_and_converted_at_the_mark() -> None:
    inst = deribit.parse_instrument(load("deribit_instrument_nautilus.json"))
    assert (inst.name, inst.inverse, inst.perpetual, inst.contract_size) == ("BTC-PERPETUAL", True, True, 10.0)
    recorded = load("deribit_ticker_nautilus.json")["params"]["data"]  # the REST ticker's result, pushed
    ticker = deribit.parse_ticker({"jsonrpc": "2.0", "result": recorded})
    row = deribit.open_interest_row(1765541400000, ticker, inst)
    assert row is not None and row.oi_value == 1132329370.0
    assert row.oi_base == pytest.approx(1132329370.0 / 92281.78)  # ≈ 12 270 BTC
    assert (
        row.oi_base is not None and 5_000 < row.oi_base < 50_000
    )  # what BTC-PERPETUAL plausibly holds, not 1.1 billion coins
    linear = deribit.DeribitInstrument("SOL_USDC-PERPETUAL", False, True, True, 0.1)
    sol = deribit.open_interest_row(1, deribit.DeribitTicker(1, 150.0, None, 1000.0, None, None), linear)
    assert sol is not None and (sol.oi_base, sol.oi_value) == (1000.0, 150_000.0)


def test_deribit_funding_docs_example_and_instrument_list() -> None:
    rows = deribit.parse_funding_history(load("deribit_funding_rate_history_docs.json"))
    # The documented "real example" answers 00:00-04:00 UTC with the four hours ending 01:00 … 04:00, each
    # row its hour's rate (interest_1h), not the 8-hour one, which moves on its own.
    assert [r.time_ms for r in rows] == [1569891600000 + h * 3_600_000 for h in range(4)]
    assert [r.rate for r in rows] == [
        -4.739622041017375e-7,
        -2.8583510923267753e-7,
        -0.000003815906848177951,
        8.312033064379086e-7,
    ]
    listed = deribit.parse_instruments(load("deribit_instruments_nautilus.json"))
    assert [(i.name, i.perpetual) for i in listed] == [("BTC-PERPETUAL", True), ("BTC-27DEC24", False)]
    error = load("deribit_error_nautilus.json")
    assert isinstance(deribit.classify_error(429, error, "x"), RateLimitedError)
    with pytest.raises(RateLimitedError):
        deribit.parse_ticker(error)
