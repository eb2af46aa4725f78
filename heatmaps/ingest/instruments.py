"""Contract sizes from the exchanges' instrument lists, kept in ``InstrumentSpec`` and refreshed daily.

Only OKX counts swap quantities in contracts (its liquidation stream's ``sz``); Binance USDⓈ-M and Bybit
linear give base-coin quantities, so they have nothing to store here.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from heatmaps.exchanges import BaseConnector
from heatmaps.ingest.fetch import connector_for
from heatmaps.marketdata.upserts import upsert_rows
from heatmaps.models import Exchange, InstrumentSpec

log = logging.getLogger(__name__)

EXCHANGES_WITH_CONTRACTS = ("okx",)


def instrument_specs_refresh(*, exchange: Exchange, connector: BaseConnector | None = None) -> int:
    """Fetch the exchange's instrument list and upsert every contract size; returns how many were stored.

    Idempotent: each instrument is one row per exchange, overwritten with today's figures. Instruments the
    exchange no longer lists keep their last size (a late frame of a delisted swap still converts).
    Raises the connector's errors (``TransientExchangeError`` is worth a retry).
    """
    if exchange.code not in EXCHANGES_WITH_CONTRACTS:
        return 0
    conn = connector or connector_for(exchange)
    try:
        fetch = getattr(conn, "fetch_instruments", None)
        if fetch is None:
            return 0
        specs = fetch()
    finally:
        if connector is None:
            conn.close()
    now = timezone.now()
    upsert_rows(
        InstrumentSpec,
        key_fields=("exchange", "instrument"),
        value_fields=("contract_size", "settle", "updated_at"),
        records=[(exchange.pk, s.instrument, s.contract_size, s.settle, now) for s in specs],
    )
    log.info("%s: %d contract sizes refreshed", exchange.code, len(specs))
    return len(specs)


def contract_sizes(*, exchange: Exchange) -> dict[str, float]:
    """instrument → base units per contract, as stored."""
    return dict(InstrumentSpec.objects.filter(exchange=exchange).values_list("instrument", "contract_size"))
