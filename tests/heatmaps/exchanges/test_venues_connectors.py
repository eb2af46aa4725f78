"""Hyperliquid, Bitget, Gate, BitMEX and Deribit connectors against their stand-in servers: paging to exactly the range, the POST
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

SYMBOLS = {
    "hyperliquid": "BTC",
    "bitget": "BTCUSDT",
    "gate": "BTC_USDT",
    "bitmex": "XBTUSDT",
    "deribit": "BTC-PERPETUAL",
}
PAGE_BARS = {"hyperliquid": 500, "bitget": 200, "gate": 1000, "bitmex": 1000, "deribit": 1000}
HOUR_MS = 3_600_000


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


def expected_candles(fake: FakeVenues, code: str, start: int, end: int) -> list:
    rows = {
        "hyperliquid": fake.hl_candle_rows,
        "bitget": fake.bitget_candle_rows,
        "gate": fake.gate_candle_rows,
        "bitmex": fake.bitmex_candle_rows,
        "deribit": fake.bitmex_candle_rows,  # the same columns: coin volume and quote volume
    }
    return rows[code](start, end)


@pytest.mark.parametrize("code", ["hyperliquid", "bitget", "gate", "bitmex", "deribit"])
def test_candles_page_to_exactly_the_range(fake: FakeVenues, code: str) -> None:
    s = fake.series
    start, end = s.start_ms + 7 * M5, s.end_ms - 13 * M5
    with connector(fake, code) as conn:
        rows = conn.fetch_candles(SYMBOLS[code], start, end)
    want = expected_candles(fake, code, start, end)
    assert rows == want and len(want) > 1000
    assert rows[0].open_time_ms == start and rows[-1].open_time_ms == end - M5
    pages = [r for r in fake.requests if "contracts" not in r.path]  # Gate reads its contract size once first
    assert len(pages) == -(-(end - start) // (M5 * PAGE_BARS[code]))
    assert len(fake.requests) - len(pages) == (1 if code == "gate" else 0)


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


@pytest.mark.parametrize("code", ["hyperliquid", "bitget", "bitmex"])
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


def test_gate_open_interest_history_in_base_coin_walks_past_a_short_page(fake: FakeVenues) -> None:
    s = fake.series
    start, end = s.start_ms + 3 * M5, s.end_ms - 5 * M5
    fake.gate_stats_cap = 30  # the venue answers fewer rows than asked: the cursor goes on from the newest
    try:
        with connector(fake, "gate") as conn:
            rows = conn.fetch_open_interest("BTC_USDT", start, end)
    finally:
        fake.gate_stats_cap = 100
    assert rows == fake.gate_oi_rows(start, end) and len(rows) == 2016 - 8
    # Contracts × quanto_multiplier is the open interest in the coin, and USD / coin a price near the bar's.
    for row in rows[::100]:
        bar = s.bar((row.time_ms - s.start_ms) // M5)
        assert row.oi_base is not None and row.oi_value is not None
        assert abs(row.oi_value / row.oi_base / bar.close - 1) < 1e-3
    stats = [r for r in fake.requests if r.path.endswith("contract_stats")]
    assert len(stats) == -(-len(rows) // 30) and all(r.params["limit"] == "100" for r in stats)


def test_gate_funding_in_windows_that_each_fit_one_page() -> None:
    with FakeVenues(Series(bars=2016 * 2, funding_every_ms=HOUR_MS)) as fx:
        s = fx.series
        start, end = s.start_ms + HOUR_MS, s.end_ms - 5 * HOUR_MS
        with connector(fx, "gate") as conn:
            rows = conn.fetch_funding("BTC_USDT", start, end)
        want = fx.funding_rows(start, end)
        assert [(r.time_ms, round(r.rate, 6)) for r in rows] == [(r.time_ms, round(r.rate, 6)) for r in want]
        assert len(want) == 14 * 24 - 6
        # The venue answers newest first and at most ``limit``: every window held fewer rows than that.
        assert all(int(r.params["to"]) - int(r.params["from"]) < 100 * 3600 for r in fx.requests)


def test_gate_mark_price_symbols_and_unknown_contract(fake: FakeVenues) -> None:
    with connector(fake, "gate") as conn:
        mark = conn.fetch_mark_price("BTC_USDT")
        assert mark.mark_price == fake.series.bar(fake.current_index()).close and mark.index_price is not None
        step = fake.series.funding_every_ms
        assert mark.next_funding_time_ms == (fake.now_ms // step + 1) * step
        assert conn.fetch_symbols() == ["BTC_USDT", "ETH_USDT"]
        with pytest.raises(UnknownSymbolError, match="CONTRACT_NOT_FOUND"):
            conn.fetch_candles("XBT_USDT", fake.series.start_ms, fake.series.start_ms + 10 * M5)
        assert conn.health.ok


def test_bitmex_open_interest_in_the_coin_and_the_inverse_contract_refused(fake: FakeVenues) -> None:
    from tests.heatmaps.exchanges.fake_venues import BITMEX_CONTRACTS_PER_COIN

    with connector(fake, "bitmex") as conn:
        assert conn.max_history_ms("open_interest") == M5
        (row,) = conn.fetch_open_interest("XBTUSDT", fake.series.start_ms, fake.series.end_ms)
        _t, base, _v = fake.series.oi(fake.current_index())
        mark = conn.fetch_mark_price("XBTUSDT")
        assert row.time_ms == fake.now_ms - fake.now_ms % M5
        # openInterest is in contracts of 1e-6 XBT: back in the coin it is the series' figure.
        assert row.oi_base == pytest.approx(round(base * BITMEX_CONTRACTS_PER_COIN) / BITMEX_CONTRACTS_PER_COIN)
        assert row.oi_base == pytest.approx(base, rel=1e-9) and row.oi_value == pytest.approx(base * mark.mark_price)
        assert mark.time_ms == fake.now_ms and mark.index_price == pytest.approx(mark.mark_price - 1.5)
        step = fake.series.funding_every_ms
        assert mark.next_funding_time_ms == (fake.now_ms // step + 1) * step
        assert conn.fetch_symbols() == ["XBTUSDT"]  # the inverse XBTUSD is listed but not linear
        for call in (conn.fetch_mark_price, lambda sym: conn.fetch_open_interest(sym, 0, 2**50)):
            with pytest.raises(UnknownSymbolError, match="not a linear perpetual"):
                call("XBTUSD")
        with pytest.raises(UnknownSymbolError, match="no instrument 'DOGEUSDT'"):
            conn.fetch_mark_price("DOGEUSDT")


def test_bitmex_asks_for_iso_times_of_bucket_ends(fake: FakeVenues) -> None:
    s = fake.series
    with connector(fake, "bitmex") as conn:
        rows = conn.fetch_candles("XBTUSDT", s.start_ms, s.start_ms + 3 * M5)
    (req,) = fake.requests
    assert (req.params["startTime"], req.params["endTime"]) == ("2024-01-01T00:05:00.000Z", "2024-01-01T00:15:00.000Z")
    assert [r.open_time_ms for r in rows] == [s.start_ms, s.start_ms + M5, s.start_ms + 2 * M5]


def test_deribit_open_interest_mark_price_and_symbols(fake: FakeVenues) -> None:
    with connector(fake, "deribit") as conn:
        (row,) = conn.fetch_open_interest("BTC-PERPETUAL", fake.series.start_ms, fake.series.end_ms)
        _t, base, _v = fake.series.oi(fake.current_index())
        close = fake.series.bar(fake.current_index()).close
        assert row.time_ms == fake.now_ms - fake.now_ms % M5
        assert row.oi_value == pytest.approx(base * close) and row.oi_base == pytest.approx(base)
        mark = conn.fetch_mark_price("BTC-PERPETUAL")
        assert (mark.mark_price, mark.time_ms, mark.next_funding_time_ms) == (close, fake.now_ms, None)
        assert conn.fetch_symbols() == ["BTC-PERPETUAL"]  # the dated future, the option and the combo left out
        with pytest.raises(UnknownSymbolError, match="instrument_name"):
            conn.fetch_candles("SOL-PERPETUAL", fake.series.start_ms, fake.series.start_ms + 10 * M5)
        with pytest.raises(UnknownSymbolError, match="not a perpetual"):
            conn.fetch_open_interest("BTC-27DEC24", 0, 2**50)


def test_deribit_funding_in_month_windows(fake: FakeVenues) -> None:
    s = fake.series
    with connector(fake, "deribit") as conn:
        rows = conn.fetch_funding("BTC-PERPETUAL", s.start_ms + 7 * M5, s.end_ms - 3 * M5)
    assert [(r.time_ms, r.rate) for r in rows] == [
        (f.time_ms, f.rate) for f in fake.funding_rows(s.start_ms + 7 * M5, s.end_ms - 3 * M5)
    ]
    assert len(rows) > 1500 and len(fake.requests) == 1  # seven days: one window
