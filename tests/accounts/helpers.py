"""Test helpers: links in sent mail, and HTMX requests as htmx sends them (the HX-Request header)."""

from __future__ import annotations

import re
from typing import Any

from django.core import mail
from django.test import Client


def link_in_mail(path_prefix: str, *, to: str) -> str:
    """The one link starting with `path_prefix` in the newest email sent to `to`, as a path."""
    sent = [message for message in mail.outbox if to in message.to]
    assert sent, f"no email to {to}; outbox: {[m.to for m in mail.outbox]}"
    links = re.findall(rf"https?://[^/\s]+({re.escape(path_prefix)}\S+)", str(sent[-1].body))
    assert len(links) == 1, sent[-1].body
    return links[0]


def hx_get(client: Client, url: str, **extra: Any) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true", **extra)


def hx_post(client: Client, url: str, data: dict[str, Any] | None = None, **extra: Any) -> Any:
    return client.post(url, data or {}, HTTP_HX_REQUEST="true", **extra)
