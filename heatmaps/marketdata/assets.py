"""Adding an asset from the command line with validated defaults (the admin does the same by hand)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from heatmaps.models import EXCHANGE_NAMES, Asset, Exchange, VenueSymbol

QUOTES = ("USDT", "USDC", "USD")


def split_symbol(symbol: str) -> tuple[str, str]:
    """BTCUSDT → (BTC, USDT); the quote is one of the linear-perpetual quotes we ingest."""
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValidationError(f"{symbol}: cannot tell base and quote apart; it must end in one of {', '.join(QUOTES)}")


@transaction.atomic
def asset_add(
    *,
    symbol: str,
    exchanges: list[str],
    reference: str | None = None,
    name: str | None = None,
    venue_symbols: dict[str, str] | None = None,
) -> Asset:
    """Create an enabled asset on the given exchanges; model parameters take the validated defaults. Each
    venue gets its symbol for the asset: ``venue_symbols[code]`` when given, else the venue's convention."""
    symbol = symbol.strip().upper()
    if Asset.objects.filter(symbol=symbol).exists():
        raise ValidationError(f"{symbol} exists already; change it in the admin")
    codes = list(dict.fromkeys(code.strip().lower() for code in exchanges if code.strip()))
    if not codes:
        raise ValidationError("name at least one exchange")
    unknown = [code for code in codes if code not in EXCHANGE_NAMES]
    if unknown:
        raise ValidationError(f"unsupported exchange {', '.join(unknown)}; choose from {', '.join(EXCHANGE_NAMES)}")
    reference = (reference or codes[0]).strip().lower()
    if reference not in codes:
        raise ValidationError(f"the reference exchange {reference} must be one of the asset's exchanges")
    base, quote = split_symbol(symbol)
    rows = [Exchange.get_supported(code) for code in codes]
    asset = Asset(
        symbol=symbol,
        display_name=name or f"{base} perpetual",
        base=base,
        quote=quote,
        reference_exchange=next(e for e in rows if e.code == reference),
    )
    asset.full_clean()
    asset.save()
    asset.exchanges.set(rows)
    chosen = {code.lower(): sym.strip() for code, sym in (venue_symbols or {}).items()}
    stray = sorted(set(chosen) - set(codes))
    if stray:
        raise ValidationError(f"a symbol is given for {', '.join(stray)}, which is not among the asset's exchanges")
    from heatmaps.exchanges import default_symbol  # here, not at start-up: the connectors load an HTTP client

    VenueSymbol.objects.bulk_create(
        VenueSymbol(asset=asset, exchange=e, symbol=chosen.get(e.code) or default_symbol(e.code, base, quote))
        for e in rows
    )
    return asset
