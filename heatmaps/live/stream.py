"""``GET /assets/<symbol>/events``: the asset's live events as Server-Sent Events; ``GET /markets/events``:
every enabled asset's ticks and closed bars, for the overview.

An async view (served by the ASGI application): each connection waits in ``XREAD BLOCK`` on the
asset's stream and, for a signed-in user, on that user's own alert stream, so an idle connection
costs a coroutine and one Redis connection, not a thread. Every event carries its stream position
as the SSE ``id``; a browser that reconnects sends it back as ``Last-Event-ID`` and gets what it
missed (as far as the stream's ~2000 entries reach). For a signed-in user the id holds both
positions, ``<asset entry id>,<alert entry id>``: an alert position is only ever read on that user's
own connection, and one from a crafted id only sets where in the user's own stream to start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from redis.exceptions import RedisError

from heatmaps.live.events import asset_stream_key, user_stream_key
from heatmaps.models import Asset

logger = logging.getLogger(__name__)

_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
RETRY_MS = 3000  # how long EventSource waits before reconnecting after a dropped connection
SYMBOLS_TTL_S = 30.0  # a newly enabled asset gets its stream this much later at most
# A thousand browsers reconnecting at once (a deploy, a network blip) must not open a thousand
# database connections: the few reads a connection needs (symbols, the session's user) wait their turn.
_DB_GATE = asyncio.Semaphore(8)
_symbols: tuple[float, frozenset[str]] = (0.0, frozenset())


def _read_symbols() -> frozenset[str]:
    try:
        return frozenset(Asset.objects.filter(enabled=True).values_list("symbol", flat=True))
    finally:
        # Django gives a request's connection back when the response ends, and this one does not end.
        connections.close_all()


async def _enabled_symbols() -> frozenset[str]:
    global _symbols
    read_at, symbols = _symbols
    if time.monotonic() - read_at > SYMBOLS_TTL_S:
        symbols = await sync_to_async(_read_symbols)()
        _symbols = (time.monotonic(), symbols)
    return symbols


def _parse_last_id(raw: str | None, *, with_user: bool) -> tuple[str | None, str | None]:
    """The asset and alert stream positions from ``Last-Event-ID``; None where absent or malformed."""
    if not raw:
        return None, None
    parts = raw.strip().split(",")
    asset_id = parts[0] if _ENTRY_ID.match(parts[0]) else None
    user_id = parts[1] if with_user and len(parts) > 1 and _ENTRY_ID.match(parts[1]) else None
    return asset_id, user_id


async def _newest_id(client: aioredis.Redis, key: str) -> str:
    """Where "from now on" starts: the newest entry's id (entries after it are new), or 0-0 when empty."""
    newest: Any = await client.xrevrange(key, count=1)
    return str(newest[0][0].decode()) if newest else "0-0"


def _sse(event_id: str, kind: str, data: bytes) -> bytes:
    # ``data`` is compact JSON (no newlines), so one data line always carries it whole.
    return b"id: " + event_id.encode() + b"\nevent: " + kind.encode() + b"\ndata: " + data + b"\n\n"


async def _events(symbol: str, user_id: int | None, last_event_id: str | None) -> AsyncIterator[bytes]:
    keepalive_ms = max(1, int(settings.LIQ_LIVE_KEEPALIVE_SECONDS * 1000))
    asset_key = asset_stream_key(symbol)
    user_key = user_stream_key(user_id) if user_id is not None else None
    # A client of its own per connection: XREAD BLOCK holds its connection for the whole wait anyway,
    # and a client bound to no shared pool is safe whatever event loop serves the request.
    # The read timeout outlasts the longest XREAD BLOCK, so only a Redis that stopped answering trips it.
    client = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=keepalive_ms / 1000 + 10
    )
    try:
        asset_pos, user_pos = _parse_last_id(last_event_id, with_user=user_key is not None)
        positions: dict[str, str] = {asset_key: asset_pos or await _newest_id(client, asset_key)}
        if user_key is not None:
            positions[user_key] = user_pos or await _newest_id(client, user_key)
        # Sent at once: the response starts (a proxy sees bytes), and a reconnecting browser waits RETRY_MS.
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        while True:
            reply: Any = await client.xread(positions, block=keepalive_ms, count=100)  # type: ignore[arg-type]
            if not reply:
                # Nothing within the interval: a comment line keeps proxies and load balancers from
                # closing an idle connection (and tells the server when the browser has gone).
                yield b": keep-alive\n\n"
                continue
            entries = [
                (entry_id.decode(), key.decode(), fields) for key, stream in reply for entry_id, fields in stream
            ]
            entries.sort(key=lambda e: tuple(int(n) for n in e[0].split("-")))
            chunk = bytearray()
            for entry_id, key, fields in entries:
                positions[key] = entry_id
                event_id = positions[asset_key] + (f",{positions[user_key]}" if user_key is not None else "")
                chunk += _sse(event_id, fields[b"kind"].decode(), fields[b"data"])
            yield bytes(chunk)
    except RedisError:
        # The browser reconnects on its own (after RETRY_MS) with the last id it saw.
        logger.warning("live stream of %s ended: Redis unavailable", symbol, exc_info=True)
    finally:
        await client.aclose()


