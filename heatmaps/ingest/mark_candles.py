"""Mark-price candles fetched alongside the last-price candles, where a venue serves them (Binance
``markPriceKlines``, Bybit ``mark-price-kline``, OKX ``history-mark-price-candles``).

They are an addition to the candles, not a condition for them: a venue error here is logged and noted on
the candle fetch's result, never raised, so the candles and everything after them are stored as usual
and the next fetch picks the mark bars up from the newest one stored (model v2 sweeps on the last price
where no mark bar is stored, and says so).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from heatmaps.exchanges import BaseConnector, ExchangeError
from heatmaps.marketdata.mark_candles import last_mark_candle_ms, upsert_mark_candles
from heatmaps.models import Asset, Exchange
from heatmaps.rows import BASE_BAR_MS

log = logging.getLogger(__name__)


def serves_mark_candles(connector: BaseConnector) -> bool:
    return callable(getattr(connector, "iter_mark_candles", None))


def mark_candles_fetch(
    *, asset: Asset, exchange: Exchange, connector: BaseConnector, symbol: str, start_ms: int, end_ms: int
) -> list[str]:
    """Fetch and upsert the mark bars of [start_ms, end_ms), a transaction per page (an interrupted run keeps
    what it fetched; a rerun over the range adds nothing). Returns notes: empty, or what failed."""
    if end_ms <= start_ms or not serves_mark_candles(connector):
        return []
    pages: Any = connector.iter_mark_candles(symbol, start_ms, end_ms)  # type: ignore[attr-defined]
    fetched = written = 0
    try:
        for page in pages:
            fetched += len(page.rows)
            with transaction.atomic():
                written += upsert_mark_candles(asset=asset, exchange=exchange, rows=page.rows)
    except ExchangeError as exc:
        log.warning("mark candles %s@%s: %s (%d stored before it)", asset.symbol, exchange.code, exc, written)
        return [f"{exchange.code} mark-price candles not fetched: {exc}"]
    log.info("mark candles %s@%s: %d fetched, %d written", asset.symbol, exchange.code, fetched, written)
    return []


def mark_candles_since_last(
    *, asset: Asset, exchange: Exchange, connector: BaseConnector, symbol: str, first_ms: int, now_ms: int
) -> list[str]:
    """What is new since the newest stored mark bar (from ``first_ms`` when none is)."""
    if not serves_mark_candles(connector):
        return []
    last = last_mark_candle_ms(asset=asset, exchange=exchange)
    start = first_ms if last is None else last + BASE_BAR_MS
    return mark_candles_fetch(
        asset=asset, exchange=exchange, connector=connector, symbol=symbol, start_ms=start, end_ms=now_ms
    )
