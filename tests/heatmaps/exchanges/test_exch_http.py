"""HTTP client behaviour (retries, Retry-After, bans, health) and the shared rate limiters."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from heatmaps.exchanges import (
    BinanceConnector,
    Budget,
    InMemoryRateLimiter,
    MalformedPayload,
    RateLimitedError,
    RedisRateLimiter,
    TransientExchangeError,
    get_connector,
    make_http,
)
from heatmaps.exchanges.http import parse_retry_after
from heatmaps.rows import BASE_BAR_MS as M5
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series

KLINES = "/fapi/v1/klines"


class FakeTime:
    """Injected clock + sleep: sleeping advances the clock and records the value."""

    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeExchange]:
    with FakeExchange(Series(bars=600)) as fx:
        yield fx


@pytest.fixture(autouse=True)
def _no_leftover_faults(fake: FakeExchange) -> Iterator[None]:
    fake.clear_faults()
    fake.used_weight_override = None
    yield
    fake.clear_faults()
    fake.used_weight_override = None


def binance(fake: FakeExchange, ft: FakeTime, limiter=None, **kw):
    kw.setdefault("rand", lambda: 0.5)
    return get_connector(
        "binance",
        base_url=fake.base_url,
        limiter=limiter,
        now_ms=lambda: fake.now_ms,
        sleep=ft.sleep,
        clock=ft.clock,
        **kw,
    )


def span(fake: FakeExchange, bars: int = 50) -> tuple[int, int]:
    return fake.series.start_ms, fake.series.start_ms + bars * M5


def test_429_honours_retry_after_exactly(fake: FakeExchange) -> None:
    ft = FakeTime()
    limiter = InMemoryRateLimiter("binance", clock=ft.clock)
    fake.rate_limit_next(retry_after=7, path=KLINES)
    before = len(fake.requests)
    with binance(fake, ft, limiter) as conn:
        rows = conn.fetch_candles("BTCUSDT", *span(fake))
        assert conn.health.ok and conn.health.failures == 1
    assert len(rows) == 50
    assert ft.slept == [7.0]  # exactly Retry-After, no extra backoff, no double wait on the limiter block
    assert [r.status for r in fake.requests[before:]] == [429, 200]
    assert limiter.blocked_for() == 0


def test_500_is_retried_with_exponential_backoff(fake: FakeExchange) -> None:
    ft = FakeTime()
    fake.fail_next(500, path=KLINES, times=2)
    with binance(fake, ft) as conn:
        assert len(conn.fetch_candles("BTCUSDT", *span(fake))) == 50
        assert conn.health.ok
    assert ft.slept == [0.375, 0.75]  # base 0.5 * 2**n, jitter factor 0.75 with rand() = 0.5


def test_persistent_5xx_gives_up_and_marks_degraded(fake: FakeExchange) -> None:
    ft = FakeTime()
    fake.fail_next(503, path=KLINES, times=10)
    with binance(fake, ft, max_retries=3) as conn:
        with pytest.raises(TransientExchangeError) as info:
            conn.fetch_candles("BTCUSDT", *span(fake))
        assert info.value.status == 503
        health = conn.health
    assert len(ft.slept) == 3
    assert health.status == "degraded" and health.consecutive_failures == 4
    assert "503" in (health.last_error or "")


def test_malformed_row_names_endpoint_and_is_not_retried(fake: FakeExchange) -> None:
    ft = FakeTime()
    fake.malform_next(path=KLINES)
    before = len(fake.requests)
    with binance(fake, ft) as conn, pytest.raises(MalformedPayload) as info:
        conn.fetch_candles("BTCUSDT", *span(fake))
    assert info.value.endpoint == KLINES
    assert "/fapi/v1/klines" in str(info.value) and "row 0 open" in str(info.value)
    assert len(fake.requests) == before + 1 and ft.slept == []


@pytest.mark.parametrize(
    ("path", "code"),
    [("/v5/market/open-interest", "bybit"), ("/api/v5/public/funding-rate-history", "okx")],
)
def test_malformed_row_other_exchanges(fake: FakeExchange, path: str, code: str) -> None:
    fake.malform_next(path=path)
    conn = get_connector(code, base_url=fake.base_url, now_ms=lambda: fake.now_ms, sleep=lambda s: None)
    symbol = conn.instrument("BTC", "USDT")
    fetch = conn.fetch_open_interest if "open-interest" in path else conn.fetch_funding
    with conn, pytest.raises(MalformedPayload, match=path):
        fetch(symbol, *span(fake, 300))


def test_timeout_is_transient_and_retried(fake: FakeExchange) -> None:
    ft = FakeTime()
    fake.slow_next(0.6, path=KLINES)
    with binance(fake, ft, timeout=0.2) as conn:
        assert len(conn.fetch_candles("BTCUSDT", *span(fake))) == 50
    assert ft.slept == [0.375]


def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ft = FakeTime()
    http = make_http("bybit", base_url=f"http://127.0.0.1:{port}", max_retries=2, sleep=ft.sleep, clock=ft.clock)
    conn = get_connector("bybit", base_url="unused", http=http)
    with pytest.raises(TransientExchangeError, match="connection error"):
        conn.fetch_candles("BTCUSDT", 0, 10 * M5)
    assert len(ft.slept) == 2 and conn.health.consecutive_failures == 3


def test_used_weight_header_counts_against_the_budget(fake: FakeExchange) -> None:
    ft = FakeTime(1_800_000_030.0)  # 30 s into a minute
    limiter = InMemoryRateLimiter("binance", clock=ft.clock)
    fake.used_weight_override = 1999  # other processes on this IP spent weight; we keep 2000 of 2400
    http = make_http("binance", base_url=fake.base_url, limiter=limiter, sleep=ft.sleep, clock=ft.clock)
    with BinanceConnector(http, now_ms=lambda: fake.now_ms, klines_limit=100) as conn:
        conn.fetch_candles("BTCUSDT", *span(fake, 200))  # 2 pages of weight 2
    assert limiter.last_used_weight() == (1999, 1_800_000_060_000)
    assert ft.slept == [30.0]  # the second page waited for the next minute window
    assert [r.params["limit"] for r in fake.requests[-2:]] == ["100", "100"]


def test_retry_after_formats() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 10) == 10.0


def test_in_memory_budget_and_block() -> None:
    ft = FakeTime(1_800_000_000.0)
    lim = InMemoryRateLimiter("x", {"default": Budget(10, 2_000), "ep": Budget(2, 2_000)}, clock=ft.clock)
    assert lim.try_acquire({"default": 6}).granted
    grant = lim.try_acquire({"default": 5})
    assert not grant.granted and grant.wait_s == 2.0 and not grant.blocked
    assert lim.try_acquire({"default": 1, "ep": 1}).granted
    assert lim.try_acquire({"default": 1, "ep": 1}).granted
    assert not lim.try_acquire({"default": 1, "ep": 1}).granted  # the endpoint bucket is full
    assert lim.usage("default") == 8  # the refused request took nothing
    lim.block(30, "test")
    assert lim.try_acquire({"default": 1}).blocked
    ft.sleep(31)
    assert lim.try_acquire({"default": 1}).granted


# --------------------------------------------------------------------------- Redis


@pytest.fixture
def redis_prefix() -> Iterator[tuple[object, str]]:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=15, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"liqtest-exch:{uuid.uuid4().hex[:8]}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def redis_limiter(prefix: str, ft: FakeTime, budgets: dict[str, Budget] | None = None) -> RedisRateLimiter:
    import redis

    # A separate connection per limiter, as two workers would have.
    client = redis.Redis(host="127.0.0.1", port=6379, db=15)
    return RedisRateLimiter(client, "binance", budgets, prefix=prefix, clock=ft.clock)


def test_redis_limiter_shares_budget_between_clients(redis_prefix: tuple[object, str]) -> None:
    _client, prefix = redis_prefix
    ft = FakeTime(1_800_000_015.0)
    budgets = {"default": Budget(10, 60_000)}
    a, b = redis_limiter(prefix, ft, budgets), redis_limiter(prefix, ft, budgets)
    assert a.try_acquire({"default": 6}).granted
    grant = b.try_acquire({"default": 5})
    assert not grant.granted and grant.wait_s == 45.0  # until the minute window ends
    assert b.try_acquire({"default": 4}).granted
    assert a.usage() == 10 == b.usage()
    b.record_used_weight(2300)
    assert a.usage() == 2300 and a.last_used_weight() == (2300, 1_800_000_015_000)
    ft.sleep(45)
    assert a.try_acquire({"default": 10}).granted  # a new window


def test_redis_418_blocks_every_client(fake: FakeExchange, redis_prefix: tuple[object, str]) -> None:
    _client, prefix = redis_prefix
    ft = FakeTime()
    worker_a = binance(fake, ft, redis_limiter(prefix, ft))
    worker_b = binance(fake, ft, redis_limiter(prefix, ft))
    fake.ban_next(retry_after=30, path=KLINES)
    with pytest.raises(RateLimitedError) as info:
        worker_a.fetch_candles("BTCUSDT", *span(fake))
    assert info.value.status == 418 and info.value.retry_after == 120.0  # at least 2 minutes
    assert ft.slept == []  # not retried in-process: the wait is longer than max_wait_s

    before = len(fake.requests)
    with pytest.raises(RateLimitedError, match="blocked") as info_b:
        worker_b.fetch_candles("BTCUSDT", *span(fake))
    assert len(fake.requests) == before  # B never reached the exchange
    assert info_b.value.retry_after == pytest.approx(120.0)
    assert worker_b.health.status == "degraded" and worker_b.health.blocked_for_s > 0

    ft.sleep(121)
    assert len(worker_b.fetch_candles("BTCUSDT", *span(fake))) == 50
    assert worker_b.health.ok
    worker_a.close()
    worker_b.close()


def test_redis_short_block_is_waited_out(fake: FakeExchange, redis_prefix: tuple[object, str]) -> None:
    """A 429 seen by one worker makes the other wait (shared block) instead of hitting the exchange."""
    _client, prefix = redis_prefix
    ft = FakeTime()
    lim_a, lim_b = redis_limiter(prefix, ft), redis_limiter(prefix, ft)
    lim_a.block(5, "HTTP 429")
    with binance(fake, ft, lim_b) as conn:
        assert len(conn.fetch_candles("BTCUSDT", *span(fake))) == 50
    assert ft.slept == [5.0]
