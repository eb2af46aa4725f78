"""{% alert_bell %} in the header (signed-in users only), and the "Alert me" links market pages show."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from accounts.alerts.inbox import unread_count

register = template.Library()


@register.inclusion_tag("accounts/alerts/_bell.html", takes_context=True)
def alert_bell(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    if not request.user.is_authenticated:
        return {"anonymous": True}
    return {"unread": unread_count(user=request.user)}


@register.simple_tag
def alert_me_url(asset: Any, condition: str, **params: Any) -> str:
    """The rule form prefilled, e.g. {% alert_me_url asset "price_crosses" price=c.peak_price %}."""
    query = {"asset": getattr(asset, "symbol", asset), "condition": condition}
    query.update({k: v for k, v in params.items() if v not in (None, "")})
    return f"{reverse('accounts:alert-rule-new')}?{urlencode(query)}"
