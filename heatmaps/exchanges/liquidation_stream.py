"""The reconnecting asyncio recorder loop for the liquidation websockets (parsers: liquidations.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heatmaps.exchanges.errors import MalformedPayload
from heatmaps.exchanges.liquidations import Parser, Sink
from heatmaps.rows import LiquidationRow

# --------------------------------------------------------------------------- the recorder loop


@dataclass
class StreamStats:
    """Health of one recorder; read it from another task or log it."""

    url: str
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    frames: int = 0
    events: int = 0  # rows parsed (after dedupe)
    duplicates: int = 0
    malformed: int = 0
    flushed: int = 0  # rows handed to the sink successfully
    sink_errors: int = 0
    last_event_ms: int | None = None  # exchange time of the newest row
    last_frame_at: float | None = None  # local time.time() of the last frame
    last_error: str | None = None
    started_at: float = field(default_factory=time.time)

    def summary(self) -> str:
        return (
            f"connected={self.connected} connects={self.connects} reconnects={self.reconnects} "
            f"frames={self.frames} events={self.events} dup={self.duplicates} malformed={self.malformed} "
            f"flushed={self.flushed} sink_errors={self.sink_errors} last_event_ms={self.last_event_ms} "
            f"last_error={self.last_error}"
        )


class _RecentKeys:
    """Bounded map of recently seen dedupe keys to the largest quantity seen: replays after a reconnect are
    dropped, but a later frame of the same order with a larger cumulative fill (Binance ``z``) goes on."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[str, float] = OrderedDict()

    def add(self, key: str, quantity: float = 0.0) -> bool:
        """True when the key is new, or seen before with a smaller quantity."""
        seen = self._keys.get(key)
        if seen is not None:
            self._keys.move_to_end(key)
            if quantity <= seen:
                return False
        self._keys[key] = quantity
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return True


def _as_messages(subscribe_message: Any) -> list[str]:
    if subscribe_message is None:
        return []
    items = subscribe_message if isinstance(subscribe_message, list) else [subscribe_message]
    return [m if isinstance(m, str) else json.dumps(m) for m in items]


