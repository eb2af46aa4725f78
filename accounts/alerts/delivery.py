"""Delivering alert events: in-app (the event row itself), email, and signed webhooks.

Every attempt is recorded on the event's AlertDelivery row of that channel (status, attempts, time,
last error). A webhook that fails ``DISABLE_AFTER_FAILURES`` attempts in a row is switched off on
its rule with the reason, which the rules page shows. Tasks in accounts.tasks call these.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.alerts.channels import channel_for
from accounts.alerts.market import BAR_MS
from accounts.alerts.messages import event_message, event_payload, followup_payload
from accounts.alerts.rule_store import CONDITION_LABELS
from accounts.alerts.sealed import SealBroken, unseal
from accounts.alerts.ticks import asset_tick
from accounts.alerts.webhooks import DISABLE_AFTER_FAILURES, DeliveryResult, send_webhook, webhook_flags
from accounts.alerts.wording import event_words
from accounts.models import AlertDelivery, AlertDestination, AlertEvent, AlertRule

log = logging.getLogger(__name__)


def describe(event: AlertEvent) -> str:
    """One line for a mail subject or a list: what fired, on which asset and bar (UTC)."""
    close = event.bar_time + timedelta(milliseconds=BAR_MS)
    label = CONDITION_LABELS.get(event.condition, event.condition)
    prefix = "TEST · " if event.test else ""
    return f"{prefix}{event.asset.symbol}: {label} (bar closed {close:%Y-%m-%d %H:%M} UTC)"


def _values_text(event: AlertEvent) -> str:
    """What fired in words, then the raw values for anyone who filters mail by them."""
    words = event_words(event.condition, event.values, tick=asset_tick(event.asset))
    raw = "\n".join(f"  {key}: {value}" for key, value in sorted(event.values.items()))
    return f"  {words}\n{raw}"


# ---- email ----------------------------------------------------------------------------------------


def deliver_email(*, events: Sequence[AlertEvent]) -> int:
    """Email one user's events: one message for one event, one digest for several. Returns the
    number of messages sent. Events already emailed are left out (a redelivered task sends nothing)."""
    pending = list(
        AlertDelivery.objects.filter(
            event__in=events, channel=AlertDelivery.Channel.EMAIL, status=AlertDelivery.Status.PENDING
        ).select_related("event__asset", "event__user")
    )
    by_user: dict[int, list[AlertDelivery]] = defaultdict(list)
    for delivery in pending:
        by_user[delivery.event.user_id].append(delivery)
    sent = 0
    for deliveries in by_user.values():
        user = deliveries[0].event.user
        evts = [d.event for d in deliveries]
        subject, body = _email_text(evts)
        now = timezone.now()
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
        except Exception as exc:  # SMTP down or refusing: recorded, not raised, so webhooks still go out
            log.warning("alert email to user %s failed: %s", user.pk, exc)
            AlertDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
                status=AlertDelivery.Status.FAILED, attempts=F("attempts") + 1, last_attempt_at=now, last_error=str(exc)
            )
            continue
        AlertDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
            status=AlertDelivery.Status.SENT, attempts=F("attempts") + 1, last_attempt_at=now, delivered_at=now
        )
        sent += 1
    return sent


def _email_text(events: Sequence[AlertEvent]) -> tuple[str, str]:
    site = settings.SITE_URL.rstrip("/")
    footer = (
        f"\nAll your alerts: {site}{reverse('accounts:alerts')}\nYour rules: {site}{reverse('accounts:alert-rules')}\n"
    )
    if len(events) == 1:
        event = events[0]
        subject = f"[liqplatform] {describe(event)}"
        body = (
            f"{describe(event)}\n\nValues (prices in USD, rates per 8 h, times UTC):\n{_values_text(event)}\n{footer}"
        )
        return subject, body
    subject = f"[liqplatform] {len(events)} alerts: " + ", ".join(sorted({e.asset.symbol for e in events}))
    parts = [f"{describe(e)}\n{_values_text(e)}" for e in events]
    return subject, f"{len(events)} alerts fired:\n\n" + "\n\n".join(parts) + "\n" + footer


# ---- webhooks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookOutcome:
    ok: bool
    retry: bool  # a transient failure worth another attempt
    error: str | None = None


def is_transient(result: DeliveryResult) -> bool:
    """Network errors, timeouts, 429 and 5xx may pass later; a refused URL, a redirect or another
    4xx will not."""
    if result.ok:
        return False
    if result.status_code is None:
        return not (result.error or "").startswith("refused")
    return result.status_code in (408, 425, 429) or result.status_code >= 500


def webhook_attempt(*, delivery_id: int) -> WebhookOutcome:
    """One attempt of one pending webhook delivery, recorded; the rule's failure count follows it."""
    delivery = AlertDelivery.objects.select_related("event__asset", "event__rule").filter(pk=delivery_id).first()
    if delivery is None or delivery.status == AlertDelivery.Status.SENT:
        return WebhookOutcome(ok=True, retry=False)
    rule = delivery.event.rule
    if not rule.webhook_active:
        reason = rule.webhook_disabled_reason or "the rule no longer sends webhooks"
        _record(delivery, None, AlertDelivery.Status.FAILED, f"not sent: {reason}")
        return WebhookOutcome(ok=False, retry=False, error=reason)
    followup = delivery.channel == AlertDelivery.Channel.FOLLOWUP
    payload = followup_payload(delivery.event) if followup else event_payload(delivery.event)
    result = send_webhook(rule.webhook_url, payload, rule.webhook_secret, **webhook_flags())
    if result.ok:
        _record(delivery, result.status_code, AlertDelivery.Status.SENT, "")
        AlertRule.objects.filter(pk=rule.pk).update(webhook_failures=0)
        return WebhookOutcome(ok=True, retry=False)
    _record(delivery, result.status_code, AlertDelivery.Status.FAILED, result.error or "failed")
    _count_failure(rule, result.error or "failed")
    return WebhookOutcome(ok=False, retry=is_transient(result), error=result.error)


