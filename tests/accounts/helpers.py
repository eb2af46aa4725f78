"""HTMX requests as htmx sends them (the HX-Request header)."""

from __future__ import annotations

from typing import Any

from django.test import Client


def hx_get(client: Client, url: str, **extra: Any) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true", **extra)


def hx_post(client: Client, url: str, data: dict[str, Any] | None = None, **extra: Any) -> Any:
    return client.post(url, data or {}, HTTP_HX_REQUEST="true", **extra)
