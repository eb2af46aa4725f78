"""Maps as they were published, kept so that a past moment is answered from what was shown.

The first version of each map stored in an hour (in a day for the 1y map) is copied, immutable, with its
grids in the stored codec: "what did the 24h map show at 14:00 yesterday" reads that copy, and a map
recomputed since (a backfill, a corrected bar) never repaints it. A moment the archive does not hold
is rebuilt from the stored bars instead, and says so (heatmaps/explorer.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from heatmaps.marketdata.rawsql import dt_to_ms, ms_to_dt
from heatmaps.models import Heatmap, PublishedMap

# Fields of a Heatmap row kept with the copy; times as UTC milliseconds.
_FIELDS = (
    "compute_ms", "data_start", "oi_end", "candle_exchange", "oi_exchanges", "oi_simulated", "held_back",
    "params", "width", "bins", "first_bucket", "bar_seconds", "price_lo", "price_hi", "long_scale",
    "short_scale", "candles", "clusters", "liquidation_map", "colour_scale_usd", "current_price", "panels",
)  # fmt: skip
_TIMES = {"data_start", "oi_end", "first_bucket"}


def publication_slot(*, timeframe: str, at: datetime) -> datetime:
    """The hour (the day for the 1y map) a moment falls in: one published copy is kept per slot."""
    if timeframe == "1y":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(minute=0, second=0, microsecond=0)


def publish(heatmap: Heatmap, *, now: datetime) -> PublishedMap | None:
    """Keep this version of the map as the one on show in the slot of ``now``, unless that slot already
    holds one (the first stored there stays). A map that did not change since an earlier hour is kept
    again, so every hour it is recomputed in has its copy."""
    slot = publication_slot(timeframe=heatmap.timeframe, at=now)
    fields: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(heatmap, name)
        fields[name] = dt_to_ms(value) if name in _TIMES and value is not None else value
    kept, created = PublishedMap.objects.get_or_create(
        asset_id=heatmap.asset_id,
        timeframe=heatmap.timeframe,
        model=heatmap.model,
        slot=slot,
        defaults={
            "version": heatmap.version,
            "computed_at": heatmap.computed_at,
            "data_end": heatmap.data_end,
            "fields": fields,
            "long_grid": bytes(heatmap.long_grid),
            "short_grid": bytes(heatmap.short_grid),
        },
    )
    return kept if created else None


def published_at(*, heatmap: Heatmap, at: datetime) -> PublishedMap | None:
    """The copy that was on show at ``at``: the one published in that moment's slot, at or before it."""
    return (
        PublishedMap.objects.filter(
            asset_id=heatmap.asset_id,
            timeframe=heatmap.timeframe,
            model=heatmap.model,
            slot=publication_slot(timeframe=heatmap.timeframe, at=at),
            computed_at__lte=at,
        )
        .order_by("-computed_at")
        .first()
    )


def as_row(published: PublishedMap, template: Heatmap) -> Heatmap:
    """The copy as an (unsaved) Heatmap row, so it is shown through the same code as the stored map."""
    row = Heatmap(
        pk=template.pk,
        asset_id=template.asset_id,
        timeframe=published.timeframe,
        model=published.model,
        version=published.version,
        computed_at=published.computed_at,
        data_end=published.data_end,
        long_grid=bytes(published.long_grid),
        short_grid=bytes(published.short_grid),
    )
    for name, value in published.fields.items():
        setattr(row, name, ms_to_dt(value) if name in _TIMES and value is not None else value)
    return row


def prune_published(*, before: datetime) -> int:
    """Drop the copies published before a moment (the raw data's retention); returns how many."""
    deleted, _ = PublishedMap.objects.filter(slot__lt=before).delete()
    return deleted