def _record(delivery: AlertDelivery, status_code: int | None, status: str, error: str) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.status = status
    delivery.last_error = error[:2000]
    delivery.response_status = status_code
    delivery.last_attempt_at = now
    if status == AlertDelivery.Status.SENT:
        delivery.delivered_at = now
    delivery.save(
        update_fields=["attempts", "status", "last_error", "response_status", "last_attempt_at", "delivered_at"]
    )


@transaction.atomic
def _count_failure(rule: AlertRule, error: str) -> None:
    locked = AlertRule.objects.select_for_update().get(pk=rule.pk)
    locked.webhook_failures += 1
    fields = ["webhook_failures"]
    if locked.webhook_failures >= DISABLE_AFTER_FAILURES and not locked.webhook_disabled_reason:
        when = timezone.now().strftime("%Y-%m-%d %H:%M")
        locked.webhook_disabled_reason = (
            f"Webhook switched off on {when} UTC after {locked.webhook_failures} failed deliveries in a row; "
            f"the last one: {error[:300]}. Save the rule (or a new URL) to switch it on again."
        )
        fields.append("webhook_disabled_reason")
        log.warning("alert rule %s: webhook switched off after %s failures", rule.pk, locked.webhook_failures)
    locked.save(update_fields=fields)


# ---- send test ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestReport:
    channel: str
    ok: bool
    detail: str


def send_test(*, rule: AlertRule) -> list[TestReport]:
    """A sample event through each of the rule's channels and destinations, now, each through its
    channel module (accounts.alerts.channels), recorded like any other delivery; failures are
    reported back and do not count towards switching anything off."""
    now = timezone.now()
    event = AlertEvent.objects.create(
        rule=rule,
        user=rule.user,
        asset=rule.asset,
        condition=rule.condition,
        fired_at=now,
        bar_time=now,  # not a bar: a sample, stamped with the time it was sent
        values={"note": "a test notification; nothing fired", **_sample_values(rule)},
        test=True,
    )
    message = event_message(event)
    targets: list[tuple[str, dict[str, Any], AlertDestination | None]] = []
    for channel in rule.channels:
        if channel == AlertDelivery.Channel.EMAIL:
            targets.append((channel, {"to": rule.user.email}, None))
        elif channel == AlertDelivery.Channel.WEBHOOK:
            targets.append((channel, {"url": rule.webhook_url, "secret": rule.webhook_secret}, None))
        else:
            targets.append((channel, {}, None))
    reports: list[TestReport] = []
    for chosen in rule.destinations.all():
        try:
            targets.append((chosen.kind, unseal(chosen.sealed), chosen))
        except SealBroken as exc:
            reports.append(TestReport(f"{chosen.get_kind_label()} “{chosen.name}”", False, str(exc)))
    for kind, config, destination in targets:
        delivery = AlertDelivery.objects.create(event=event, channel=kind, destination=destination)
        outcome = channel_for(kind).deliver(config=config, message=message)
        status = AlertDelivery.Status.SENT if outcome.ok else AlertDelivery.Status.FAILED
        _record(delivery, outcome.status_code, status, "" if outcome.ok else outcome.detail)
        name = (
            (kind if kind != "in_app" else "in-app")
            if destination is None
            else (f"{destination.get_kind_label()} “{destination.name}”")
        )
        reports.append(TestReport(name, outcome.ok, outcome.detail if outcome.ok else f"failed: {outcome.detail}"))
    return reports


def _sample_values(rule: AlertRule) -> dict[str, Any]:
    if rule.condition == "price_enters_zone" and rule.annotation is not None:
        return {"low": rule.annotation.price, "high": rule.annotation.price_high}
    return {k: v for k, v in rule.params.items() if v is not None}
