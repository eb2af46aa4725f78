"""Liquidation websocket payload parsers and a reconnecting asyncio recorder loop.

Sides are normalised to the side of the *position* that was liquidated:

=========  ======================  ======================
Exchange   long liquidated         short liquidated
=========  ======================  ======================
Binance    ``S = SELL`` (order)    ``S = BUY``
Bybit      ``S = Buy`` (position)  ``S = Sell``
OKX        ``side = sell`` / ``posSide = long``   ``side = buy`` / ``posSide = short``
=========  ======================  ======================

Parsers take one frame (str, bytes or already-decoded JSON) and return a list of ``LiquidationRow``;
subscribe acks, pongs and other non-data frames give ``[]``. Malformed *data* frames raise
``MalformedPayload`` (the stream loop logs and skips them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heatmaps.exchanges.base import Fields, MalformedPayload
from heatmaps.rows import LiquidationRow, Side

Frame = str | bytes | dict[str, Any] | list[Any]
Parser = Callable[[Frame], list[LiquidationRow]]
Sink = Callable[[list[LiquidationRow]], None]

BINANCE_ENDPOINT = "ws !forceOrder@arr"
BYBIT_ENDPOINT = "ws allLiquidation"
OKX_ENDPOINT = "ws liquidation-orders"


def _decode(frame: Frame) -> Any:
    """JSON-decode a text/bytes frame; non-JSON text (e.g. OKX "pong") → None."""
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(frame, str):
        try:
            return json.loads(frame)
        except json.JSONDecodeError:
            return None
    return frame


def _fmt(x: float) -> str:
    return repr(float(x))


# --------------------------------------------------------------------------- Binance


def parse_binance_force_order(frame: Frame, *, um_only: bool = True) -> list[LiquidationRow]:
    """``!forceOrder@arr`` / ``<symbol>@forceOrder`` events (also combined-stream ``{"stream", "data"}`` and
    lists). Quantity is ``z`` (accumulated filled; falls back to ``l`` then ``q``), price ``ap`` (falls back
    to ``p``), value = price * quantity. With ``um_only``, events with ``st`` ≠ 1 (COIN-M) are skipped."""
    msg = _decode(frame)
    if isinstance(msg, dict) and "data" in msg and "stream" in msg:
        msg = msg["data"]
    events = msg if isinstance(msg, list) else [msg]
    f = Fields("binance", BINANCE_ENDPOINT)
    out = []
    for ev in events:
        if not isinstance(ev, dict) or ev.get("e") != "forceOrder":
            continue  # {"result": null, "id": 1} acks and anything else
        o = f.dict_(ev.get("o"), "o")
        if um_only and "st" in o and str(o["st"]) != "1":
            continue
        symbol = str(f.key(o, "s", "o"))
        side_raw = str(f.key(o, "S", "o")).upper()
        if side_raw not in ("BUY", "SELL"):
            raise f.bad(f"o.S is {side_raw!r}")
        side: Side = "long" if side_raw == "SELL" else "short"
        qty = None
        for k in ("z", "l", "q"):
            qty = f.num(o.get(k), f"o.{k}", allow_empty=True)
            if qty:
                break
        price = f.num(o.get("ap"), "o.ap", allow_empty=True) or f.num(o.get("p"), "o.p", allow_empty=True)
        if not qty or not price:
            raise f.bad(f"no quantity/price in {o!r}")
        t = f.ms(o.get("T", ev.get("E")), "o.T")
        out.append(
            LiquidationRow(
                symbol=symbol,
                time_ms=t,
                side=side,
                price=price,
                quantity=qty,
                value=price * qty,
                dedupe_key=f"binance:{symbol}:{t}:{side_raw}:{_fmt(qty)}:{_fmt(price)}",
            )
        )
    return out


# --------------------------------------------------------------------------- Bybit


def parse_bybit_all_liquidation(frame: Frame) -> list[LiquidationRow]:
    """``allLiquidation.{symbol}``: ``data`` is a list of ``{T, s, S, v, p}``; ``S`` is the *position* side
    (``Buy`` = long liquidated). ``p`` is the bankruptcy price."""
    msg = _decode(frame)
    if not isinstance(msg, dict) or not str(msg.get("topic", "")).startswith("allLiquidation."):
        return []  # {"success": true, "op": "subscribe"}, pong, …
    f = Fields("bybit", BYBIT_ENDPOINT)
    data = msg.get("data")
    items = data if isinstance(data, list) else [f.dict_(data, "data")]
    out = []
    for i, item in enumerate(items):
        item = f.dict_(item, f"data[{i}]")
        symbol = str(f.key(item, "s", f"data[{i}]"))
        side_raw = str(f.key(item, "S", f"data[{i}]"))
        if side_raw.lower() not in ("buy", "sell"):
            raise f.bad(f"data[{i}].S is {side_raw!r}")
        side: Side = "long" if side_raw.lower() == "buy" else "short"
        qty = f.req_num(f.key(item, "v", f"data[{i}]"), f"data[{i}].v")
        price = f.req_num(f.key(item, "p", f"data[{i}]"), f"data[{i}].p")
        t = f.ms(item.get("T", msg.get("ts")), f"data[{i}].T")
        out.append(
            LiquidationRow(
                symbol=symbol,
                time_ms=t,
                side=side,
                price=price,
                quantity=qty,
                value=price * qty,
                dedupe_key=f"bybit:{symbol}:{t}:{side_raw}:{_fmt(qty)}:{_fmt(price)}",
            )
        )
    return out


def bybit_subscribe(symbols: Sequence[str], *, per_message: int = 10) -> list[dict[str, Any]]:
    """Subscribe messages for ``allLiquidation.{symbol}`` (Bybit takes up to 10 args per message)."""
    topics = [f"allLiquidation.{s}" for s in symbols]
    return [{"op": "subscribe", "args": topics[i : i + per_message]} for i in range(0, len(topics), per_message)]


# --------------------------------------------------------------------------- OKX


def parse_okx_liquidation_orders(
    frame: Frame,
    contract_sizes: Mapping[str, float],
    *,
    default_contract_size: float | None = None,
) -> list[LiquidationRow]:
    """``liquidation-orders`` pushes: ``data[]`` of ``{instId, …, details:[{side, posSide, bkPx, sz, ts}]}``.
    ``sz`` is in contracts: quantity = sz * ctVal (``contract_sizes[instId]``). Instruments without a known
    contract size (and no ``default_contract_size``) are skipped, which also filters to the tracked ones."""
    msg = _decode(frame)
    if not isinstance(msg, dict) or "event" in msg or "data" not in msg:
        return []  # {"event": "subscribe", …}, {"event": "error", …}, "pong"
    arg = msg.get("arg")
    if isinstance(arg, dict) and arg.get("channel") not in (None, "liquidation-orders"):
        return []
    f = Fields("okx", OKX_ENDPOINT)
    out = []
    for i, item in enumerate(f.list_(msg["data"], "data")):
        item = f.dict_(item, f"data[{i}]")
        inst = str(f.key(item, "instId", f"data[{i}]"))
        ct_val = contract_sizes.get(inst, default_contract_size)
        if ct_val is None:
            continue
        for j, d in enumerate(f.list_(item.get("details", []), f"data[{i}].details")):
            where = f"data[{i}].details[{j}]"
            d = f.dict_(d, where)
            pos_side = str(d.get("posSide") or "").lower()
            order_side = str(d.get("side") or "").lower()
            side: Side
            if pos_side in ("long", "short"):
                side = "long" if pos_side == "long" else "short"
            elif order_side in ("buy", "sell"):
                side = "long" if order_side == "sell" else "short"
            else:
                raise f.bad(f"{where} has neither side nor posSide: {d!r}")
            contracts = f.req_num(f.key(d, "sz", where), f"{where}.sz")
            price = f.req_num(f.key(d, "bkPx", where), f"{where}.bkPx")
            t = f.ms(f.key(d, "ts", where), f"{where}.ts")
            qty = contracts * ct_val
            out.append(
                LiquidationRow(
                    symbol=inst,
                    time_ms=t,
                    side=side,
                    price=price,
                    quantity=qty,
                    value=price * qty,
                    dedupe_key=f"okx:{inst}:{t}:{order_side or pos_side}:{_fmt(contracts)}:{_fmt(price)}",
                )
            )
    return out


def make_okx_parser(contract_sizes: Mapping[str, float], *, default_contract_size: float | None = None) -> Parser:
    def parse(frame: Frame) -> list[LiquidationRow]:
        return parse_okx_liquidation_orders(frame, contract_sizes, default_contract_size=default_contract_size)

    return parse


OKX_SUBSCRIBE = {"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}


# --------------------------------------------------------------------------- per-exchange stream settings


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What ``stream_liquidations`` needs for one exchange, apart from the URL and sink."""

    subscribe_message: Any  # None, a str/dict, or a list of them
    parse: Parser
    ping_message: str | None  # application-level ping text
    ping_interval: float | None


def binance_stream_spec() -> StreamSpec:
    # The stream is chosen by the URL (…/ws/!forceOrder@arr); protocol pings are answered by websockets.
    return StreamSpec(None, parse_binance_force_order, None, None)


def bybit_stream_spec(symbols: Sequence[str]) -> StreamSpec:
    return StreamSpec(bybit_subscribe(symbols), parse_bybit_all_liquidation, json.dumps({"op": "ping"}), 20.0)


def okx_stream_spec(contract_sizes: Mapping[str, float]) -> StreamSpec:
    return StreamSpec(OKX_SUBSCRIBE, make_okx_parser(contract_sizes), "ping", 25.0)


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
    """Bounded set of recently seen dedupe keys (replays after a reconnect are dropped)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> bool:
        """True when the key is new."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
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
            if not recent.add(row.dedupe_key):
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
