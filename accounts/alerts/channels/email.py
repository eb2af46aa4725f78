"""Email through Django's mail settings, to the account's address. Several events of one cycle
go out as one digest: accounts.alerts.delivery groups them and calls ``deliver`` once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email

from accounts.alerts.channels.base import AlertMessage, DestinationInvalid, SendOutcome

kind = "email"
label = "email"


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    address = str(raw.get("to") or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        raise DestinationInvalid({"to": "Add an email address to your account to get alerts by email."}) from None
    return {"to": address}


def hint(config: Mapping[str, Any]) -> str:
    return str(config.get("to", ""))


def deliver(*, config: Mapping[str, Any], message: AlertMessage) -> SendOutcome:
    try:
        send_mail(f"[liqplatform] {message.title}", message.plain_text(), settings.DEFAULT_FROM_EMAIL, [config["to"]])
    except Exception as exc:  # SMTP down or refusing: reported, the caller records it
        return SendOutcome(ok=False, detail=f"could not be sent: {exc}", transient=True)
    return SendOutcome(ok=True, detail=f"sent to {config['to']}")


def send_test(*, config: Mapping[str, Any]) -> SendOutcome:
    return deliver(config=config, message=AlertMessage(title="test message", lines=("Alerts will reach you here.",)))
