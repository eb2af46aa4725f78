"""An asset's price tick, read off its recent closes (the platform stores no instrument specs)."""

from __future__ import annotations

from django.core.cache import cache

from accounts.alerts.wording import price_tick
from heatmaps.models import Asset, Candle

TICK_CACHE_SECONDS = 3600
SAMPLE_BARS = 200


def asset_tick(asset: Asset) -> float | None:
    key = f"liq:alerts:tick:{asset.pk}"
    cached = cache.get(key)
    if cached is not None:
        return float(cached) if cached > 0 else None
    closes = list(
        Candle.objects.filter(asset=asset, exchange_id=asset.reference_exchange_id)
        .order_by("-open_time")
        .values_list("close", flat=True)[:SAMPLE_BARS]
    )
    tick = price_tick(closes)
    cache.set(key, tick or 0.0, TICK_CACHE_SECONDS)
    return tick
