"""An asset's price tick, read off its recent closes (the platform stores no instrument specs)."""

from __future__ import annotations

import time

from django.core.cache import cache

from accounts.alerts.wording import price_tick
from heatmaps.models import Asset, Candle

TICK_CACHE_SECONDS = 3600
LOCAL_SECONDS = 60
SAMPLE_BARS = 200


_LOCAL: dict[int, tuple[float, float]] = {}  # asset id → (expires at, tick or 0): a page asks per row


def asset_tick(asset: Asset) -> float | None:
    now = time.monotonic()
    local = _LOCAL.get(asset.pk)
    if local is not None and local[0] > now:
        return local[1] or None
    key = f"liq:alerts:tick:{asset.pk}"
    cached = cache.get(key)
    if cached is not None:
        _LOCAL[asset.pk] = (now + LOCAL_SECONDS, float(cached))
        return float(cached) if cached > 0 else None
    closes = list(
        Candle.objects.filter(asset=asset, exchange_id=asset.reference_exchange_id)
        .order_by("-open_time")
        .values_list("close", flat=True)[:SAMPLE_BARS]
    )
    tick = price_tick(closes)
    cache.set(key, tick or 0.0, TICK_CACHE_SECONDS)
    _LOCAL[asset.pk] = (now + LOCAL_SECONDS, tick or 0.0)
    return tick
