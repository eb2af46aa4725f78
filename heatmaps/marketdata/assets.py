"""Adding an asset from the command line with validated defaults (the admin does the same by hand)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from heatmaps.models import EXCHANGE_NAMES, Asset, Exchange

QUOTES = ("USDT", "USDC", "USD")


def split_symbol(symbol: str) -> tuple[str, str]:
    """BTCUSDT → (BTC, USDT); the quote is one of the linear-perpetual quotes we ingest."""
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValidationError(f"{symbol}: cannot tell base and quote apart; it must end in one of {', '.join(QUOTES)}")


@transaction.atomic
def asset_add(*, symbol: str, exchanges: list[str], reference: str | None = None, name: str | None = None) -> Asset:
    """Create an enabled asset on the given exchanges; model parameters take the validated defaults."""
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
    return asset
