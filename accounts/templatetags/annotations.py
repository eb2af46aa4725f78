"""{% annotation_panel asset %}: the signed-in user's annotations of one asset, listed beside its map.

The panel also carries them as JSON (json_script) for static/accounts/annotations.js, which draws
them over the heat map; nothing is rendered for anonymous users.
"""

from __future__ import annotations

import math
from typing import Any

from django import template
from django.http import HttpRequest
from django.utils.safestring import SafeString

from accounts.annotations import MAX_ANNOTATIONS, annotations_for_user
from accounts.models import Annotation
from accounts.personal_cache import personal_cached
from accounts.templatetags.personal import personal_piece
from heatmaps.models import Asset

register = template.Library()


def annotation_json(annotation: Annotation) -> dict[str, Any]:
    """One annotation as the overlay script reads it: prices in the quote currency, time in UTC ms."""
    return {
        "id": annotation.pk,
        "kind": annotation.kind,
        "price": annotation.price,
        "price_high": annotation.price_high,
        "time": int(annotation.time.timestamp() * 1000) if annotation.time else None,
        "label": annotation.label,
        "color": annotation.color,
    }


def panel_context(request: HttpRequest, asset: Asset) -> dict[str, Any]:
    if not request.user.is_authenticated:
        return {"asset": asset, "anonymous": True}
    user = request.user
    annotations = personal_cached(
        user, f"annotations:{asset.pk}", lambda: list(annotations_for_user(user=user, asset=asset))
    )
    return {
        "asset": asset,
        "anonymous": False,
        "annotations": annotations,
        "annotations_json": [annotation_json(a) for a in annotations],
        "max_annotations": MAX_ANNOTATIONS,
        "next": request.get_full_path()
        if request.resolver_match and request.resolver_match.url_name == "asset"
        else "",
    }


@register.simple_tag(takes_context=True)
def annotation_panel(context: template.Context, asset: Asset) -> SafeString:
    return personal_piece(
        context,
        "accounts/_annotation_panel.html",
        lambda: panel_context(context["request"], asset),
        fill="{% load annotations %}{% annotation_panel asset %}",
        asset=asset,
    )


@register.filter
def quote_price(value: float | None) -> str:
    """About six significant digits with thousands separators: 85,085.7 · 3,012.45 · 0.512345."""
    if value is None or not math.isfinite(value):
        return "–"
    places = 2 if value == 0 else max(0, min(8, 5 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{places}f}"
