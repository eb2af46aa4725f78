"""The liquidation recorder's Django side: which streams to open, and the sink that stores events."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from heatmaps.exchanges.liquidations import StreamSpec, binance_stream_spec, bybit_stream_spec, okx_stream_spec
from heatmaps.marketdata import insert_liquidations
from heatmaps.models import Asset, Exchange
from heatmaps.rows import LiquidationRow

log = logging.getLogger(__name__)

# OKX sizes its swaps in contracts; these are the documented contract values (ctVal) in base units.
OKX_CONTRACT_SIZES = {"BTC-USDT-SWAP": 0.01, "ETH-USDT-SWAP": 0.1, "SOL-USDT-SWAP": 1.0}


def instrument_name(code: str, asset: Asset) -> str:
    return f"{asset.base}-{asset.quote}-SWAP" if code == "okx" else f"{asset.base}{asset.quote}"


@dataclass
class Recorder:
    exchange: Exchange
    url: str
    spec: StreamSpec
    assets: dict[str, Asset]  # exchange instrument name → asset


def recorders() -> list[Recorder]:
    """One stream per enabled exchange that feeds at least one enabled asset."""
    urls = {"binance": settings.LIQ_BINANCE_WS_URL, "bybit": settings.LIQ_BYBIT_WS_URL, "okx": settings.LIQ_OKX_WS_URL}
    out = []
    for exchange in Exchange.objects.filter(enabled=True, code__in=urls):
        assets = {instrument_name(exchange.code, a): a for a in Asset.objects.filter(enabled=True, exchanges=exchange)}
        if not assets:
            continue
        if exchange.code == "binance":
            spec = binance_stream_spec()
        elif exchange.code == "bybit":
            spec = bybit_stream_spec(sorted(assets))
        else:
            spec = okx_stream_spec({k: v for k, v in OKX_CONTRACT_SIZES.items() if k in assets})
        out.append(Recorder(exchange=exchange, url=urls[exchange.code], spec=spec, assets=assets))
    return out


def make_sink(recorder: Recorder) -> Callable[[list[LiquidationRow]], None]:
    """Store a batch: events for untracked instruments are dropped; duplicates are ignored by key."""

    def sink(rows: list[LiquidationRow]) -> None:
        by_asset: dict[str, list[LiquidationRow]] = defaultdict(list)
        for row in rows:
            if row.symbol in recorder.assets:
                by_asset[row.symbol].append(row)
        written = 0
        try:
            for symbol, batch in by_asset.items():
                written += insert_liquidations(asset=recorder.assets[symbol], exchange=recorder.exchange, rows=batch)
        finally:
            # The sink runs in a pool thread: release its connection rather than leave one per thread.
            connections.close_all()
        log.debug("%s: %d liquidation events, %d new", recorder.exchange.code, len(rows), written)

    return sink
