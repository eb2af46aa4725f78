"""In-app: the event row is the notification (the bell, /alerts/); nothing to send or configure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.alerts.channels.base import AlertMessage, SendOutcome

kind = "in_app"
label = "in-app (the bell)"


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def hint(config: Mapping[str, Any]) -> str:
    return "your alerts page"


def deliver(*, config: Mapping[str, Any], message: AlertMessage) -> SendOutcome:
    return SendOutcome(ok=True, detail="shown on your alerts page")


def send_test(*, config: Mapping[str, Any]) -> SendOutcome:
    return SendOutcome(ok=True, detail="shown on your alerts page")
