"""Hyperliquid and Bitget connectors against their stand-in servers: paging to exactly the range, the POST
bodies Hyperliquid documents, current open interest, mark price, instrument lists, retries and budgets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heatmaps.exchanges import InMemoryRateLimiter, RateLimitedError, UnknownSymbolError, get_connector, hyperliquid
from heatmaps.rows import BASE_BAR_MS as M5
from tests.heatmaps.exchanges.fake_exchange import Series
from tests.heatmaps.exchanges.fake_venues import FakeVenues

SYMBOLS = {"hyperliquid": "BTC", "bitget": "BTCUSDT"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVenues]:
    # 7 days of 5m bars and funding every 5 minutes, so funding pages too (2016 rows) on both venues.
    with FakeVenues(Series(bars=2016, funding_every_ms=M5)) as fx:
        yield fx


@pytest.fixture(autouse=True)
def clean(fake: FakeVenues) -> Iterator[None]:
    fake.clear_faults()
    fake.requests.clear()
    yield
    fake.clear_faults()


def connector(fake: FakeVenues, code: str) -> Any:
    return get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)


@pytest.mark.parametrize("code", ["hyperliquid", "bitget"])
def test_candles_page_to_exactly_the_range(fake: FakeVenues, code: str) -> None:
    s = fake.series
    start, end = s.start_ms + 7 * M5, s.end_ms - 13 * M5
    with connector(fake, code) as conn:
        rows = conn.fetch_candles(SYMBOLS[code], start, end)
    want = fake.hl_candle_rows(start, end) if code == "hyperliquid" else fake.bitget_candle_rows(start, end)
    assert rows == want and len(want) > 1000
    assert rows[0].open_time_ms == start and rows[-1].open_time_ms == end - M5
    assert len(fake.requests) == -(-(end - start) // (M5 * (500 if code == "hyperliquid" else 200)))


def test_hyperliquid_posts_the_documented_candle_body(fake: FakeVenues) -> None:
    s = fake.series
    with connector(fake, "hyperliquid") as conn:
        conn.fetch_candles("BTC", s.start_ms, s.start_ms + 3 * M5)
    (req,) = fake.requests
    assert req.path == "/info" and req.params["type"] == "candleSnapshot"
    assert json.loads(req.params["req"]) == {
        "coin": "BTC",
        "interval": "5m",
        "startTime": s.start_ms,
        "endTime": s.start_ms + 3 * M5 - 1,
    }


def test_hyperliquid_serves_only_the_newest_5000_candles(fake: FakeVenues) -> None:
    s = fake.series
    with FakeVenues(Series(bars=6000)) as big:
        with connector(big, "hyperliquid") as conn:
            assert conn.max_history_ms("candles") == 5000 * M5
            rows = conn.fetch_candles("BTC", big.series.start_ms, big.series.end_ms)
        assert rows == big.hl_candle_rows(big.series.start_ms, big.series.end_ms)
        assert 4998 <= len(rows) <= 5000 and rows[0].open_time_ms > big.series.start_ms
    assert s.bars == 2016


@pytest.mark.parametrize("code", ["hyperliquid", "bitget"])
def test_funding_pages_to_exactly_the_range(fake: FakeVenues, code: str) -> None:
    s = fake.series
    start, end = s.start_ms + 11 * M5, s.end_ms - 20 * M5
    with connector(fake, code) as conn:
        rows = conn.fetch_funding(SYMBOLS[code], start, end)
    want = fake.funding_rows(start, end)
    assert [(r.time_ms, round(r.rate, 8)) for r in rows] == [(r.time_ms, r.rate) for r in want]
    assert len(want) > 1500 and len(fake.requests) > 3


@pytest.mark.parametrize("code", ["hyperliquid", "bitget"])
def test_open_interest_is_the_current_figure_on_the_bar_boundary(fake: FakeVenues, code: str) -> None:
    s = fake.series
    with connector(fake, code) as conn:
        assert conn.max_history_ms("open_interest") == M5
        rows = conn.fetch_open_interest(SYMBOLS[code], s.start_ms, s.end_ms)
        assert rows == [fake.oi_now(code)]
        # A range that ends before now has nothing: there is no history to ask for.
        fake.requests.clear()
        assert conn.fetch_open_interest(SYMBOLS[code], s.start_ms, s.start_ms + 100 * M5) == []
        assert fake.requests == []


def test_hyperliquid_oi_is_valued_at_the_mark_and_an_unknown_coin_is_named(fake: FakeVenues) -> None:
    with connector(fake, "hyperliquid") as conn:
        (row,) = conn.fetch_open_interest("BTC", fake.series.start_ms, fake.series.end_ms)
        mark = conn.fetch_mark_price("BTC")
        assert row.oi_value == pytest.approx(row.oi_base * mark.mark_price)
        assert mark.index_price == pytest.approx(mark.mark_price - 1.5)
        assert mark.next_funding_time_ms is not None and mark.next_funding_time_ms % 3_600_000 == 0
        assert 0 < mark.next_funding_time_ms - fake.now_ms <= 3_600_000
        assert conn.fetch_symbols() == ["BTC", "ETH", "ATOM"]
        with pytest.raises(UnknownSymbolError, match="DOGE"):
            conn.fetch_mark_price("DOGE")


def test_bitget_mark_price_symbols_and_unknown_symbol(fake: FakeVenues) -> None:
    with connector(fake, "bitget") as conn:
        mark = conn.fetch_mark_price("BTCUSDT")
        assert mark.time_ms == fake.now_ms and mark.mark_price == fake.series.bar(fake.current_index()).close
        assert conn.fetch_symbols() == ["BTCUSDT"]
        with pytest.raises(UnknownSymbolError):
            conn.fetch_candles("BTCUSDX", fake.series.start_ms, fake.series.start_ms + M5 * 10)
        assert conn.health.ok  # a wrong symbol says nothing about the venue's health


@pytest.mark.parametrize("code", ["hyperliquid", "bitget"])
def test_429_is_retried_after_retry_after_and_blocks_the_shared_budget(fake: FakeVenues, code: str) -> None:
    s = fake.series
    clock = [1_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # time passes for the limiter only when the client sleeps
        slept.append(seconds)
        clock[0] += seconds

    limiter = InMemoryRateLimiter(code, clock=lambda: clock[0])
    path = "/info" if code == "hyperliquid" else "/api/v2/mix/market/history-candles"
    fake.fail_next(429, path=path, retry_after=3, body={"code": "429", "msg": "Too Many Requests"})
    with get_connector(
        code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=sleep, limiter=limiter, clock=lambda: clock[0]
    ) as conn:
        rows = conn.fetch_candles(SYMBOLS[code], s.start_ms, s.start_ms + 10 * M5)
        assert len(rows) == 10 and slept[0] == 3.0 and sum(slept) < 5
        with pytest.raises(RateLimitedError):
            fake.fail_next(429, path=path, retry_after=600, times=5)
            conn.fetch_candles(SYMBOLS[code], s.start_ms, s.start_ms + 10 * M5)
        assert not conn.health.ok


def test_hyperliquid_charges_its_documented_weights() -> None:
    limiter = InMemoryRateLimiter("hyperliquid", clock=lambda: 1_000.0)  # one window for the whole test
    assert limiter.budgets["default"].limit <= 1200 and limiter.budgets["default"].window_ms == 60_000
    assert hyperliquid.candles_weight(500) == 20 + 9 and hyperliquid.funding_weight(500) == 20 + 25
    with FakeVenues(Series(bars=1200)) as fx:
        conn: Any = get_connector("hyperliquid", base_url=fx.base_url, now_ms=lambda: fx.now_ms, limiter=limiter)
        with conn:
            conn.fetch_candles("BTC", fx.series.start_ms, fx.series.end_ms)  # 3 pages
            conn.fetch_mark_price("BTC")
        assert limiter.usage() == 3 * 29 + 20
