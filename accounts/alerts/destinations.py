"""A user's alert destinations (Telegram chats, Discord channels): add, list, delete, send a test,
and deliver one event to one destination with the failure count the pages show.

Every lookup is scoped to the user (another user's destination is a 404). The configuration is
stored sealed (accounts.alerts.sealed) and only ever shown back as its ``hint``. Permanent
failures (a bad token, a deleted channel, another 4xx) are shown on the destination at once;
transient ones are retried by the task with backoff; ``DISABLE_AFTER_FAILURES`` failed attempts in
a row switch the destination off with the reason, as for webhooks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.alerts.channels import DESTINATION_KINDS, DestinationInvalid, SendOutcome, channel_for
from accounts.alerts.messages import event_message
from accounts.alerts.sealed import SealBroken, seal, unseal
from accounts.alerts.webhooks import DISABLE_AFTER_FAILURES
from accounts.models import AlertDelivery, AlertDestination, User
from accounts.ownership import owned_or_404

log = logging.getLogger(__name__)

MAX_DESTINATIONS = 20


def destinations_for_user(*, user: User) -> QuerySet[AlertDestination]:
    return AlertDestination.objects.filter(user=user).order_by("created_at", "id")


def get_destination_for_user(*, user: User, destination_id: int | str) -> AlertDestination:
    """The user's own destination; another user's id, a missing one or a non-number is a 404."""
    return owned_or_404(AlertDestination.objects.filter(user=user), destination_id, what="destination")


@transaction.atomic
def destination_create(*, user: User, kind: str, name: str, fields: Mapping[str, Any]) -> AlertDestination:
    """Check what was entered, seal it and store it; ValidationError keyed by field otherwise."""
    if kind not in DESTINATION_KINDS:
        raise ValidationError({"kind": f"Choose one of {', '.join(DESTINATION_KINDS)}."})
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the destination a name, e.g. “trading chat”."
    elif len(name) > 60:
        errors["name"] = "At most 60 characters."
    channel = channel_for(kind)
    config: dict[str, Any] = {}
    try:
        config = channel.validate(fields)
    except DestinationInvalid as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    User.objects.select_for_update().filter(pk=user.pk).first()  # serialises the count check
    if AlertDestination.objects.filter(user=user).count() >= MAX_DESTINATIONS:
        raise ValidationError({"name": f"You already have {MAX_DESTINATIONS} destinations; delete one first."})
    try:
        with transaction.atomic():
            return AlertDestination.objects.create(
                user=user, kind=kind, name=name, sealed=seal(config), hint=channel.hint(config)
            )
    except IntegrityError:
        raise ValidationError({"name": "You already have a destination with this name."}) from None


def destination_delete(*, destination: AlertDestination) -> None:
    destination.delete()


def destination_send_test(*, destination: AlertDestination) -> SendOutcome:
    """A test message now; a failure is shown on the destination but does not count towards
    switching it off, and a success switches a switched-off destination on again."""
    try:
        config = unseal(destination.sealed)
    except SealBroken as exc:
        return SendOutcome(ok=False, detail=str(exc))
    outcome = channel_for(destination.kind).send_test(config=config)
    now = timezone.now()
    if outcome.ok:
        destination.last_success_at = now
        destination.failures = 0
        destination.disabled_reason = ""
        destination.save(update_fields=["last_success_at", "failures", "disabled_reason"])
    else:
        destination.last_error = f"test: {outcome.detail}"[:2000]
        destination.last_error_at = now
        destination.save(update_fields=["last_error", "last_error_at"])
    return outcome


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    retry: bool
    retry_after_s: float | None = None


def destination_attempt(*, delivery_id: int) -> AttemptResult:
    """One attempt of one pending destination delivery, recorded on the delivery and the destination."""
    delivery = (
        AlertDelivery.objects.select_related("event__asset", "event__rule", "destination")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status == AlertDelivery.Status.SENT:
        return AttemptResult(ok=True, retry=False)
    destination = delivery.destination
    if destination is None or destination.disabled_reason:
        reason = destination.disabled_reason if destination else "the destination was deleted"
        _record(delivery, None, AlertDelivery.Status.FAILED, f"not sent: {reason}")
        return AttemptResult(ok=False, retry=False)
    try:
        config = unseal(destination.sealed)
    except SealBroken as exc:
        outcome = SendOutcome(ok=False, detail=str(exc))
    else:
        outcome = channel_for(destination.kind).deliver(config=config, message=event_message(delivery.event))
    if outcome.ok:
        _record(delivery, outcome.status_code, AlertDelivery.Status.SENT, "")
        AlertDestination.objects.filter(pk=destination.pk).update(failures=0, last_success_at=timezone.now())
        return AttemptResult(ok=True, retry=False)
    _record(delivery, outcome.status_code, AlertDelivery.Status.FAILED, outcome.detail)
    _count_failure(destination.pk, outcome)
    return AttemptResult(ok=False, retry=outcome.transient, retry_after_s=outcome.retry_after_s)


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
def _count_failure(destination_id: int, outcome: SendOutcome) -> None:
    locked = AlertDestination.objects.select_for_update().get(pk=destination_id)
    now = timezone.now()
    locked.failures += 1
    kind = "temporary" if outcome.transient else "permanent"
    locked.last_error = f"{outcome.detail} ({kind})"[:2000]
    locked.last_error_at = now
    if locked.failures >= DISABLE_AFTER_FAILURES and not locked.disabled_reason:
        locked.disabled_reason = (
            f"Switched off on {now:%Y-%m-%d %H:%M} UTC after {locked.failures} failed deliveries in a row; "
            f"the last one: {outcome.detail[:300]}. Send a test to switch it on again."
        )
        log.warning("alert destination %s switched off after %s failures", destination_id, locked.failures)
    locked.save(update_fields=["failures", "last_error", "last_error_at", "disabled_reason"])
