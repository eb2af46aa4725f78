"""Shared request budgets per exchange.

Celery's ``rate_limit`` is per worker, but exchanges limit per IP, so every worker on the host must draw
from one budget. ``RedisRateLimiter`` keeps it in Redis (atomic Lua); ``InMemoryRateLimiter`` has the same
semantics inside one process (tests, CLI runs without Redis).

Model: each exchange has named *buckets* (``Budget(limit, window_ms)``), counted in fixed windows aligned to
the epoch (Binance's REQUEST_WEIGHT window is the calendar minute, so aligned fixed windows match it). A
request costs weight in one or more buckets at once (e.g. Binance ``openInterestHist``: 0 weight on the
main budget but 1 of the endpoint's own 1000/5min). There is also one "blocked until" time per exchange,
set after 429/418/bans, which stops every worker, and the last used-weight the exchange reported
(``X-MBX-USED-WEIGHT-1M``), which counts against the window when it is higher than our own count
(other processes on the same IP spend weight too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_BUCKET = "default"


@dataclass(frozen=True, slots=True)
class Budget:
    limit: int  # weight (or requests) allowed per window
    window_ms: int


@dataclass(frozen=True, slots=True)
class Grant:
    granted: bool
    wait_s: float  # when not granted: how long until it may be (seconds)
    blocked: bool = False  # not granted because the exchange is blocked (429/418/ban), not just budget


# Budgets with a safety margin (~80-83 % of the documented limits).
DEFAULT_BUDGETS: dict[str, dict[str, Budget]] = {
    "binance": {
        DEFAULT_BUCKET: Budget(2000, 60_000),  # REQUEST_WEIGHT 2400/min
        "openInterestHist": Budget(800, 300_000),  # "IP rate limit 1000 requests/5min"
        "fundingRate": Budget(400, 300_000),  # "share 500/5min/IP with fundingInfo"
    },
    "bybit": {
        DEFAULT_BUCKET: Budget(40, 1_000),  # GET 50 req/s per IP
    },
    "okx": {
        DEFAULT_BUCKET: Budget(8, 2_000),
        "candles": Budget(32, 2_000),  # 40 / 2 s
        "history-candles": Budget(16, 2_000),  # 20 / 2 s
        "funding-rate-history": Budget(8, 2_000),  # 10 / 2 s
        "open-interest-history": Budget(8, 2_000),  # 10 / 2 s
        "open-interest": Budget(16, 2_000),  # 20 / 2 s
        "instruments": Budget(16, 2_000),  # public instruments: 20 / 2 s
    },
    "hyperliquid": {
        DEFAULT_BUCKET: Budget(1000, 60_000),  # info requests: 1 200 weight per minute per IP
    },
    "bitget": {
        DEFAULT_BUCKET: Budget(16, 1_000),  # each public market endpoint: 20 requests per second per IP
    },
    "gate": {
        DEFAULT_BUCKET: Budget(160, 10_000),  # public futures endpoints: 200 requests per 10 s per IP
    },
    "bitmex": {
        DEFAULT_BUCKET: Budget(24, 60_000),  # without an API key: 30 requests per minute
    },
    "deribit": {
        DEFAULT_BUCKET: Budget(16, 1_000),  # public methods: 20 requests per second sustained
    },
}


class RateLimiter(Protocol):
    exchange: str

    def try_acquire(self, costs: Mapping[str, int]) -> Grant:
        """Take ``costs`` ({bucket: weight}) from the budget atomically, or say how long to wait."""
        ...

    def block(self, seconds: float, reason: str = "") -> None:
        """Block every user of this exchange for at least ``seconds`` (never shortens a longer block)."""
        ...

    def blocked_for(self) -> float:
        """Seconds the exchange stays blocked (0 if not blocked)."""
        ...

    def record_used_weight(self, used: int, bucket: str = DEFAULT_BUCKET) -> None:
        """Record the exchange-reported used weight for the current window of ``bucket``."""
        ...

    def last_used_weight(self) -> tuple[int, int] | None:
        """(used weight, at ms) last reported by the exchange, or None."""
        ...

    def usage(self, bucket: str = DEFAULT_BUCKET) -> int:
        """Weight counted in the current window of ``bucket`` (max of ours and the exchange's)."""
        ...


def _windows(
    budgets: Mapping[str, Budget], costs: Mapping[str, int], now_ms: int
) -> list[tuple[str, int, Budget, int]]:
    """(bucket, weight, budget, window start) for each cost with a known budget and a positive weight."""
    out = []
    for bucket, weight in costs.items():
        budget = budgets.get(bucket)
        if budget is None or weight <= 0:
            continue
        out.append((bucket, int(weight), budget, now_ms - now_ms % budget.window_ms))
    return out


class InMemoryRateLimiter:
    """The same budget model for one process (thread-safe)."""

    def __init__(
        self,
        exchange: str,
        budgets: Mapping[str, Budget] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.exchange = exchange
        self.budgets = dict(budgets if budgets is not None else DEFAULT_BUDGETS.get(exchange, {}))
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}
        self._reported: dict[tuple[str, int], int] = {}
        self._blocked_until_ms = 0
        self._block_reason = ""
        self._last_used: tuple[int, int] | None = None

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def try_acquire(self, costs: Mapping[str, int]) -> Grant:
        now = self._now_ms()
        with self._lock:
            if self._blocked_until_ms > now:
                return Grant(False, (self._blocked_until_ms - now) / 1000, blocked=True)
            wins = _windows(self.budgets, costs, now)
            wait_ms = 0
            for bucket, weight, budget, start in wins:
                used = max(self._counts.get((bucket, start), 0), self._reported.get((bucket, start), 0))
                if used > 0 and used + weight > budget.limit:
                    wait_ms = max(wait_ms, start + budget.window_ms - now)
            if wait_ms > 0:
                return Grant(False, wait_ms / 1000)
            for bucket, weight, _budget, start in wins:
                self._counts[(bucket, start)] = self._counts.get((bucket, start), 0) + weight
            self._gc(now)
            return Grant(True, 0.0)

    def _gc(self, now: int) -> None:
        longest = max((b.window_ms for b in self.budgets.values()), default=0)
        for store in (self._counts, self._reported):
            for key in [k for k in store if k[1] + 2 * longest < now]:
                del store[key]

    def block(self, seconds: float, reason: str = "") -> None:
        until = self._now_ms() + int(seconds * 1000)
        with self._lock:
            if until > self._blocked_until_ms:
                self._blocked_until_ms = until
                self._block_reason = reason

    def blocked_for(self) -> float:
        return max(0.0, (self._blocked_until_ms - self._now_ms()) / 1000)

    @property
    def block_reason(self) -> str:
        return self._block_reason if self.blocked_for() > 0 else ""

    def record_used_weight(self, used: int, bucket: str = DEFAULT_BUCKET) -> None:
        now = self._now_ms()
        with self._lock:
            self._last_used = (int(used), now)
            budget = self.budgets.get(bucket)
            if budget is None:
                return
            key = (bucket, now - now % budget.window_ms)
            self._reported[key] = max(self._reported.get(key, 0), int(used))

    def last_used_weight(self) -> tuple[int, int] | None:
        return self._last_used

    def usage(self, bucket: str = DEFAULT_BUCKET) -> int:
        budget = self.budgets.get(bucket)
        if budget is None:
            return 0
        now = self._now_ms()
        key = (bucket, now - now % budget.window_ms)
        with self._lock:
            return max(self._counts.get(key, 0), self._reported.get(key, 0))


# KEYS[1] = blocked-until key; then for each bucket: KEYS[2i] = our counter, KEYS[2i+1] = reported weight.
# ARGV[1] = now ms, ARGV[2] = n buckets; then per bucket: weight, limit, window end ms, ttl ms.
_ACQUIRE_LUA = """
local now = tonumber(ARGV[1])
local blocked = tonumber(redis.call('GET', KEYS[1]) or '0')
if blocked > now then
  return {0, blocked - now, 1}
end
local n = tonumber(ARGV[2])
local wait = 0
for i = 0, n - 1 do
  local ours = tonumber(redis.call('GET', KEYS[2 + 2 * i]) or '0')
  local reported = tonumber(redis.call('GET', KEYS[3 + 2 * i]) or '0')
  local used = math.max(ours, reported)
  local weight = tonumber(ARGV[3 + 4 * i])
  local limit = tonumber(ARGV[4 + 4 * i])
  local window_end = tonumber(ARGV[5 + 4 * i])
  if used > 0 and used + weight > limit then
    wait = math.max(wait, window_end - now)
  end
end
if wait > 0 then
  return {0, wait, 0}
end
for i = 0, n - 1 do
  redis.call('INCRBY', KEYS[2 + 2 * i], tonumber(ARGV[3 + 4 * i]))
  redis.call('PEXPIRE', KEYS[2 + 2 * i], tonumber(ARGV[6 + 4 * i]))
end
return {1, 0, 0}
"""

# KEYS[1] = blocked-until key, KEYS[2] = reason key; ARGV = until ms, ttl ms, reason. Never shortens a block.
_BLOCK_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local until_ms = tonumber(ARGV[1])
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[2]))
  redis.call('SET', KEYS[2], ARGV[3], 'PX', tonumber(ARGV[2]))
  return 1
