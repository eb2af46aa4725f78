"""The reconnecting loop for one market-data websocket (parsers and sampler: the streams package).

``run_market_connection`` keeps one websocket open: (re)connects with backoff and jitter, subscribes
to the connection's wanted topics and follows changes to them without reconnecting, pings where the
exchange asks for it (or answers its heartbeat, Deribit), and says once (not every retry) when the exchange
cannot be reached. Each new connection first resets what the parser held of the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from heatmaps.exchanges.errors import MalformedPayload
from heatmaps.exchanges.liquidation_stream import StreamStats
from heatmaps.exchanges.streams import MarketEvent, MarketParser, StreamRefused

# --------------------------------------------------------------------------- one connection


@dataclass
class MarketConnection:
    """One websocket and what it should carry; ``set_topics`` from any task changes the subscriptions."""

    name: str  # "binance", "bybit", "okx-public", "okx-business"
    url: str
    parse: MarketParser
    messages: Callable[[str, Sequence[str]], list[str]]  # ("subscribe"|"unsubscribe", topics) → frames
    connect_url: Callable[[str, Sequence[str]], str] | None = None  # topics in the URL (Binance)
    ping_message: str | Callable[[], str] | None = None  # a callable when the ping carries the time (Gate)
    ping_interval: float | None = None
    max_connection_s: float | None = None  # reconnect before the exchange drops us (Binance: 24 h)
    hello: Callable[[], list[str]] | None = None  # sent first on every connection (Deribit: set_heartbeat)
    answer: Callable[[Any], str | None] | None = None  # a reply the venue asks for (Deribit: test_request)
    # Forget what a parser holds of the last connection (bars still open): a bar seen open before an outage
    # must not be called closed by the first bar after it, since trades of the outage are missing from it.
    reset: Callable[[], None] | None = None
    topics: set[str] = field(default_factory=set)
    stats: StreamStats = field(init=False)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.stats = StreamStats(self.url)

    def set_topics(self, topics: Sequence[str]) -> None:
        new = set(topics)
        if new != self.topics:
            self.topics = new
            self.changed.set()


EventSink = Callable[[MarketConnection, list[MarketEvent]], Awaitable[None]]
ConnectHook = Callable[[MarketConnection, set[str]], Awaitable[None]]


async def run_market_connection(
    conn: MarketConnection,
    on_events: EventSink,
    *,
    stop_event: asyncio.Event,
    on_connect: ConnectHook | None = None,
    on_subscribed: ConnectHook | None = None,
    logger: logging.Logger | None = None,
    idle_timeout: float = 90.0,
    backoff_base: float = 1.0,
    backoff_max: float = 60.0,
    stable_after: float = 30.0,
    connect: Callable[..., Any] | None = None,
    rand: Callable[[], float] = random.random,
) -> StreamStats:
    """Keep ``conn`` connected until ``stop_event`` is set.

    ``on_connect(conn, topics)`` is awaited after each (re)connect and subscribe, before the first frame
    is read (the caller repairs what the outage missed from REST; frames wait in the socket meanwhile);
    ``on_subscribed(conn, added)`` after topics were added to a live connection. ``on_events`` gets every
    parsed frame's events, in order.
    """
    if connect is None:
        from websockets.asyncio.client import connect as ws_connect

        connect = ws_connect
    log = logger or logging.getLogger("heatmaps.exchanges.market_stream")
    st = conn.stats
    unreachable = False  # said once per outage, then quiet retries
    reached = False

    async def session() -> None:
        nonlocal unreachable, reached
        topics = set(conn.topics)
        url = conn.connect_url(conn.url, sorted(topics)) if conn.connect_url else conn.url
        conn.changed.clear()
        async with connect(url, open_timeout=10, ping_interval=20, ping_timeout=20, close_timeout=2) as ws:
            st.connected = True
            st.connects += 1
            reached = True
            opened = time.monotonic()
            if unreachable:
                log.info("%s market stream: reachable again", conn.name)
            unreachable = False
            log.info("%s market stream connected to %s (%d topics)", conn.name, conn.url, len(topics))
            if conn.reset is not None:
                conn.reset()
            for m in conn.hello() if conn.hello is not None else []:
                await ws.send(m)
            if conn.connect_url is None:
                for m in conn.messages("subscribe", sorted(topics)):
                    await ws.send(m)
            if on_connect is not None:
                await on_connect(conn, topics)
            last_ping = time.monotonic()
            stop_wait = asyncio.create_task(stop_event.wait())
            try:
                while not stop_event.is_set():
                    if conn.changed.is_set():
                        conn.changed.clear()
                        wanted = set(conn.topics)
                        gone, added = sorted(topics - wanted), sorted(wanted - topics)
                        for m in conn.messages("unsubscribe", gone) + conn.messages("subscribe", added):
                            await ws.send(m)
                        topics = wanted
                        if added:
                            log.info("%s market stream: subscribed %s", conn.name, ", ".join(added))
                            if on_subscribed is not None:
                                await on_subscribed(conn, set(added))
                        if gone:
                            log.info("%s market stream: unsubscribed %s", conn.name, ", ".join(gone))
                    if conn.max_connection_s and time.monotonic() - opened >= conn.max_connection_s:
                        log.info("%s market stream: renewing the connection before the exchange drops it", conn.name)
                        return
                    wait = idle_timeout
                    if conn.ping_message and conn.ping_interval:
                        due = conn.ping_interval - (time.monotonic() - last_ping)
                        if due <= 0:
                            ping = conn.ping_message
                            await ws.send(ping if isinstance(ping, str) else ping())
                            last_ping = time.monotonic()
                            due = conn.ping_interval
                        wait = min(wait, due)
                    recv = asyncio.create_task(ws.recv())
                    changed = asyncio.create_task(conn.changed.wait())
                    done, _ = await asyncio.wait(
                        {recv, stop_wait, changed}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                    )
                    changed.cancel()
                    if recv in done:
                        await handle(ws, recv.result())  # re-raises ConnectionClosed
                        continue
                    recv.cancel()
                    with contextlib.suppress(BaseException):
                        await recv
                    if not done and not (conn.ping_message and conn.ping_interval):
                        raise TimeoutError(f"no frame for {idle_timeout}s")
                    if not done and st.last_frame_at is not None and time.time() - st.last_frame_at > idle_timeout:
                        raise TimeoutError(f"no frame for {idle_timeout}s")
            finally:
                st.connected = False
                stop_wait.cancel()
                with contextlib.suppress(BaseException):
                    await stop_wait

    async def handle(ws: Any, raw: Any) -> None:
        st.frames += 1
        st.last_frame_at = time.time()
        reply = conn.answer(raw) if conn.answer is not None else None
        if reply is not None:
            await ws.send(reply)
        try:
            events = conn.parse(raw)
        except MalformedPayload as exc:
            st.malformed += 1
            st.last_error = str(exc)
            log.warning("%s: skipping malformed market frame: %s", conn.name, exc)
            return
        except StreamRefused as exc:
            st.last_error = str(exc)
            log.warning("%s market stream: %s", conn.name, exc)
            return
        if events:
            st.events += len(events)
            await on_events(conn, events)

    attempt = 0
    while not stop_event.is_set():
        if not conn.topics:
            # Nothing to carry: wait for a subscription rather than hold an idle connection open.
            changed = asyncio.create_task(conn.changed.wait())
            stop_wait = asyncio.create_task(stop_event.wait())
            await asyncio.wait({changed, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            stop_wait.cancel()
            conn.changed.clear()
            continue
        opened = time.monotonic()
        frames_before = st.frames
        reached = False
        try:
            await session()
        except asyncio.CancelledError:
            raise
        except (OSError, TimeoutError) as exc:
            st.last_error = f"{type(exc).__name__}: {exc}"
            if not reached:
                if not unreachable:
                    log.warning(
                        "%s market stream: %s cannot be reached (%s); retrying quietly with backoff",
                        conn.name, conn.url, st.last_error,
                    )  # fmt: skip
                unreachable = True
            else:
                log.warning("%s market stream dropped: %s", conn.name, st.last_error)
        except Exception as exc:
            st.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s market stream dropped: %s", conn.name, st.last_error)
        if time.monotonic() - opened >= stable_after and st.frames > frames_before:
            attempt = 0
        if stop_event.is_set():
            break
        delay = min(backoff_max, backoff_base * (2**attempt)) * (0.5 + 0.5 * rand())
        attempt += 1
        st.reconnects += 1
        (log.debug if unreachable else log.info)(
            "%s market stream: reconnecting in %.2fs (attempt %d)", conn.name, delay, attempt
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=delay)
    log.info("%s market stream stopped: %s", conn.name, st.summary())
    return st
