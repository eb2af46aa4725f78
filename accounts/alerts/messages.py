"""An event as the message every channel sends: its title, its plain-word lines and a link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse

from accounts.alerts.channels import AlertMessage
from accounts.alerts.market import BAR_MS
from accounts.alerts.ticks import asset_tick
from accounts.alerts.wording import event_words, rule_words
from accounts.models import AlertEvent, AlertRule
from heatmaps.marketdata import dt_to_ms


def event_payload(event: AlertEvent) -> dict[str, Any]:
    """What a webhook receives (docs/alerts.md, "Webhooks"): times in UTC ms, prices and amounts USD."""
    return {
        "event_id": event.pk,
        "rule_id": event.rule_id,
        "asset": event.asset.symbol,
        "condition": event.condition,
        "bar_ms": dt_to_ms(event.bar_time),
        "fired_at_ms": dt_to_ms(event.fired_at),
        "values": event.values,
        "test": event.test,
    }


def followup_payload(event: AlertEvent) -> dict[str, Any]:
    """What a webhook receives when an event's follow-up is resolved (docs/alerts.md, "Follow-up"):
    the event's identity and what price did next; ``"type": "followup"`` tells it from an alert."""
    f = event.followup
    return {
        "type": "followup",
        "event_id": event.pk,
        "rule_id": event.rule_id,
        "asset": event.asset.symbol,
        "condition": event.condition,
        "bar_ms": dt_to_ms(event.bar_time),
        "test": False,
        "followup": {
            "target_price": f.target_price,
            "start_price": f.start_price,
            "horizon_end_ms": dt_to_ms(f.horizon_end),
            "touched": f.touched,
            "minutes_to_touch": f.minutes_to_touch,
            "max_toward_pct": f.max_toward_pct,
            "max_against_pct": f.max_against_pct,
            "liquidated_usd": f.liquidated_usd,
            "reversed": f.reversed,
            "baseline_rate": f.baseline_rate,
        },
    }


def event_message(event: AlertEvent) -> AlertMessage:
    tick = asset_tick(event.asset)
    rule = event.rule
    zone = None
    if rule.annotation_id and rule.annotation and rule.annotation.price_high is not None:
        zone = (rule.annotation.price, rule.annotation.price_high)
    close = event.bar_time + timedelta(milliseconds=BAR_MS)
    prefix = "TEST · " if event.test else ""
    title = f"{prefix}{event.asset.symbol}: {rule_words(event.condition, rule.params, tick=tick, zone=zone)}"
    when = "sent as a test" if event.test else f"bar closed {close:%Y-%m-%d %H:%M} UTC"
    lines = (event_words(event.condition, event.values, tick=tick), when)
    url = settings.SITE_URL.rstrip("/") + reverse("heatmaps:asset", args=[event.asset.symbol])
    return AlertMessage(title=title, lines=lines, url=url, test=event.test, payload=event_payload(event))


def rule_sentence(rule: AlertRule) -> str:
    """The rule's condition in plain words, prices on its asset's tick."""
    zone = None
    if rule.annotation_id and rule.annotation and rule.annotation.price_high is not None:
        zone = (rule.annotation.price, rule.annotation.price_high)
    return rule_words(rule.condition, rule.params, tick=asset_tick(rule.asset), zone=zone)
