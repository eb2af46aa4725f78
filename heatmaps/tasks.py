"""Celery tasks: thin, take IDs, idempotent, enqueued after commit. The work is in plain functions."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction

from heatmaps.maps import heatmap_compute
from heatmaps.models import Asset

log = logging.getLogger(__name__)

SHORT_TIMEFRAMES = ["12h", "24h"]
RECOMPUTE_DEBOUNCE_SECONDS = 10
IDEMPOTENT: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def enqueue_recompute(*, asset_ids: list[int], timeframes: list[str] | None = None) -> None:
    for asset_id in asset_ids:
        transaction.on_commit(lambda a=asset_id: recompute_asset.delay(a, timeframes))


def schedule_recompute(asset_id: int) -> bool:
    """Debounced: however many ingests finish within the window, one recompute runs after it.

    Returns whether this call enqueued it. In embedded mode (no Redis) it recomputes at once.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        enqueue_recompute(asset_ids=[asset_id])
        return True
    if not _redis().set(f"liq:recompute-pending:{asset_id}", 1, nx=True, ex=RECOMPUTE_DEBOUNCE_SECONDS * 6):
        return False
    transaction.on_commit(
        lambda: recompute_asset.apply_async(args=(asset_id, None, True), countdown=RECOMPUTE_DEBOUNCE_SECONDS)
    )
    return True


def enqueue_backfill(*, asset_ids: list[int], days: int) -> None:
    for asset_id in asset_ids:
        transaction.on_commit(lambda a=asset_id: backfill_asset.delay(a, days))


@shared_task(name="heatmaps.recompute_asset", **IDEMPOTENT)
def recompute_asset(asset_id: int, timeframes: list[str] | None = None, debounced: bool = False) -> int:
    """Recompute (all or some) timeframes of one asset. A failure leaves the previous maps in place."""
    if debounced and not settings.CELERY_TASK_ALWAYS_EAGER:
        _redis().delete(f"liq:recompute-pending:{asset_id}")
    asset = Asset.objects.select_related("reference_exchange").filter(pk=asset_id).first()
    if asset is None:
        log.warning("recompute: asset %s no longer exists", asset_id)
        return 0
    try:
        maps = heatmap_compute(asset=asset, timeframes=timeframes)
    except Exception:
        log.exception("recompute of %s failed; the previous maps stay in place", asset.symbol)
        raise
    log.info("recomputed %s: %s", asset.symbol, ", ".join(m.timeframe for m in maps) or "no data")
    return len(maps)


@shared_task(name="heatmaps.refresh_short_maps")
def refresh_short_maps() -> None:
    """Every minute: the 12h/24h maps need only two days of bars, so they stay current cheaply."""
    for asset_id in Asset.objects.filter(enabled=True).values_list("pk", flat=True):
        recompute_asset.delay(asset_id, SHORT_TIMEFRAMES)


@shared_task(name="heatmaps.backfill_asset", **IDEMPOTENT)
def backfill_asset(asset_id: int, days: int) -> None:
    log.info("backfill requested for asset %s (%s days)", asset_id, days)
