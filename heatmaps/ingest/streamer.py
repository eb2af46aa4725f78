"""The market-data streams' Django side: which topics to carry, storing closed bars and open interest
through the same path as the REST ingest, repairing from REST what an outage missed.

The websocket connections (``exchanges/streams/``) run in one event loop; everything that touches
the database runs in one worker thread, in arrival order, so a repair and the bars after it never race.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from heatmaps.exchanges import BinanceConnector, ExchangeError
from heatmaps.exchanges.base import wall_clock_ms
from heatmaps.exchanges.market_connection import MarketConnection, run_market_connection
from heatmaps.exchanges.streams import (
    BarEvent,
    CloseSampler,
    MarketEvent,
    MarkEvent,
    OiEvent,
    parse_okx_market,
    topic_symbol,
)
from heatmaps.ingest.fetch import Kind, _store, connector_for, ingest_since_last, repair_gaps
from heatmaps.ingest.recorder import ContractSizes, instrument_name, unsized_counter
from heatmaps.ingest.stream_venues import CODES, TOPICS, VenueContracts, make_connections
from heatmaps.models import Asset, Exchange
from heatmaps.rows import BASE_BAR_MS, CandleRow, OpenInterestRow

log = logging.getLogger("heatmaps.market_stream")


@dataclass(frozen=True)
class Feed:
    """One enabled asset on one enabled exchange, and the exchange's name for it."""

    asset: Asset
    exchange: Exchange
    instrument: str


def load_feeds(exchanges: tuple[str, ...] = CODES) -> dict[str, dict[str, Feed]]:
    """exchange code → instrument → feed, for every enabled asset × enabled exchange."""
    out: dict[str, dict[str, Feed]] = {}
    for exchange in Exchange.objects.filter(enabled=True, code__in=exchanges):
        for asset in Asset.objects.filter(enabled=True, exchanges=exchange).order_by("symbol"):
            name = instrument_name(exchange.code, asset)
            out.setdefault(exchange.code, {})[name] = Feed(asset, exchange, name)
    return out


def store_closed_bar(feed: Feed, row: CandleRow) -> int:
    """Upsert one closed bar through the REST path (plausibility hold-back included); idempotent."""
    with transaction.atomic():
        return _store("candles", feed.asset, feed.exchange, [row])


def store_open_interest(feed: Feed, row: OpenInterestRow) -> int:
    """Upsert one open-interest row through the REST path, so it is judged and flagged like REST rows."""
    with transaction.atomic():
        return _store("open_interest", feed.asset, feed.exchange, [row])


def _publisher() -> Callable[..., None] | None:
    try:
        from heatmaps.live import publish_event
    except ImportError:  # live events not installed: the data is still stored
        return None
    return publish_event


