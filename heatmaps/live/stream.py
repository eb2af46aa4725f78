"""``GET /assets/<symbol>/events``: the asset's live events as Server-Sent Events; ``GET /markets/events``:
every enabled asset's ticks and closed bars, for the overview.

An async view (served by the ASGI application): each connection subscribes to the asset's stream and,
for a signed-in user, to that user's own alert stream, through the process's hub (heatmaps/live/hub.py:
one Redis reader for all connections), so an idle connection costs a coroutine and a queue, not a
thread or a Redis connection. Every event carries its stream position
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

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from redis.exceptions import RedisError

from heatmaps.live.events import asset_stream_key, user_stream_key
from heatmaps.live.hub import Entry, StreamClosed, Subscription, entry_order, hub
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


def _sse(event_id: str, kind: str, data: bytes) -> bytes:
    # ``data`` is compact JSON (no newlines), so one data line always carries it whole.
    return b"id: " + event_id.encode() + b"\nevent: " + kind.encode() + b"\ndata: " + data + b"\n\n"


async def _events(symbol: str, user_id: int | None, last_event_id: str | None) -> AsyncIterator[bytes]:
    keepalive_s = max(0.001, settings.LIQ_LIVE_KEEPALIVE_SECONDS)
    asset_key = asset_stream_key(symbol)
    user_key = user_stream_key(user_id) if user_id is not None else None
    keys = [asset_key] + ([user_key] if user_key is not None else [])
    feed = hub()
    sub: Subscription | None = None
    try:
        sub = await feed.subscribe(keys)
        asset_pos, user_pos = _parse_last_id(last_event_id, with_user=user_key is not None)
        positions = dict(sub.start)
        resume = {asset_key: asset_pos, **({user_key: user_pos} if user_key is not None else {})}
        missed: list[Entry] = []
        for key, after in resume.items():
            if after is not None:
                missed += await feed.backlog(key, after, sub.start[key])
        missed.sort(key=lambda e: entry_order(e[1]))

        def frame(entry: Entry) -> bytes:
            key, entry_id, fields = entry
            positions[key] = entry_id
            event_id = positions[asset_key] + (f",{positions[user_key]}" if user_key is not None else "")
            return _sse(event_id, fields[b"kind"].decode(), fields[b"data"])

        if missed:  # positions before the first event sent: those of the last id the browser saw
            positions.update({k: v for k, v in resume.items() if v is not None})
        # Sent at once: the response starts (a proxy sees bytes), and a reconnecting browser waits RETRY_MS.
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode() + b"".join(frame(e) for e in missed)
        while True:
            entry = await sub.get(keepalive_s)
            if entry is None:
                # Nothing within the interval: a comment line keeps proxies and load balancers from
                # closing an idle connection (and tells the server when the browser has gone).
                yield b": keep-alive\n\n"
                continue
            chunk = bytearray(frame(entry))
            while not sub.queue.empty():  # whatever else is already here goes in the same write
                more = await sub.get(0)
                if more is None:
                    break
                chunk += frame(more)
            yield bytes(chunk)
    except (RedisError, StreamClosed):
        # The browser reconnects on its own (after RETRY_MS) with the last id it saw.
        logger.warning("live stream of %s ended: Redis unavailable or the connection fell behind", symbol)
    finally:
        if sub is not None:
            feed.unsubscribe(sub)


def _not_streamable(request: HttpRequest) -> HttpResponse | None:
    if settings.EMBEDDED:
        return HttpResponse(
            "Live updates need Redis; this embedded instance has none.\n", status=503, content_type="text/plain"
        )
    if not isinstance(request, ASGIRequest):
        # Under WSGI Django would read this endless stream to its end, holding a worker for ever: the
        # stream is served by the ASGI process only (docs/deploy.md routes /…/events to it).
        return HttpResponse("Live events are served by the ASGI process.\n", status=503, content_type="text/plain")
    return None


def _event_stream(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    # Every byte as it is written: never stored, never buffered by nginx, never compressed.
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


async def asset_events(request: HttpRequest, symbol: str) -> HttpResponse | StreamingHttpResponse:
    if (refused := _not_streamable(request)) is not None:
        return refused
    async with _DB_GATE:
        known = symbol.upper() in await _enabled_symbols()
        user = await request.auser()
        user_id = user.pk if user.is_authenticated else None
        # The stream reads only Redis: the session's database connection (if any) goes back now.
        await sync_to_async(connections.close_all)()
    if not known:
        raise Http404(f"There is no enabled asset {symbol[:32]!r} here.")
    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("last_id")
    return _event_stream(_events(symbol.upper(), user_id, last_event_id))


OVERVIEW_KINDS = frozenset({b"tick", b"bar"})


async def _market_events(symbols: frozenset[str]) -> AsyncIterator[bytes]:
    """Ticks and closed bars of every asset, each tagged with its symbol; from now on (the overview
    renders the current figures, so a reconnecting page needs no replay of what it missed)."""
    keepalive_s = max(0.001, settings.LIQ_LIVE_KEEPALIVE_SECONDS)
    symbol_of = {asset_stream_key(s): s.encode() for s in symbols}
    feed = hub()
    sub: Subscription | None = None
    try:
        sub = await feed.subscribe(sorted(symbol_of))
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        while True:
            entry = await sub.get(keepalive_s)
            if entry is None:
                yield b": keep-alive\n\n"
                continue
            key, entry_id, fields = entry
            if fields[b"kind"] in OVERVIEW_KINDS:
                # The entry's data is a compact JSON object: the symbol goes in as its first member.
                data = b'{"symbol":"' + symbol_of[key] + b'",' + fields[b"data"][1:]
                yield _sse(entry_id, fields[b"kind"].decode(), data)
    except (RedisError, StreamClosed):
        logger.warning("live market stream ended: Redis unavailable or the connection fell behind")
    finally:
        if sub is not None:
            feed.unsubscribe(sub)


async def market_events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if (refused := _not_streamable(request)) is not None:
        return refused
    async with _DB_GATE:
        symbols = await _enabled_symbols()
        await sync_to_async(connections.close_all)()
    return _event_stream(_market_events(symbols))
