"""{% star_button asset %}: the ☆/★ widget that puts an asset on the signed-in user's watchlists."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.safestring import SafeString

from accounts.request_cache import memberships, user_watchlists
from accounts.templatetags.personal import personal_piece
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


@register.simple_tag(takes_context=True)
def star_button(context: template.Context, asset: Asset) -> SafeString:
    request: HttpRequest = context["request"]
    return personal_piece(
        context,
        "accounts/_star_button.html",
        lambda: star_context(request, asset, request.get_full_path()),
        fill="{% load watchlists %}{% star_button asset %}",
        asset=asset,
    )
