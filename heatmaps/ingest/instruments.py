"""The exchanges' instrument lists: contract sizes kept in ``InstrumentSpec`` and refreshed daily, and the
check of an asset's symbol on a venue (``VenueSymbol``) against the list the venue publishes.

Only OKX counts swap quantities in contracts (its liquidation stream's ``sz``); Binance USDⓈ-M, Bybit
linear, Hyperliquid and Bitget give base-coin quantities, so they have no sizes to store here.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from heatmaps.exchanges import BaseConnector, ExchangeError
from heatmaps.ingest.fetch import connector_for
from heatmaps.marketdata.upserts import upsert_rows
from heatmaps.models import Exchange, InstrumentSpec, VenueSymbol

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


def listed_symbols(*, exchange: Exchange, connector: BaseConnector | None = None) -> list[str] | None:
    """The instruments the venue lists now, as its instrument endpoint names them; None for a venue whose
    connector reads no instrument list. Raises the connector's errors (the venue could not be asked)."""
    conn = connector or connector_for(exchange)
    try:
        fetch_symbols = getattr(conn, "fetch_symbols", None)
        if fetch_symbols is not None:
            return list(fetch_symbols())
        fetch_specs = getattr(conn, "fetch_instruments", None)
        if fetch_specs is not None:
            return [spec.instrument for spec in fetch_specs()]
        return None
    finally:
        if connector is None:
            conn.close()


def venue_symbol_problem(
    *, exchange: Exchange, symbol: str, connector: BaseConnector | None = None
) -> tuple[str | None, bool]:
    """(why ``symbol`` cannot be used on ``exchange`` or None, whether the venue's list was read).

    A symbol the venue's list does not hold is a problem; so is a venue that cannot be asked (an error says
    which). A venue whose connector reads no list is not checked: (None, False)."""
    try:
        listed = listed_symbols(exchange=exchange, connector=connector)
    except ExchangeError as exc:
        return f"{exchange.code}'s instrument list could not be read ({exc}); try again", False
    if listed is None:
        return None, False
    if symbol in listed:
        return None, True
    near = sorted(s for s in listed if s.upper() == symbol.upper() or s.upper().startswith(symbol.upper()[:3]))[:5]
    hint = f"; similar: {', '.join(near)}" if near else ""
    return f"{exchange.code} lists no perpetual {symbol!r}{hint}", True


def venue_symbols_check(*, asset_id: int, connectors: dict[str, BaseConnector] | None = None) -> list[str]:
    """Check every VenueSymbol of the asset against its venue's list; stamps ``checked_at`` on those listed and
    returns the problems (empty when every checkable one is listed)."""
    problems = []
    for row in VenueSymbol.objects.filter(asset_id=asset_id).select_related("exchange"):
        problem, checked = venue_symbol_problem(
            exchange=row.exchange, symbol=row.symbol, connector=(connectors or {}).get(row.exchange.code)
        )
        if problem is not None:
            problems.append(problem)
        elif checked:
            VenueSymbol.objects.filter(pk=row.pk).update(checked_at=timezone.now())
    return problems
