"""The liquidation recorder's Django side: which streams to open, and the sink that stores events."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from prometheus_client import Counter

from heatmaps.exchanges import ExchangeError, default_symbol
from heatmaps.exchanges.deribit import DeribitConnector
from heatmaps.exchanges.liquidations import StreamSpec, binance_stream_spec, bybit_stream_spec, okx_stream_spec
from heatmaps.exchanges.venue_liquidations import deribit_stream_spec
from heatmaps.ingest.fetch import connector_for
from heatmaps.ingest.instruments import contract_sizes, instrument_specs_refresh
from heatmaps.live import publishers as live
from heatmaps.marketdata import insert_liquidations
from heatmaps.models import Asset, Exchange, VenueSymbol
from heatmaps.rows import LiquidationRow

log = logging.getLogger(__name__)

LIQUIDATIONS_UNSIZED = Counter(
    "liq_liquidations_unsized_total",
    "Liquidation events not stored because the instrument's contract size or kind is unknown, by exchange.",
    ["exchange"],
)
SIZES_MAX_AGE_S = 600.0  # the daily refresh reaches a running recorder within this long


def instrument_name(code: str, asset: Asset) -> str:
    """The venue's name for the asset in its streams: its VenueSymbol row (edited in the admin) when there
    is one, as the REST ingest uses, else the venue's convention."""
    mapped = VenueSymbol.objects.filter(asset=asset, exchange__code=code).values_list("symbol", flat=True).first()
    if mapped:
        return str(mapped)
    return default_symbol(code, asset.base, asset.quote)


class ContractSizes(Mapping[str, float]):
    """One exchange's stored contract sizes (``InstrumentSpec``), as the OKX parser reads them.

    The parser runs in the event loop, which must not touch the ORM; the sink, which runs in a thread,
    calls ``reload_if_stale`` so the daily refresh reaches a recorder that has been up for days.
    """

    def __init__(self, exchange: Exchange, *, max_age_s: float = SIZES_MAX_AGE_S) -> None:
        self.exchange = exchange
        self.max_age_s = max_age_s
        self._sizes: dict[str, float] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def reload(self) -> None:
        sizes = contract_sizes(exchange=self.exchange)
        with self._lock:
            self._sizes = sizes  # one reference swap: readers see the old or the new dict, never half
            self._loaded_at = time.monotonic()

    def reload_if_stale(self) -> None:
        if self._loaded_at is None or time.monotonic() - self._loaded_at >= self.max_age_s:
            self.reload()

    def __getitem__(self, instrument: str) -> float:
        return self._sizes[instrument]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sizes)

    def __len__(self) -> int:
        return len(self._sizes)


class DeribitKinds(Mapping[str, bool]):
    """Whether each recorded Deribit perpetual is inverse (its trade ``amount`` in USD) or linear (in the
    coin), read once per instrument from ``public/get_instrument``. One that could not be read is tried
    again from the sink (a thread) at most every ``max_age_s``; until then its liquidations are counted as
    unsized, not stored in a unit that may be wrong."""

    def __init__(self, exchange: Exchange, instruments: list[str], *, max_age_s: float = SIZES_MAX_AGE_S) -> None:
        self.exchange = exchange
        self.instruments = instruments
        self.max_age_s = max_age_s
        self._inverse: dict[str, bool] = {}
        self._loaded_at: float | None = None

    def reload(self) -> None:
        self._loaded_at = time.monotonic()
        missing = [s for s in self.instruments if s not in self._inverse]
        if not missing:
            return
        conn = connector_for(self.exchange, max_retries=0)
        try:
            assert isinstance(conn, DeribitConnector)
            for name in missing:
                try:
                    kind = conn.fetch_instrument(name).inverse
                except ExchangeError as exc:
                    log.warning("deribit: kind of %s not read (%s); its liquidations wait for it", name, exc)
                    continue
                self._inverse = {**self._inverse, name: kind}  # one reference swap, as ContractSizes
        finally:
            conn.close()

    def reload_if_stale(self) -> None:
        if self._loaded_at is None or time.monotonic() - self._loaded_at >= self.max_age_s:
            self.reload()

    def __getitem__(self, instrument: str) -> bool:
        return self._inverse[instrument]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inverse)

    def __len__(self) -> int:
        return len(self._inverse)


