"""Live events from the places data lands: each helper builds one event's payload and publishes it once
the surrounding transaction commits (at once outside one), so a page never hears of a row that a
rollback then took back. Callers add one line; payloads are described in heatmaps/live/events.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction

from heatmaps.live.events import publish_event
from heatmaps.marketdata import dt_to_ms

if TYPE_CHECKING:
    from heatmaps.models import Asset, Exchange, Heatmap, Ticker
    from heatmaps.rows import CandleRow, LiquidationRow

log = logging.getLogger(__name__)

BAR_MS = 60_000  # the stored (base) candles are one minute


def _after_commit(symbol: str, kind: str, events: list[dict[str, Any]]) -> None:
    def publish() -> None:
        for data in events:
            publish_event(symbol=symbol, kind=kind, data=data)

    if events:
        transaction.on_commit(publish)


def bars_stored(*, asset: Asset, exchange: Exchange, rows: Sequence[CandleRow]) -> None:
    """The newest stored candle of the asset's reference exchange as a ``bar`` (one per batch: a
    backfill of a thousand candles is one event, the page needs only the newest)."""
    if not rows or exchange.pk != asset.reference_exchange_id:
        return
    row = max(rows, key=lambda r: r.open_time_ms)
    data = {
        "time": row.open_time_ms,
        "open": row.open,
        "high": row.high,
        "low": row.low,
        "close": row.close,
        "volume": row.volume,
        "exchange": exchange.code,
        "closed": row.open_time_ms + BAR_MS <= int(time.time() * 1000),
    }
    _after_commit(asset.symbol, "bar", [data])


def ticker_stored(*, asset: Asset, exchange: Exchange, ticker: Ticker) -> None:
    """The mark price as a ``tick`` (REST tickers carry no last trade price: price is the mark)."""
    mark = float(ticker.mark_price) if ticker.mark_price is not None else None
    if mark is None:
        return
    data = {"time": dt_to_ms(ticker.time), "price": mark, "mark": mark, "exchange": exchange.code}
    _after_commit(asset.symbol, "tick", [data])


def liquidations_stored(*, asset: Asset, exchange: Exchange, rows: Sequence[LiquidationRow]) -> None:
    events = [
        {"time": r.time_ms, "side": r.side, "price": r.price, "usd": r.value, "exchange": exchange.code} for r in rows
    ]
    _after_commit(asset.symbol, "liquidation", events)


def map_tag(heatmap: Heatmap) -> str:
    """The ETag the map API gives this map as the asset page requests it (packed cells, both sides)."""
    # Imported here: the API module imports the map store, which calls this module.
    from heatmaps.serializers import HeatmapQuery
    from heatmaps.v1 import _map_tag

    query = HeatmapQuery(data={"timeframe": heatmap.timeframe, "side": "both", "cells": "packed"})
    query.is_valid(raise_exception=True)
    return _map_tag(heatmap.asset, dict(query.validated_data), row=heatmap)[0]


def map_stored(heatmap: Heatmap) -> None:
    """A new version of a stored map as a ``map`` event, with the ETag its API answer now carries."""

    def publish() -> None:
        try:  # the tag reads the database; publishing must still never fail the compute that stored the map
            etag = map_tag(heatmap)
        except Exception:
            log.warning("map event of %s %s not published", heatmap.asset.symbol, heatmap.timeframe, exc_info=True)
            return
        data = {
            "timeframe": heatmap.timeframe,
            "through": dt_to_ms(heatmap.data_end),
            "etag": etag,
            "version": heatmap.version,
        }
        publish_event(symbol=heatmap.asset.symbol, kind="map", data=data)

    transaction.on_commit(publish)
