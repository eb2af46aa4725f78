"""Celery tasks: thin wrappers that take IDs and call plain functions. Enqueued after commit."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

log = logging.getLogger(__name__)


def enqueue_recompute(*, asset_ids: list[int]) -> None:
    for asset_id in asset_ids:
        transaction.on_commit(lambda a=asset_id: recompute_asset.delay(a))


def enqueue_backfill(*, asset_ids: list[int], days: int) -> None:
    for asset_id in asset_ids:
        transaction.on_commit(lambda a=asset_id: backfill_asset.delay(a, days))


@shared_task(name="heatmaps.recompute_asset")
def recompute_asset(asset_id: int) -> None:
    log.info("recompute requested for asset %s", asset_id)


@shared_task(name="heatmaps.backfill_asset")
def backfill_asset(asset_id: int, days: int) -> None:
    log.info("backfill requested for asset %s (%s days)", asset_id, days)