@dataclass
class Recorder:
    exchange: Exchange
    url: str
    spec: StreamSpec
    assets: dict[str, Asset]  # exchange instrument name → asset
    sizes: ContractSizes | DeribitKinds | None = None  # what converts the venue's units (OKX, Deribit)


def unsized_counter(code: str) -> Callable[[str], None]:
    """Count every event of an instrument without a known contract size; log each instrument once."""
    logged: set[str] = set()

    def on_unsized(instrument: str) -> None:
        LIQUIDATIONS_UNSIZED.labels(code).inc()
        if instrument not in logged:
            logged.add(instrument)
            log.warning(
                "%s: liquidation of %s not stored: its contract size (OKX) or kind (Deribit) is not known yet "
                "(counted in liq_liquidations_unsized_total; read again by the next refresh)",
                code,
                instrument,
            )

    return on_unsized


def okx_contract_sizes(exchange: Exchange) -> ContractSizes:
    """The stored sizes; when there are none yet (a new install), fetch them once before recording."""
    sizes = ContractSizes(exchange)
    sizes.reload()
    if not sizes:
        try:
            instrument_specs_refresh(exchange=exchange)
        except ExchangeError as exc:
            log.warning(
                "%s: contract sizes could not be fetched (%s); events will be counted as unsized", exchange.code, exc
            )
        sizes.reload()
    return sizes


def recorders() -> list[Recorder]:
    """One stream per enabled exchange that feeds at least one enabled asset."""
    urls = {
        "binance": settings.LIQ_BINANCE_WS_URL,
        "bybit": settings.LIQ_BYBIT_WS_URL,
        "okx": settings.LIQ_OKX_WS_URL,
        "deribit": settings.LIQ_DERIBIT_WS_URL,  # liquidations are its trades flagged ``liquidation``
    }
    out = []
    for exchange in Exchange.objects.filter(enabled=True, code__in=urls):
        assets = {instrument_name(exchange.code, a): a for a in Asset.objects.filter(enabled=True, exchanges=exchange)}
        if not assets:
            continue
        sizes: ContractSizes | DeribitKinds | None = None
        if exchange.code == "binance":
            spec = binance_stream_spec()
        elif exchange.code == "bybit":
            spec = bybit_stream_spec(sorted(assets))
        elif exchange.code == "deribit":
            kinds = DeribitKinds(exchange, sorted(assets))
            kinds.reload()
            spec = deribit_stream_spec(sorted(assets), kinds, on_unsized=unsized_counter(exchange.code))
            sizes = kinds
        else:
            sizes = okx_contract_sizes(exchange)
            spec = okx_stream_spec(sizes, on_unsized=unsized_counter(exchange.code))
        out.append(Recorder(exchange=exchange, url=urls[exchange.code], spec=spec, assets=assets, sizes=sizes))
    return out


def make_sink(recorder: Recorder) -> Callable[[list[LiquidationRow]], None]:
    """Store a batch: events for untracked instruments are dropped; a key seen before is kept once (with
    the largest fill, see ``insert_liquidations``)."""

    def sink(rows: list[LiquidationRow]) -> None:
        by_asset: dict[str, list[LiquidationRow]] = defaultdict(list)
        for row in rows:
            if row.symbol in recorder.assets:
                by_asset[row.symbol].append(row)
        written = 0
        try:
            if recorder.sizes is not None:
                recorder.sizes.reload_if_stale()
            for symbol, batch in by_asset.items():
                written += insert_liquidations(asset=recorder.assets[symbol], exchange=recorder.exchange, rows=batch)
                live.liquidations_stored(asset=recorder.assets[symbol], exchange=recorder.exchange, rows=batch)
        finally:
            # The sink runs in a pool thread: release its connection rather than leave one per thread.
            connections.close_all()
        log.debug("%s: %d liquidation events, %d new or grown", recorder.exchange.code, len(rows), written)

    return sink
