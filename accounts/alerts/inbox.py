"""A user's alert events as the bell, the alerts page and the API read them, and marking them read."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import AlertEvent, User
from accounts.ownership import owned_or_404


def alert_events_for_user(*, user: User) -> QuerySet[AlertEvent]:
    """Newest first."""
    return (
        AlertEvent.objects.filter(user=user)
        .select_related("asset", "rule__asset", "rule__annotation", "followup")
        .order_by("-fired_at", "-id")
    )


def unread_count(*, user: User) -> int:
    return AlertEvent.objects.filter(user=user, read=False).count()


def get_alert_event_for_user(*, user: User, event_id: int | str) -> AlertEvent:
    """The user's own event; another user's id, a missing one or a non-number is a 404."""
    return owned_or_404(AlertEvent.objects.select_related("asset").filter(user=user), event_id, what="alert")


def alert_event_set_read(*, event: AlertEvent, read: bool) -> AlertEvent:
    if event.read != read:
        event.read = read
        event.save(update_fields=["read"])
    return event


def alert_events_mark_all_read(*, user: User) -> int:
    return AlertEvent.objects.filter(user=user, read=False).update(read=True)
