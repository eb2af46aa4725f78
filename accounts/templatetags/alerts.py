"""{% alert_bell %} in the header (signed-in users only), and the "Alert me" links market pages show."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from django import template
from django.db.models import Count
from django.urls import reverse

from accounts.alerts.destinations import destinations_for_user
from accounts.alerts.inbox import unread_count
from accounts.alerts.messages import rule_sentence
from accounts.alerts.ticks import asset_tick
from accounts.alerts.wording import event_words, fmt_minutes, round_to_tick
from heatmaps.models import Asset

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
    tick = asset_tick(asset) if isinstance(asset, Asset) else None
    query.update({k: clean_number(k, v, tick=tick) for k, v in params.items() if v not in (None, "")})
    return f"{reverse('accounts:alert-rule-new')}?{urlencode(query)}"


def clean_number(name: str, value: Any, *, tick: float | None) -> Any:
    """What a trader would type: a price on the asset's tick, a size in two significant figures
    rounded down ($51.3M → 51000000), a percentage in hundredths; never 93052.02012500001."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return value
    if name == "price":
        return plain_number(round_to_tick(float(value), tick) if tick else float(f"{value:.6g}"))
    if name == "min_usd" and value > 0:
        magnitude = 10 ** (math.floor(math.log10(value)) - 1)
        return plain_number(math.floor(value / magnitude) * magnitude)
    if name in ("percent", "rate_pct"):
        return plain_number(round(float(value), 2))
    return value


def plain_number(value: float) -> str:
    """No exponent, no trailing zeros, no float noise: 93052.0 → "93052", 0.05000000000000001 → "0.05"."""
    text = f"{float(f'{value:.12g}'):.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


@register.inclusion_tag("accounts/alerts/_destinations.html", takes_context=True)
def alert_destinations(context: template.Context) -> dict[str, Any]:
    """The profile page's destinations section: what each is, masked, and whether it works."""
    request = context["request"]
    rows = destinations_for_user(user=request.user).annotate(rule_count=Count("rules"))
    return {"destinations": list(rows), "csrf_token": context.get("csrf_token")}


CHANNEL_NAMES = {"in_app": "in-app", "email": "email", "webhook": "webhook"}


@register.filter
def channel_names(channels: list[str]) -> str:
    return ", ".join(CHANNEL_NAMES.get(c, c) for c in channels)


@register.filter
def as_pct(rate: float | None) -> str:
    """A share as a whole percentage: 0.625 → "63 %"."""
    return "–" if rate is None else f"{rate * 100:.0f} %"


@register.filter
def as_minutes(minutes: float | None) -> str:
    return fmt_minutes(minutes)


@register.filter
def event_text(event: Any) -> str:
    """What made an event fire, in plain words, prices on the asset's tick."""
    return event_words(event.condition, event.values, tick=asset_tick(event.asset))


@register.filter
def rule_text(rule: Any) -> str:
    return rule_sentence(rule)
