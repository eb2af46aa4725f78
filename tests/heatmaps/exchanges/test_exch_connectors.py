"""Connectors against the fake exchange server: paging, range bounds, closed bars only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heatmaps.exchanges import (
    BinanceConnector,
    Connector,
    PageProgress,
    UnknownSymbolError,
    get_connector,
)
from heatmaps.exchanges.base import DAY_MS
from heatmaps.rows import BASE_BAR_MS as M5
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series

SYMBOLS = {"binance": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
PATHS = {
    ("binance", "candles"): "/fapi/v1/klines",
    ("binance", "open_interest"): "/futures/data/openInterestHist",
    ("binance", "funding"): "/fapi/v1/fundingRate",
    ("bybit", "candles"): "/v5/market/kline",
    ("bybit", "open_interest"): "/v5/market/open-interest",
    ("bybit", "funding"): "/v5/market/funding/history",
    ("okx", "candles"): "/api/v5/market/history-candles",
    ("okx", "open_interest"): "/api/v5/rubik/stat/contracts/open-interest-history",
    ("okx", "funding"): "/api/v5/public/funding-rate-history",
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeExchange]:
    # 7 days of 5m bars, funding every 5 minutes so that funding pages too (2016 rows).
    with FakeExchange(Series(bars=2016, funding_every_ms=M5)) as fx:
        yield fx


def connector(fake: FakeExchange, code: str):
    return get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)


def expected(fake: FakeExchange, code: str, kind: str, start: int, end: int) -> list:
    s = fake.series
    if kind == "candles":
        return s.candle_rows(code, start, end, now_ms=fake.now_ms)
    if kind == "open_interest":
        return s.oi_rows(code, start, end, now_ms=fake.now_ms)
    return s.funding_rows(code, start, end)


def fetch(conn, kind: str, start: int, end: int, progress=None) -> list:
    return {"candles": conn.fetch_candles, "open_interest": conn.fetch_open_interest, "funding": conn.fetch_funding}[
        kind
    ](SYMBOLS[conn.code], start, end, progress=progress)


@pytest.mark.parametrize("kind", ["candles", "open_interest", "funding"])
@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_paging_returns_exactly_the_range(fake: FakeExchange, code: str, kind: str) -> None:
    s = fake.series
    start, end = s.start_ms + 7 * M5, s.end_ms - 13 * M5  # aligned: start inclusive, end exclusive
    before = len(fake.requests)
    seen: list[PageProgress] = []
    with connector(fake, code) as conn:
        rows = fetch(conn, kind, start, end, progress=seen.append)
    want = expected(fake, code, kind, start, end)
    assert rows == want
    assert len(want) > 300  # more than one page on every endpoint
    times = [getattr(r, "open_time_ms", None) or r.time_ms for r in rows]
    assert times[0] == start and times[-1] == end - M5
    assert times == sorted(set(times))
    requests = fake.requests[before:]
    assert len(requests) >= 2 and {r.path for r in requests} == {PATHS[(code, kind)]}
    assert seen and seen[-1].fraction == 1.0 and seen[-1].rows >= len(rows)
    assert [p.pages for p in seen] == list(range(1, len(seen) + 1))


@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_forming_candle_is_dropped_and_nothing_after_now(fake: FakeExchange, code: str) -> None:
    s = fake.series
    with connector(fake, code) as conn:
        rows = conn.fetch_candles(SYMBOLS[code], s.end_ms - 20 * M5, s.end_ms + 10 * M5)
    assert rows[-1].open_time_ms == s.end_ms - 2 * M5  # the last bar (forming at fake.now_ms) is dropped
    assert len(rows) == 19


@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_unaligned_bounds(fake: FakeExchange, code: str) -> None:
    s = fake.series
    start, end = s.start_ms + 3 * M5 + 1, s.start_ms + 9 * M5 + 1
    with connector(fake, code) as conn:
        rows = conn.fetch_candles(SYMBOLS[code], start, end)
    assert [r.open_time_ms for r in rows] == [s.start_ms + i * M5 for i in range(4, 10)]


@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_empty_range_and_range_before_data(fake: FakeExchange, code: str) -> None:
    s = fake.series
    with connector(fake, code) as conn:
        assert conn.fetch_candles(SYMBOLS[code], s.start_ms, s.start_ms) == []
        assert conn.fetch_candles(SYMBOLS[code], s.start_ms - 50 * M5, s.start_ms) == []
        assert conn.fetch_funding(SYMBOLS[code], s.start_ms - 50 * M5, s.start_ms) == []


@pytest.mark.parametrize("code", ["binance", "bybit", "okx"])
def test_unknown_symbol_is_permanent_and_not_retried(fake: FakeExchange, code: str) -> None:
    before = len(fake.requests)
    with connector(fake, code) as conn, pytest.raises(UnknownSymbolError):
        conn.fetch_candles("NOPEUSDT", fake.series.start_ms, fake.series.start_ms + 10 * M5)
    assert len(fake.requests) == before + 1
    assert conn.health.ok  # a bad symbol is the caller's problem, not the exchange's


def test_binance_page_parameters_and_weights(fake: FakeExchange) -> None:
    s = fake.series
    before = len(fake.requests)
    with connector(fake, "binance") as conn:
        conn.fetch_candles("BTCUSDT", s.start_ms, s.start_ms + 2500 * M5)
    reqs = fake.requests[before:]
    assert [(int(r.params["startTime"]), int(r.params["endTime"]), r.params["limit"]) for r in reqs] == [
        (s.start_ms, s.start_ms + 1000 * M5 - 1, "1000"),
        (s.start_ms + 1000 * M5, s.start_ms + 2000 * M5 - 1, "1000"),
        (s.start_ms + 2000 * M5, fake.now_ms, "1000"),
    ]
    assert all(r.params["interval"] == "5m" for r in reqs)


def test_bybit_funding_always_sends_both_bounds(fake: FakeExchange) -> None:
    before = len(fake.requests)
    with connector(fake, "bybit") as conn:
        conn.fetch_funding("BTCUSDT", fake.series.start_ms, fake.series.end_ms)
    assert all("startTime" in r.params and "endTime" in r.params for r in fake.requests[before:])


def test_binance_open_interest_clamped_to_30_days() -> None:
    with FakeExchange(Series(bars=40 * 288)) as fx:
        conn = get_connector("binance", base_url=fx.base_url, now_ms=lambda: fx.now_ms, sleep=lambda s: None)
        assert conn.max_history_ms("open_interest") == 30 * DAY_MS
        rows = conn.fetch_open_interest("BTCUSDT", fx.series.start_ms, fx.series.end_ms)
        conn.close()
        assert rows == fx.series.oi_rows("binance", fx.series.start_ms, fx.series.end_ms, now_ms=fx.now_ms)
        assert rows[0].time_ms >= fx.now_ms - 30 * DAY_MS
        assert len(rows) > 8000


def test_binance_current_open_interest_and_mark_price(fake: FakeExchange) -> None:
    with connector(fake, "binance") as conn:
        assert isinstance(conn, BinanceConnector)
        oi = conn.fetch_current_open_interest("BTCUSDT")
        mark = conn.fetch_mark_price("BTCUSDT")
    assert oi.oi_base and oi.oi_value is None and oi.time_ms == fake.now_ms
    assert mark.symbol == "BTCUSDT" and mark.mark_price > 0 and mark.next_funding_time_ms


def test_instrument_names_and_registry() -> None:
    assert [get_connector(c, base_url="http://127.0.0.1:9").instrument("btc", "usdt") for c in SYMBOLS] == [
        "BTCUSDT",
        "BTCUSDT",
        "BTC-USDT-SWAP",
    ]
    assert all(isinstance(get_connector(c, base_url="http://127.0.0.1:9"), Connector) for c in SYMBOLS)
    with pytest.raises(ValueError):
        get_connector("kraken", base_url="http://127.0.0.1:9")
