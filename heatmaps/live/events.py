"""Publishing live events: what a page open on an asset should learn without a reload.

Each asset has one Redis Stream (``liq:live:<SYMBOL>``) and each user one more for alerts
(``liq:live:user:<id>``). The issue asked for Redis pub/sub; a stream is pub/sub with a replay
buffer: any number of web processes read the same entries (fan-out), and a browser that lost its
connection resumes after the last entry id it saw (the SSE ``id`` / ``Last-Event-ID``) instead of
silently missing what was published while it was away. ``MAXLEN ~ 2000`` bounds the buffer.

Publishing never raises: a live update is a convenience, and a Redis outage must not fail the ingest,
the recompute or the alert evaluation that called us; it is logged and ignored. In the embedded mode
(SQLite, no Redis) every publish is a no-op.

Payloads (``data``), documented for the page and API clients in README.md, section "Live events":

- ``tick``        {"time": ms, "price": float, "mark": float | None, "exchange": code}
                  at most one per asset per second (older ones in the same second are dropped here)
- ``bar``         {"time": open ms, "open", "high", "low", "close", "volume", "exchange", "closed": bool}
- ``map``         {"timeframe", "through": open ms of the newest bar, "etag": the map API's ETag, "version"}
- ``liquidation`` {"time", "side", "price", "usd", "exchange"}
- ``alert``       {"id", "rule", "text", "time"}, on the user's own stream only
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

ASSET_KINDS = frozenset({"tick", "bar", "map", "liquidation"})
USER_KINDS = frozenset({"alert"})
STREAM_MAXLEN = 2000
TICK_INTERVAL_MS = 1000

_client_lock = threading.Lock()
_client: redis.Redis | None = None
# Process-local half of the tick throttle; the Redis SET NX PX below makes it hold across processes.
_last_tick_ms: dict[str, int] = {}


def asset_stream_key(symbol: str) -> str:
    return f"liq:live:{symbol.upper()}"


def user_stream_key(user_id: int) -> str:
    return f"liq:live:user:{int(user_id)}"


def _redis() -> redis.Redis:
    global _client
    with _client_lock:
        if _client is None:
            # Short timeouts: a publisher waits at most a second for a Redis that is gone.
            _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        return _client


def encode_entry(*, kind: str, data: dict[str, Any], symbol: str) -> dict[str, str]:
    return {"kind": kind, "symbol": symbol.upper(), "data": json.dumps(data, separators=(",", ":"), default=str)}


def _tick_allowed(symbol: str) -> bool:
    now = int(time.time() * 1000)
    if now - _last_tick_ms.get(symbol, 0) < TICK_INTERVAL_MS:
        return False
    _last_tick_ms[symbol] = now
    return bool(_redis().set(f"liq:live:tick-gate:{symbol}", now, nx=True, px=TICK_INTERVAL_MS))


def _xadd(key: str, fields: dict[str, str]) -> None:
    _redis().xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]


def publish_event(*, symbol: str, kind: str, data: dict[str, Any]) -> None:
    """Append one event to the asset's live stream; never raises."""
    if kind not in ASSET_KINDS:
        # A caller's mistake, but publishing must not fail the ingest that called it: log loudly instead.
        logger.error("unknown live event kind %r for %s not published", kind, symbol)
        return
    if settings.EMBEDDED:
        return
    symbol = symbol.upper()
    try:
        if kind == "tick" and not _tick_allowed(symbol):
            return
        _xadd(asset_stream_key(symbol), encode_entry(kind=kind, data=data, symbol=symbol))
    except (redis.RedisError, OSError):
        logger.warning("live event %s for %s not published: Redis unavailable", kind, symbol, exc_info=True)


def publish_user_events(events: list[tuple[int, str, str, dict[str, Any]]]) -> None:
    """Several (user id, symbol, kind, data) at once, in one Redis round trip; never raises. A cycle that
    fires a thousand alerts would otherwise spend a round trip on each."""
    if settings.EMBEDDED or not events:
        return
    unknown = {kind for _, _, kind, _ in events if kind not in USER_KINDS}
    if unknown:
        logger.error("unknown user live event kind(s) %s not published", ", ".join(sorted(unknown)))
        events = [e for e in events if e[2] in USER_KINDS]
    try:
        with _redis().pipeline(transaction=False) as pipe:
            for user_id, symbol, kind, data in events:
                fields = encode_entry(kind=kind, data=data, symbol=symbol)
                pipe.xadd(user_stream_key(user_id), fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.execute()
    except (redis.RedisError, OSError):
        logger.warning("%d live user events not published: Redis unavailable", len(events), exc_info=True)


def publish_user_event(*, user_id: int, symbol: str, kind: str, data: dict[str, Any]) -> None:
    """Append one event to a user's own live stream (seen only on that user's connections); never raises."""
    if kind not in USER_KINDS:
        logger.error("unknown user live event kind %r not published", kind)
        return
    if settings.EMBEDDED:
        return
    try:
        _xadd(user_stream_key(user_id), encode_entry(kind=kind, data=data, symbol=symbol))
    except (redis.RedisError, OSError):
        logger.warning("live %s for user %s not published: Redis unavailable", kind, user_id, exc_info=True)