class MarketStreamer:
    """All market-data streams of the enabled assets, following their changes every ``refresh_s``."""

    def __init__(
        self,
        *,
        exchanges: tuple[str, ...] = CODES,
        refresh_s: float | None = None,
        oi_poll_s: float | None = None,
        on_stored: Callable[[int], Any] | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
        connect: Callable[..., Any] | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        self.exchanges = exchanges
        self.refresh_s = float(refresh_s or settings.LIQ_MARKET_REFRESH_SECONDS)
        self.oi_poll_s = float(oi_poll_s or settings.LIQ_BINANCE_OI_POLL_SECONDS)
        self.on_stored = on_stored
        self.now_ms = now_ms
        self.connect = connect
        self.backoff = (backoff_base, backoff_max)
        self.feeds: dict[str, dict[str, Feed]] = {}
        self.samplers = {code: CloseSampler() for code in CODES}
        self.marks: dict[tuple[str, str], float] = {}
        self.last_prices: dict[tuple[str, str], float] = {}
        self.publish = _publisher()
        self.bars_stored = 0
        self.oi_stored = 0
        self.repairs = 0
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="market-store")
        self._okx_sizes: ContractSizes | None = None
        self._okx_unsized = unsized_counter("okx")
        self.contracts = VenueContracts(now_ms=now_ms)
        self._oi_unreachable = False
        self.connections = make_connections(
            self.exchanges, now_ms=now_ms, parse_okx=self._parse_okx, contracts=self.contracts
        )

    # ----------------------------------------------------------------- setup

    def _parse_okx(self, frame: Any) -> list[MarketEvent]:
        return parse_okx_market(frame, self._okx_sizes or {}, on_unsized=self._okx_unsized)

    @staticmethod
    def code_of(conn: MarketConnection) -> str:
        return conn.name.split("-", 1)[0]

    async def _in_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, partial(fn, *args))

    # ----------------------------------------------------------------- subscriptions

    def _load(self, connected: set[str]) -> dict[str, dict[str, Feed]]:
        feeds = load_feeds(self.exchanges)
        if "okx" in feeds:
            if self._okx_sizes is None:
                self._okx_sizes = ContractSizes(next(iter(feeds["okx"].values())).exchange)
            self._okx_sizes.reload_if_stale()
        for code in connected & set(VenueContracts.CODES):
            # Contracts not read at the connect (REST failed then) are tried again while the venue is up.
            self._read_contracts(code, list(feeds.get(code, {}).values()))
        return feeds

    def _read_contracts(self, code: str, feeds: list[Feed]) -> None:
        if feeds:
            self.contracts.read(code, feeds[0].exchange, [f.instrument for f in feeds])

    async def refresh(self) -> None:
        """Re-read the enabled assets × exchanges and set every connection's topics from them."""
        connected = {self.code_of(c) for c in self.connections.values() if c.stats.connected}
        self.feeds = await self._in_db(self._load, connected)
        for name, conn in self.connections.items():
            conn.set_topics(TOPICS[name](sorted(self.feeds.get(self.code_of(conn), {}))))

    async def _refresher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.refresh_s)
            if stop.is_set():
                return
            try:
                await self.refresh()
            except Exception:
                log.exception("market streams: reading the enabled assets failed; keeping the current ones")

    # ----------------------------------------------------------------- events

    async def on_events(self, conn: MarketConnection, events: list[MarketEvent]) -> None:
        code = self.code_of(conn)
        feeds = self.feeds.get(code, {})
        for ev in events:
            feed = feeds.get(ev.symbol)
            if feed is None:
                continue  # unsubscribed meanwhile, or another market's frame
            if isinstance(ev, BarEvent):
                if ev.closed:  # stored through the REST path, which publishes the `bar` event after commit
                    await self._in_db(self._store_bar, feed, ev.row)
                    continue
                if feed.exchange.pk != feed.asset.reference_exchange_id:
                    continue  # the page's candles and price line are the reference exchange's
                # The forming bar's close is the last trade: a `tick` (live.events' schema) within that bar.
                forming = ev.row
                self.last_prices[(code, ev.symbol)] = forming.close
                at = min(max(self.now_ms(), forming.open_time_ms), forming.open_time_ms + BASE_BAR_MS - 1)
                mark = self.marks.get((code, ev.symbol))
                self._publish(feed, "tick", {"time": at, "price": forming.close, "mark": mark, "exchange": code})
            elif isinstance(ev, MarkEvent):
                self.marks[(code, ev.symbol)] = ev.mark_price
                if feed.exchange.pk != feed.asset.reference_exchange_id:
                    continue
                price = self.last_prices.get((code, ev.symbol), ev.mark_price)
                self._publish(
                    feed, "tick", {"time": ev.time_ms, "price": price, "mark": ev.mark_price, "exchange": code}
                )
            elif isinstance(ev, OiEvent):
                for row in self.samplers[code].add(ev):
                    await self._in_db(self._store_oi, feed, row)

    def _store_bar(self, feed: Feed, row: CandleRow) -> None:
        store_closed_bar(feed, row)
        self.bars_stored += 1
        self._recompute(feed)

    def _store_oi(self, feed: Feed, row: OpenInterestRow) -> None:
        store_open_interest(feed, row)
        self.oi_stored += 1

    def _recompute(self, feed: Feed) -> None:
        if self.on_stored is None:
            return
        try:
            self.on_stored(feed.asset.pk)
        except Exception:
            log.exception("recompute of %s not scheduled", feed.asset.symbol)

    def _publish(self, feed: Feed, kind: str, data: dict[str, Any]) -> None:
        if self.publish is None:
            return
        # publish_event never raises and is quick; off the event loop all the same, so a slow Redis
        # never holds up the frames behind it.
        asyncio.get_running_loop().run_in_executor(
            None, partial(self.publish, symbol=feed.asset.symbol, kind=kind, data=data)
        )

    # ----------------------------------------------------------------- repair after an outage

    async def on_connect(self, conn: MarketConnection, topics: set[str]) -> None:
        """A (re)connect: fetch from REST what the streams did not deliver meanwhile (and, for Gate and
        Deribit, what their frames need to convert). Asked only once the venue's websocket answers, so an
        offline venue is not asked over REST at every refresh."""
        code = self.code_of(conn)
        kinds: tuple[Kind, ...]
        if conn.name == "okx-business":
            kinds = ("candles",)
        elif conn.name == "okx-public":
            kinds = ("open_interest",)
        else:
            kinds = ("candles", "open_interest")
        feeds = self.feeds.get(code, {})
        symbols = sorted({topic_symbol(t) for t in topics} & set(feeds))
        if code in VenueContracts.CODES:  # before the first frame is read: it converts with these
            await self._in_db(self._read_contracts, code, [feeds[s] for s in symbols])
        for symbol in symbols:
            await self._in_db(self._repair, feeds[symbol], kinds)

    async def on_subscribed(self, conn: MarketConnection, added: set[str]) -> None:
        await self.on_connect(conn, added)

    def _repair(self, feed: Feed, kinds: tuple[Kind, ...]) -> None:
        """Since the newest stored row, then any hole in the last days (a bar stored by the stream after a
        hole would otherwise hide it from since-last). Upserts: a row fetched twice is stored once."""
        now = self.now_ms()
        written = 0
        try:
            conn = connector_for(feed.exchange, now_ms=self.now_ms)
            try:
                for kind in kinds:
                    written += ingest_since_last(
                        asset=feed.asset,
                        exchange=feed.exchange,
                        kind=kind,
                        now_ms=now,
                        connector=conn,
                    ).rows_written
                written += repair_gaps(
                    asset=feed.asset, exchange=feed.exchange, days=settings.LIQ_MARKET_REPAIR_DAYS, now_ms=now,
                    connector=conn,
                )  # fmt: skip
            finally:
                conn.close()
        except ExchangeError as exc:
            log.warning("%s@%s: REST repair after reconnect failed: %s", feed.asset.symbol, feed.exchange.code, exc)
            return
        self.repairs += 1
        if written:
            log.info("%s@%s: %d rows repaired from REST", feed.asset.symbol, feed.exchange.code, written)
            self._recompute(feed)

    # ----------------------------------------------------------------- Binance open interest

    async def _binance_oi_poller(self, stop: asyncio.Event) -> None:
        """Binance streams no open interest: poll the current figure (shared rate-limit budget) and let the
        sampler keep the snapshot nearest each bar close."""
        while not stop.is_set():
            for symbol, feed in list(self.feeds.get("binance", {}).items()):
                try:
                    row = await self._in_db(self._poll_oi, feed)
                except ExchangeError as exc:
                    if not self._oi_unreachable:
                        log.warning("binance open interest cannot be polled (%s); retrying quietly", exc)
                    self._oi_unreachable = True
                    continue
                if self._oi_unreachable:
                    log.info("binance open interest: reachable again")
                self._oi_unreachable = False
                mark = self.marks.get(("binance", symbol))
                value = row.oi_base * mark if row.oi_base is not None and mark is not None else None
                for sampled in self.samplers["binance"].add(OiEvent(symbol, row.time_ms, row.oi_base, value)):
                    await self._in_db(self._store_oi, feed, sampled)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.oi_poll_s)

    def _poll_oi(self, feed: Feed) -> OpenInterestRow:
        conn = connector_for(feed.exchange, now_ms=self.now_ms, max_retries=0)
        try:
            assert isinstance(conn, BinanceConnector)
            return conn.fetch_current_open_interest(feed.instrument)
        finally:
            conn.close()

    # ----------------------------------------------------------------- the process

    async def run(self, stop: asyncio.Event) -> None:
        await self.refresh()
        tasks = [asyncio.create_task(self._refresher(stop))]
        if "binance" in self.exchanges:
            tasks.append(asyncio.create_task(self._binance_oi_poller(stop)))
        runs = [
            run_market_connection(
                conn,
                self.on_events,
                stop_event=stop,
                on_connect=self.on_connect,
                on_subscribed=self.on_subscribed,
                logger=log,
                backoff_base=self.backoff[0],
                backoff_max=self.backoff[1],
                connect=self.connect,
            )
            for conn in self.connections.values()
        ]
        try:
            await asyncio.gather(*runs)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._in_db(connections.close_all)
            self._db.shutdown(wait=True)

    def summary(self) -> str:
        per_conn = "; ".join(f"{name}: {c.stats.summary()}" for name, c in self.connections.items())
        return f"bars={self.bars_stored} oi={self.oi_stored} repairs={self.repairs} ({per_conn})"