end
return 0
"""

# KEYS[1] = reported key for the window; ARGV = used, ttl ms. Keeps the max seen in the window.
_REPORT_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local used = tonumber(ARGV[1])
if used > current then
  redis.call('SET', KEYS[1], used, 'PX', tonumber(ARGV[2]))
end
return 1
"""


class RedisRateLimiter:
    """Budget shared by every process using the same Redis and ``prefix``.

    Keys: ``{prefix}:{exchange}:blocked`` (blocked-until ms), ``…:blocked_reason``,
    ``…:w:{bucket}:{window start}`` (our weight), ``…:r:{bucket}:{window start}`` (exchange-reported weight),
    ``…:last_used`` (hash: weight, at_ms). All expire on their own.
    """

    def __init__(
        self,
        redis_client: Any,
        exchange: str,
        budgets: Mapping[str, Budget] | None = None,
        *,
        prefix: str = "liq:rl",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis_client
        self.exchange = exchange
        self.budgets = dict(budgets if budgets is not None else DEFAULT_BUDGETS.get(exchange, {}))
        self.prefix = f"{prefix}:{exchange}"
        self.clock = clock
        self._acquire = redis_client.register_script(_ACQUIRE_LUA)
        self._block = redis_client.register_script(_BLOCK_LUA)
        self._report = redis_client.register_script(_REPORT_LUA)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def _blocked_key(self) -> str:
        return f"{self.prefix}:blocked"

    def try_acquire(self, costs: Mapping[str, int]) -> Grant:
        now = self._now_ms()
        wins = _windows(self.budgets, costs, now)
        keys = [self._blocked_key]
        args: list[int] = [now, len(wins)]
        for bucket, weight, budget, start in wins:
            keys += [f"{self.prefix}:w:{bucket}:{start}", f"{self.prefix}:r:{bucket}:{start}"]
            args += [weight, budget.limit, start + budget.window_ms, 2 * budget.window_ms]
        granted, wait_ms, blocked = self._acquire(keys=keys, args=args)
        return Grant(bool(int(granted)), int(wait_ms) / 1000, blocked=bool(int(blocked)))

    def block(self, seconds: float, reason: str = "") -> None:
        ms = max(1, int(seconds * 1000))
        self._block(
            keys=[self._blocked_key, f"{self.prefix}:blocked_reason"],
            args=[self._now_ms() + ms, ms + 60_000, reason],
        )

    def blocked_for(self) -> float:
        raw = self.redis.get(self._blocked_key)
        if raw is None:
            return 0.0
        return max(0.0, (int(raw) - self._now_ms()) / 1000)

    @property
    def block_reason(self) -> str:
        if self.blocked_for() <= 0:
            return ""
        raw = self.redis.get(f"{self.prefix}:blocked_reason")
        return raw.decode() if isinstance(raw, bytes) else (raw or "")

    def record_used_weight(self, used: int, bucket: str = DEFAULT_BUCKET) -> None:
        now = self._now_ms()
        self.redis.hset(f"{self.prefix}:last_used", mapping={"weight": int(used), "at_ms": now})
        self.redis.pexpire(f"{self.prefix}:last_used", 3_600_000)
        budget = self.budgets.get(bucket)
        if budget is None:
            return
        start = now - now % budget.window_ms
        self._report(keys=[f"{self.prefix}:r:{bucket}:{start}"], args=[int(used), 2 * budget.window_ms])

    def last_used_weight(self) -> tuple[int, int] | None:
        raw = self.redis.hgetall(f"{self.prefix}:last_used")
        if not raw:
            return None
        data = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
        return data["weight"], data["at_ms"]

    def usage(self, bucket: str = DEFAULT_BUCKET) -> int:
        budget = self.budgets.get(bucket)
        if budget is None:
            return 0
        now = self._now_ms()
        start = now - now % budget.window_ms
        ours, reported = self.redis.mget(f"{self.prefix}:w:{bucket}:{start}", f"{self.prefix}:r:{bucket}:{start}")
        return max(int(ours or 0), int(reported or 0))
