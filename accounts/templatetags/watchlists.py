"""{% star_button asset %}: the ☆/★ widget that puts an asset on the signed-in user's watchlists."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url

from accounts.request_cache import memberships, user_watchlists
from heatmaps.models import Asset

register = template.Library()


def star_context(request: HttpRequest, asset: Asset, next_url: str) -> dict[str, Any]:
    """What the widget shows; the star view re-renders the same template from the same context."""
    if not request.user.is_authenticated:
        return {"asset": asset, "anonymous": True, "login_url": resolve_url(settings.LOGIN_URL), "next": next_url}
    lists = user_watchlists(request)
    holding = memberships(request).get(asset.pk, set())
    return {
        "asset": asset,
        "anonymous": False,
        "next": next_url,
        "starred": bool(holding),
        "choices": [{"id": w.pk, "name": w.name, "on": w.pk in holding} for w in lists],
        "single": lists[0] if len(lists) == 1 else None,
    }


@register.inclusion_tag("accounts/_star_button.html", takes_context=True)
def star_button(context: template.Context, asset: Asset) -> dict[str, Any]:
    request: HttpRequest = context["request"]
    return {**star_context(request, asset, request.get_full_path()), "csrf_token": context.get("csrf_token")}