async def stream_liquidations(
    url: str,
    subscribe_message: Any,
    parse: Parser,
    sink: Sink,
    *,
    batch_size: int = 100,
    flush_seconds: float = 2.0,
    stop_event: asyncio.Event | None = None,
    logger: logging.Logger | None = None,
    ping_message: str | None = None,
    ping_interval: float | None = None,
    idle_timeout: float = 90.0,
    backoff_base: float = 1.0,
    backoff_max: float = 60.0,
    stable_after: float = 30.0,
    health_every: float = 60.0,
    dedupe_size: int = 50_000,
    max_buffer: int = 100_000,
    stats: StreamStats | None = None,
    connect: Callable[..., Any] | None = None,
    rand: Callable[[], float] = random.random,
) -> StreamStats:
    """Record liquidations from ``url`` until ``stop_event`` is set; returns the stats.

    On every (re)connect it sends ``subscribe_message`` (None, a str/dict, or a list of them). It reconnects
    after any disconnect, error or ``idle_timeout`` seconds without a frame, with exponential backoff plus
    jitter (reset once a connection stayed up ``stable_after`` seconds and delivered frames). When
    ``ping_message`` is set it is sent every ``ping_interval`` seconds (Bybit ``{"op":"ping"}`` / 20 s, OKX
    ``"ping"`` / 25 s); protocol-level pings are answered by websockets itself. Rows are deduped on
    ``dedupe_key`` and handed to ``sink`` (a sync callable, run in a thread) every ``batch_size`` rows or
    ``flush_seconds`` seconds, and once more on stop. A failing sink keeps its rows for the next flush
    (bounded by ``max_buffer``).
    """
    if connect is None:
        from websockets.asyncio.client import connect as ws_connect

        connect = ws_connect
    log = logger or logging.getLogger("heatmaps.exchanges.liquidations")
    stop = stop_event or asyncio.Event()
    st = stats or StreamStats(url)
    recent = _RecentKeys(dedupe_size)
    buffer: list[LiquidationRow] = []
    last_flush = time.monotonic()
    messages = _as_messages(subscribe_message)

    flush_lock = asyncio.Lock()

    async def flush() -> None:
        nonlocal buffer, last_flush
        async with flush_lock:
            last_flush = time.monotonic()
            if not buffer:
                return
            batch, buffer = buffer, []
            try:
                await asyncio.to_thread(sink, batch)
            except Exception as exc:
                st.sink_errors += 1
                st.last_error = f"sink: {type(exc).__name__}: {exc}"
                log.exception("liquidation sink failed for %d rows; keeping them for the next flush", len(batch))
                buffer = (batch + buffer)[-max_buffer:]
                return
            st.flushed += len(batch)

    async def pinger(ws: Any) -> None:
        assert ping_message is not None and ping_interval
        while True:
            await asyncio.sleep(ping_interval)
            await ws.send(ping_message)

    async def flusher() -> None:
        while True:
            await asyncio.sleep(max(0.01, flush_seconds / 4))
            if buffer and time.monotonic() - last_flush >= flush_seconds:
                await flush()

    async def health_logger() -> None:
        while True:
            await asyncio.sleep(health_every)
            log.info("liquidation stream %s: %s", url, st.summary())

    def handle(raw: Any) -> None:
        st.frames += 1
        st.last_frame_at = time.time()
        try:
            rows = parse(raw)
        except MalformedPayload as exc:
            st.malformed += 1
            st.last_error = str(exc)
            log.warning("skipping malformed liquidation frame: %s", exc)
            return
        for row in rows:
            if not recent.add(row.dedupe_key, row.quantity):
                st.duplicates += 1
                continue
            st.events += 1
            st.last_event_ms = max(st.last_event_ms or 0, row.time_ms)
            buffer.append(row)

    async def run_connection() -> None:
        """One connection, until it drops (raises) or stop is set."""
        async with connect(url, open_timeout=10, ping_interval=20, ping_timeout=20, close_timeout=2) as ws:
            st.connected = True
            st.connects += 1
            log.info("liquidation stream connected to %s (connect #%d)", url, st.connects)
            for m in messages:
                await ws.send(m)
            side_tasks = [asyncio.create_task(health_logger())]
            if ping_message and ping_interval:
                side_tasks.append(asyncio.create_task(pinger(ws)))
            stop_wait = asyncio.create_task(stop.wait())
            try:
                while not stop.is_set():
                    recv = asyncio.create_task(ws.recv())
                    done, _ = await asyncio.wait(
                        {recv, stop_wait, *side_tasks}, timeout=idle_timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    if recv in done:
                        handle(recv.result())  # re-raises ConnectionClosed
                        if len(buffer) >= batch_size:
                            await flush()
                        continue
                    recv.cancel()
                    with contextlib.suppress(BaseException):
                        await recv
                    for t in side_tasks:
                        if t in done:
                            t.result()  # a failed ping raises here
                    if not done:
                        raise TimeoutError(f"no frame for {idle_timeout}s")
            finally:
                st.connected = False
                stop_wait.cancel()
                for t in side_tasks:
                    t.cancel()
                await asyncio.gather(stop_wait, *side_tasks, return_exceptions=True)

    flush_task = asyncio.create_task(flusher())
    attempt = 0
    try:
        while not stop.is_set():
            opened = time.monotonic()
            frames_before = st.frames
            try:
                await run_connection()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                st.connected = False
                st.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("liquidation stream %s dropped: %s", url, st.last_error)
            if time.monotonic() - opened >= stable_after and st.frames > frames_before:
                attempt = 0  # that connection was healthy: start the backoff again from the bottom
            if stop.is_set():
                break
            if buffer:
                await flush()
            delay = min(backoff_max, backoff_base * (2**attempt)) * (0.5 + 0.5 * rand())
            attempt += 1
            st.reconnects += 1
            log.info("liquidation stream %s: reconnecting in %.2fs (attempt %d)", url, delay, attempt)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
    finally:
        async with flush_lock:  # never cancel the flusher while its sink call is in flight
            flush_task.cancel()
        with contextlib.suppress(BaseException):
            await flush_task
        await flush()
        log.info("liquidation stream %s stopped: %s", url, st.summary())
    return st
