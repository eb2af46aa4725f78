"""Signed webhooks (docs/alerts.md, "Webhooks"): the rule's URL and secret; the JSON payload is
the event's, signed with HMAC-SHA256 (accounts.alerts.webhooks does the signing and the SSRF checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.alerts.channels.base import AlertMessage, DestinationInvalid, SendOutcome, outbound_flags, outcome_of
from accounts.alerts.webhooks import WebhookRefused, check_webhook_url, send_webhook

kind = "webhook"
label = "webhook"


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    url = str(raw.get("url") or "").strip()
    try:
        check_webhook_url(url, **outbound_flags())
    except WebhookRefused as refused:
        raise DestinationInvalid({"url": f"This URL cannot be used: {refused.reason}."}) from None
    return {"url": url, "secret": str(raw.get("secret") or "")}


def hint(config: Mapping[str, Any]) -> str:
    return str(config.get("url", ""))


def deliver(*, config: Mapping[str, Any], message: AlertMessage) -> SendOutcome:
    flags = outbound_flags()
    result = send_webhook(
        config["url"],
        message.payload,
        config["secret"],
        allow_http=flags["allow_http"],
        allow_local=flags["allow_local"],
    )
    return outcome_of(result)


def send_test(*, config: Mapping[str, Any]) -> SendOutcome:
    return deliver(config=config, message=AlertMessage(title="test", test=True, payload={"test": True}))