async def asset_events(request: HttpRequest, symbol: str) -> HttpResponse | StreamingHttpResponse:
    if settings.EMBEDDED:
        return HttpResponse(
            "Live updates need Redis; this embedded instance has none.\n", status=503, content_type="text/plain"
        )
    if not isinstance(request, ASGIRequest):
        # Under WSGI Django would read this endless stream to its end, holding a worker for ever: the
        # stream is served by the ASGI process only (docs/deploy.md routes /assets/*/events to it).
        return HttpResponse("Live events are served by the ASGI process.\n", status=503, content_type="text/plain")
    async with _DB_GATE:
        known = symbol.upper() in await _enabled_symbols()
        user = await request.auser()
        user_id = user.pk if user.is_authenticated else None
        # The stream reads only Redis: the session's database connection (if any) goes back now.
        await sync_to_async(connections.close_all)()
    if not known:
        raise Http404(f"There is no enabled asset {symbol[:32]!r} here.")
    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("last_id")
    response = StreamingHttpResponse(
        _events(symbol.upper(), user_id, last_event_id), content_type="text/event-stream; charset=utf-8"
    )
    # Every byte as it is written: never stored, never buffered by nginx, never compressed.
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


OVERVIEW_KINDS = frozenset({b"tick", b"bar"})


async def _market_events(symbols: frozenset[str]) -> AsyncIterator[bytes]:
    """Ticks and closed bars of every asset, each tagged with its symbol; from now on (the overview
    renders the current figures, so a reconnecting page needs no replay of what it missed)."""
    keepalive_ms = max(1, int(settings.LIQ_LIVE_KEEPALIVE_SECONDS * 1000))
    client = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=keepalive_ms / 1000 + 10
    )
    try:
        positions = {asset_stream_key(s): await _newest_id(client, asset_stream_key(s)) for s in sorted(symbols)}
        symbol_of = {asset_stream_key(s).encode(): s.encode() for s in symbols}
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        while True:
            reply: Any = await client.xread(positions, block=keepalive_ms, count=100)  # type: ignore[arg-type]
            if not reply:
                yield b": keep-alive\n\n"
                continue
            chunk = bytearray()
            for key, stream in reply:
                for entry_id, fields in stream:
                    positions[key.decode()] = entry_id.decode()
                    if fields[b"kind"] in OVERVIEW_KINDS:
                        # The entry's data is a compact JSON object: the symbol goes in as its first member.
                        data = b'{"symbol":"' + symbol_of[key] + b'",' + fields[b"data"][1:]
                        chunk += _sse(entry_id.decode(), fields[b"kind"].decode(), data)
            if chunk:
                yield bytes(chunk)
    except RedisError:
        logger.warning("live market stream ended: Redis unavailable", exc_info=True)
    finally:
        await client.aclose()


async def market_events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if settings.EMBEDDED:
        return HttpResponse(
            "Live updates need Redis; this embedded instance has none.\n", status=503, content_type="text/plain"
        )
    if not isinstance(request, ASGIRequest):
        return HttpResponse("Live events are served by the ASGI process.\n", status=503, content_type="text/plain")
    async with _DB_GATE:
        symbols = await _enabled_symbols()
        await sync_to_async(connections.close_all)()
    response = StreamingHttpResponse(_market_events(symbols), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response
