"""Risk-limit brackets and mark-price candles: the parsers on recorded and documented payloads, the
connectors against the stand-in server (paging, closed bars only, contract sizes, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heatmaps.exchanges import MalformedPayload, UnknownSymbolError, binance, bybit, get_connector, okx
from heatmaps.rows import BASE_BAR_MS as M5
from tests.heatmaps.exchanges.fake_exchange import Series
from tests.heatmaps.exchanges.fake_risk_marks import FakeRiskMarkExchange, mark_rows

FIXTURES = Path(__file__).parent / "fixtures"
SYMBOLS = {"binance": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
MARK_PATHS = {
    "binance": binance.MARK_PRICE_KLINES,
    "bybit": bybit.MARK_KLINE,
    "okx": okx.HISTORY_MARK_CANDLES,
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --------------------------------------------------------------------------- parsers


def test_bybit_risk_limit_linear_sorted_smallest_first_as_rates() -> None:
    brackets, cursor = bybit.parse_risk_limit(load("bybit_risk_limit_linear.json"), symbol="BTCUSDT")
    assert cursor == ""
    assert [b.max_notional_usd for b in brackets] == [2_000_000, 4_000_000, 6_000_000]
    assert [(b.max_leverage, b.mmr) for b in brackets] == [(100.0, 0.005), (57.14, 0.01), (40.0, 0.015)]


def test_bybit_risk_limit_docs_example_in_percent_is_read_as_a_rate() -> None:
    # The documentation's example writes margins in percent (initial 1 at 100x): 0.5 % maintenance.
    brackets, _ = bybit.parse_risk_limit(load("bybit_risk_limit_docs.json"), symbol="BTCUSD")
    assert [(b.max_notional_usd, b.max_leverage, b.mmr) for b in brackets] == [(150.0, 100.0, 0.005)]
    # Another symbol's rows on the page are not this one's brackets.
    assert bybit.parse_risk_limit(load("bybit_risk_limit_docs.json"), symbol="ETHUSD")[0] == []


def test_bybit_risk_limit_refuses_a_margin_that_is_no_rate() -> None:
    payload = load("bybit_risk_limit_linear.json")
    payload["result"]["list"][0].update(maintenanceMargin="1.5", initialMargin="")
    with pytest.raises(MalformedPayload, match="maintenanceMargin"):
        bybit.parse_risk_limit(payload, symbol="BTCUSDT")


def test_okx_position_tiers_recorded_answer_converted_with_contract_size_and_price() -> None:
    brackets = okx.parse_position_tiers(
        load("okx_position_tiers_nautilus.json"), family="BTC-USDT", contract_size=0.5, price=40_000.0
    )
    assert len(brackets) == 1
    b = brackets[0]
    assert (b.max_leverage, b.mmr) == (10.0, 0.03)
    assert b.max_size_base == pytest.approx(50 * 0.5)
    assert b.max_notional_usd == pytest.approx(50 * 0.5 * 40_000)


def test_okx_position_tiers_by_tier_and_without_a_price() -> None:
    brackets = okx.parse_position_tiers(
        load("okx_position_tiers_swap.json"), family="BTC-USDT", contract_size=0.01, price=None
    )
    assert [(b.max_leverage, b.mmr) for b in brackets] == [(125.0, 0.004), (75.0, 0.005), (50.0, 0.01)]
    assert [b.max_size_base for b in brackets] == pytest.approx([200.0, 400.0, 1000.0])
    assert all(b.max_notional_usd is None for b in brackets)
    assert (
        okx.parse_position_tiers(load("okx_position_tiers_swap.json"), family="ETH-USDT", contract_size=1, price=1)
        == []
    )


def test_binance_mark_price_klines_docs_example() -> None:
    payload = load("binance_mark_price_klines_docs.json")
    (row,) = binance.parse_mark_price_klines(payload, now_ms=1591256459999 + 1)
    assert (row.open_time_ms, row.open, row.high, row.low, row.close) == (
        1591256400000, 9653.6944, 9653.6964, 9651.386, 9651.552,
    )  # fmt: skip
    assert (row.volume, row.taker_buy_volume, row.quote_volume) == (None, None, None)
    # Not closed yet at its own close time.
    assert binance.parse_mark_price_klines(payload, now_ms=1591256459999) == []


def test_bybit_mark_price_kline_docs_example() -> None:
    payload = load("bybit_mark_price_kline_docs.json")
    (row,) = bybit.parse_mark_kline(payload, now_ms=1672026361839)
    assert (row.open_time_ms, row.open, row.high, row.low, row.close) == (
        1670608800000, 17164.16, 17164.16, 17121.5, 17131.64,
    )  # fmt: skip
    assert bybit.parse_mark_kline(payload, now_ms=1670608800000 + M5 - 1) == []


def test_okx_mark_price_candles_docs_example_oldest_first() -> None:
    rows = okx.parse_mark_candles(load("okx_mark_price_candles_docs.json"), now_ms=1597026383085 + M5)
    assert [(r.open, r.high, r.low, r.close) for r in rows] == [
        (3.721, 3.743, 3.677, 3.708),
        (3.731, 3.799, 3.494, 3.72),
    ]
    forming = load("okx_mark_price_candles_docs.json")
    forming["data"][0][5] = "0"
    assert len(okx.parse_mark_candles(forming, now_ms=1597026383085 + M5)) == 1


def test_mark_candle_with_high_below_low_is_refused() -> None:
    payload = load("bybit_mark_price_kline_docs.json")
    payload["result"]["list"][0][2] = "17000"
    with pytest.raises(MalformedPayload, match="high"):
        bybit.parse_mark_kline(payload, now_ms=1672026361839)


# --------------------------------------------------------------------------- connectors on the stand-in


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRiskMarkExchange]:
    with FakeRiskMarkExchange(Series(bars=2016)) as fx:
        yield fx


@pytest.fixture(autouse=True)
def _clean(fake: FakeRiskMarkExchange) -> Iterator[None]:
    fake.clear_faults()
    fake.requests.clear()
    yield
    fake.clear_faults()


def connector(fake: FakeRiskMarkExchange, code: str) -> Any:
    return get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)


@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_mark_candles_over_many_pages_are_exact_and_closed_only(fake: FakeRiskMarkExchange, code: str) -> None:
    s = fake.series
    start, end = s.start_ms + 7 * M5, s.end_ms + 3 * M5  # past the last bar, which is still forming
    with connector(fake, code) as conn:
        rows = conn.fetch_mark_candles(SYMBOLS[code], start, end)
    want = mark_rows(s, start, end, now_ms=fake.now_ms)
    assert rows == want and len(want) == 2016 - 7 - 1
    assert all(r.high < b.high for r, b in zip(rows, s.bars_between(start, end), strict=False))
    assert len(fake.requests_to(MARK_PATHS[code])) > 1  # paged


def test_bybit_risk_limits_follow_the_cursor(fake: FakeRiskMarkExchange) -> None:
    with connector(fake, "bybit") as conn:
        limits = conn.fetch_risk_limits("BTCUSDT")
    assert [(b.max_leverage, b.mmr) for b in limits.brackets] == [(100.0, 0.005), (57.14, 0.01), (40.0, 0.015)]
    assert (limits.first.max_leverage, limits.first.mmr) == (100.0, 0.005)
    calls = fake.requests_to(bybit.RISK_LIMIT)
    assert len(calls) == 2 and calls[1].params["cursor"] == "2"
    assert calls[0].params == {"category": "linear", "symbol": "BTCUSDT"}


def test_bybit_risk_limits_of_an_unlisted_symbol(fake: FakeRiskMarkExchange) -> None:
    with connector(fake, "bybit") as conn, pytest.raises(UnknownSymbolError):
        conn.fetch_risk_limits("NOPEUSDT")


def test_okx_position_tiers_sized_with_the_listed_contract_value(fake: FakeRiskMarkExchange) -> None:
    with connector(fake, "okx") as conn:
        limits = conn.fetch_risk_limits("BTC-USDT-SWAP", price=30_000.0)
    # ctVal of BTC-USDT-SWAP in the recorded instrument list: 0.01 BTC.
    assert limits.first.max_size_base == pytest.approx(20_000 * 0.01)
    assert limits.first.max_notional_usd == pytest.approx(20_000 * 0.01 * 30_000)
    assert (limits.first.max_leverage, limits.first.mmr) == (125.0, 0.004)
    (call,) = fake.requests_to(okx.POSITION_TIERS)
    assert call.params == {"instType": "SWAP", "tdMode": "cross", "instFamily": "BTC-USDT"}
    assert len(fake.requests_to(okx.INSTRUMENTS)) == 1
    fake.requests.clear()
    with connector(fake, "okx") as conn:
        conn.fetch_risk_limits("BTC-USDT-SWAP", contract_size=0.01)
    assert fake.requests_to(okx.INSTRUMENTS) == []  # a known size is not asked for again


def test_okx_position_tiers_of_an_unlisted_swap(fake: FakeRiskMarkExchange) -> None:
    with connector(fake, "okx") as conn, pytest.raises(UnknownSymbolError):
        conn.fetch_risk_limits("NOPE-USDT-SWAP")
