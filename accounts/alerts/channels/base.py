"""The one small interface every alert channel implements.

A channel turns an alert message into whatever its service documents and says how the attempt
went. Channels that need a destination the user enters once (a Telegram chat, a Discord channel)
also check that destination (``validate``) and describe it without its secrets (``hint``).
Nothing here touches the database: accounts.alerts.destinations stores, counts and retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from accounts.alerts.webhooks import DeliveryResult, WebhookFlags, webhook_flags

TRANSIENT_STATUSES = frozenset({408, 425, 429})


class DestinationInvalid(ValueError):
    """The destination as entered cannot work; ``errors`` maps each field to a sentence."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """What an alert says, channel-neutral: a title line, plain-word lines, a link, the raw values."""

    title: str
    lines: tuple[str, ...] = ()
    url: str = ""
    test: bool = False
    payload: Mapping[str, Any] = field(default_factory=dict)

    def plain_text(self) -> str:
        parts = [self.title, *self.lines]
        if self.url:
            parts.append(self.url)
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """One attempt. ``transient``: worth retrying later (network, timeout, 408/425/429, 5xx);
    otherwise a failure is permanent (a bad token, a deleted channel, another 4xx)."""

    ok: bool
    detail: str
    transient: bool = False
    status_code: int | None = None
    retry_after_s: float | None = None


def outcome_of(result: DeliveryResult, *, error_text: str | None = None) -> SendOutcome:
    """The generic reading of an HTTP attempt; ``error_text`` is the service's own explanation."""
    if result.ok:
        return SendOutcome(ok=True, detail=f"answered HTTP {result.status_code}", status_code=result.status_code)
    detail = result.error or "failed"
    if error_text:
        detail = f"{detail}: {error_text}"
    if result.status_code is None:
        transient = not (result.error or "").startswith("refused")
    else:
        transient = result.status_code in TRANSIENT_STATUSES or result.status_code >= 500
    return SendOutcome(
        ok=False,
        detail=detail,
        transient=transient,
        status_code=result.status_code,
        retry_after_s=result.retry_after_s,
    )


def outbound_flags() -> WebhookFlags:
    """The deployment's SSRF policy (shared with webhooks): http and loopback only where allowed."""
    return webhook_flags()


def setting_url(name: str, default: str) -> str:
    return str(getattr(settings, name, default) or default).rstrip("/")


class Channel(Protocol):
    kind: str
    label: str

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The destination's configuration, cleaned, from what the user entered; raises
        ``DestinationInvalid`` naming the fields at fault."""
        ...

    def hint(self, config: Mapping[str, Any]) -> str:
        """The destination in a few words without its secrets (shown on the pages)."""
        ...

    def deliver(self, *, config: Mapping[str, Any], message: AlertMessage) -> SendOutcome:
        """Send one message; never raises for delivery problems."""
        ...

    def send_test(self, *, config: Mapping[str, Any]) -> SendOutcome:
        """A short test message, so the user sees the destination works before a rule fires."""
        ...
