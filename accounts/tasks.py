"""Celery tasks of the user side, on the notify queue: thin, take ids, idempotent."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction

import liqplatform.celery  # noqa: F401  (the configured app: current before any task here is sent)
from accounts.alerts.delivery import deliver_email, webhook_attempt
from accounts.alerts.destinations import destination_attempt
from accounts.alerts.evaluation import DELIVER_EVENTS_TASK, evaluate_asset
from accounts.alerts.followup_store import resolve_followups
from accounts.alerts.webhooks import RETRY_CAP_S, next_retry_delay
from accounts.models import AlertDelivery, AlertEvent
from heatmaps.models import Asset

log = logging.getLogger(__name__)

IDEMPOTENT: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}
EVALUATION_DEBOUNCE_SECONDS = 2
WEBHOOK_MAX_RETRIES = 8  # 30 s … about an hour between the last ones


def _pending_key(asset_id: int) -> str:
    return f"liq:alerts-pending:{asset_id}"


def schedule_evaluation(asset_id: int) -> bool:
    """Debounced like heatmaps' recompute: new bars, open interest, funding and maps of one asset that
    land together cause one evaluation. Returns whether this call enqueued it."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: evaluate_asset_alerts.delay(asset_id))
        return True
    if not redis.Redis.from_url(settings.REDIS_URL).set(
        _pending_key(asset_id), 1, nx=True, ex=EVALUATION_DEBOUNCE_SECONDS * 30
    ):
        return False
    transaction.on_commit(
        lambda: evaluate_asset_alerts.apply_async(args=(asset_id, True), countdown=EVALUATION_DEBOUNCE_SECONDS)
    )
    return True


@shared_task(name="accounts.evaluate_asset_alerts", **IDEMPOTENT)
def evaluate_asset_alerts(asset_id: int, debounced: bool = False) -> tuple[int, int]:
    """One evaluation cycle of one asset; a rerun inserts no event twice (see accounts.alerts.evaluation)."""
    if debounced and not settings.CELERY_TASK_ALWAYS_EAGER:
        redis.Redis.from_url(settings.REDIS_URL).delete(_pending_key(asset_id))
    asset = Asset.objects.filter(pk=asset_id).first()
    if asset is None:
        return 0, 0
    checked, fired = evaluate_asset(asset=asset)
    if fired:
        log.info("alerts %s: %s rules checked, %s fired", asset.symbol, checked, fired)
    # The same new bars may end some follow-ups' horizons.
    resolved = resolve_followups(asset=asset)
    if resolved:
        log.info("alerts %s: %s follow-ups resolved", asset.symbol, resolved)
    return checked, fired


@shared_task(name=DELIVER_EVENTS_TASK, **IDEMPOTENT)
def deliver_events(event_ids: list[int]) -> int:
    """Email (one message, or a digest per user) now; one webhook task per delivery."""
    events = list(AlertEvent.objects.filter(pk__in=event_ids).select_related("asset", "user"))
    emails = deliver_email(events=events)
    webhooks = list(
        AlertDelivery.objects.filter(
            event__in=events, channel=AlertDelivery.Channel.WEBHOOK, status=AlertDelivery.Status.PENDING
        ).values_list("pk", flat=True)
    )
    for delivery_id in webhooks:
        deliver_webhook.delay(delivery_id)
    destinations = list(
        AlertDelivery.objects.filter(
            event__in=events, destination__isnull=False, status=AlertDelivery.Status.PENDING
        ).values_list("pk", flat=True)
    )
    for delivery_id in destinations:
        deliver_to_destination.delay(delivery_id)
    return emails + len(webhooks) + len(destinations)


@shared_task(bind=True, name="accounts.deliver_webhook", max_retries=WEBHOOK_MAX_RETRIES, **IDEMPOTENT)
def deliver_webhook(self: Any, delivery_id: int) -> bool:
    """One signed POST; transient failures are retried with exponential backoff and jitter."""
    outcome = webhook_attempt(delivery_id=delivery_id)
    if outcome.retry and self.request.retries < WEBHOOK_MAX_RETRIES:
        raise self.retry(countdown=next_retry_delay(self.request.retries + 1))
    return outcome.ok


@shared_task(bind=True, name="accounts.deliver_to_destination", max_retries=WEBHOOK_MAX_RETRIES, **IDEMPOTENT)
def deliver_to_destination(self: Any, delivery_id: int) -> bool:
    """One message to a Telegram chat or Discord channel; transient failures (network, 429, 5xx)
    are retried with backoff, waiting at least what the service's Retry-After asks."""
    outcome = destination_attempt(delivery_id=delivery_id)
    if outcome.retry and self.request.retries < WEBHOOK_MAX_RETRIES:
        delay = next_retry_delay(self.request.retries + 1)
        if outcome.retry_after_s is not None:
            delay = max(delay, min(outcome.retry_after_s, RETRY_CAP_S))
        raise self.retry(countdown=delay)
    return outcome.ok
