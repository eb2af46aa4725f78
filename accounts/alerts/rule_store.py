"""Alert rules at rest: the services the rule pages, the JSON API and the tests share.

Keyword-only functions scoped to a user. Every write checks the whole rule first and raises
django.core.exceptions.ValidationError keyed by the field at fault ("percent", "annotation",
"webhook_url", …) so nothing is saved when anything is wrong. Parameters are checked by
accounts.alerts.rules (the same code the evaluator runs) plus the platform's limits below.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.alerts.rules import (
    CONDITIONS,
    MAX_COOLDOWN_MINUTES,
    PARAMS,
    Params,
    PriceEntersZone,
    RuleError,
    params_from_json,
    params_to_json,
)
from accounts.alerts.webhooks import WebhookRefused, check_webhook_url, webhook_flags
from accounts.models import AlertDestination, AlertRule, Annotation, User
from accounts.ownership import owned_or_404
from heatmaps.engine import TIMEFRAMES
from heatmaps.models import Asset

MAX_RULES = 200
MAX_HORIZON_MINUTES = 60 * 24 * 60
MAX_PERCENT = 50.0
CHANNELS = ("in_app", "email", "webhook")
# The fields each condition takes, in the order forms show them (the API uses the same names).
CONDITION_FIELDS: dict[str, tuple[str, ...]] = {
    "price_crosses": ("price", "direction"),
    "price_enters_zone": ("annotation",),
    "cluster_within": ("percent", "side", "min_usd", "timeframe"),
    "cluster_forms": ("min_usd", "percent", "timeframe"),
    "cluster_swept": ("min_usd", "timeframe"),
    "funding_above": ("rate",),
    "funding_below": ("rate",),
    "oi_change": ("percent", "window_minutes"),
}
PARAM_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for fs in CONDITION_FIELDS.values() for f in fs))
CONDITION_LABELS = {
    "price_crosses": "price crosses a level",
    "price_enters_zone": "price enters one of your zones",
    "cluster_within": "a cluster is near the price",
    "cluster_forms": "a new cluster forms",
    "cluster_swept": "price sweeps a cluster",
    "funding_above": "funding rises above",
    "funding_below": "funding falls below",
    "oi_change": "open interest changes by",
}
assert set(CONDITION_FIELDS) == set(CONDITIONS)


@dataclass(frozen=True)
class RuleFields:
    """A rule's values, checked and normalised, ready to store."""

    asset: Asset
    condition: str
    params: dict[str, Any]
    annotation: Annotation | None
    trigger: str
    cooldown_minutes: int
    expires_at: datetime | None
    enabled: bool
    channels: list[str] = field(default_factory=list)
    webhook_url: str = ""
    followup_horizon_minutes: int | None = None
    followup_webhook: bool = False

    def stored(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---- reading --------------------------------------------------------------------------------------


def alert_rules_for_user(*, user: User) -> QuerySet[AlertRule]:
    return (
        AlertRule.objects.filter(user=user)
        .select_related("asset", "annotation")
        .prefetch_related("destinations")
        .order_by("-created_at", "-id")
    )


def get_alert_rule_for_user(*, user: User, rule_id: int | str) -> AlertRule:
    """The user's own rule; another user's id, a missing one or a non-number is a 404 (never a 403)."""
    rules = AlertRule.objects.select_related("asset", "annotation").filter(user=user)
    return owned_or_404(rules, rule_id, what="alert rule")


def rule_params(rule: AlertRule) -> Params:
    """The rule's parameters as the evaluator reads them (a zone rule reads its zone's edges now)."""
    if rule.condition == "price_enters_zone":
        assert rule.annotation is not None and rule.annotation.price_high is not None  # a database constraint
        return PriceEntersZone(low=rule.annotation.price, high=rule.annotation.price_high)
    return params_from_json(rule.condition, rule.params)


def rule_field_values(rule: AlertRule) -> dict[str, Any]:
    """The rule's condition fields under their API names (``annotation`` for a zone rule)."""
    if rule.condition == "price_enters_zone":
        return {"annotation": rule.annotation_id}
    return dict(rule.params)


# ---- writing --------------------------------------------------------------------------------------


@transaction.atomic
def alert_rule_create(
    *,
    user: User,
    asset: str,
    condition: str,
    params: Mapping[str, Any],
    trigger: str = "every",
    cooldown_minutes: int = 60,
    expires_at: datetime | None = None,
    enabled: bool = True,
    channels: Sequence[str] = ("in_app",),
    webhook_url: str = "",
    destinations: Sequence[int] = (),
    followup_horizon_minutes: int | None = None,
    followup_webhook: bool = False,
) -> tuple[AlertRule, str]:
    """A new rule and its webhook secret (shown to the user this once)."""
    targets = _users_destinations(user=user, ids=destinations)
    fields = clean_alert_rule(
        user=user,
        asset=asset,
        condition=condition,
        params=params,
        trigger=trigger,
        cooldown_minutes=cooldown_minutes,
        expires_at=expires_at,
        enabled=enabled,
        channels=channels,
        webhook_url=webhook_url,
        followup_horizon_minutes=followup_horizon_minutes,
        followup_webhook=followup_webhook,
        has_destinations=bool(targets),
    )
    # Locking the user row serialises concurrent creates, so the limit cannot be overshot.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if AlertRule.objects.filter(user=user).count() >= MAX_RULES:
        raise ValidationError(
            {"condition": f"You already have {MAX_RULES} alert rules, the most allowed; delete some first."}
        )
    secret = "whsec_" + secrets.token_urlsafe(32)
    rule = AlertRule.objects.create(user=user, webhook_secret=secret, **fields.stored())
    rule.destinations.set(targets)
    return rule, secret


@transaction.atomic
def alert_rule_update(
    *,
    rule: AlertRule,
    asset: str,
    condition: str,
    params: Mapping[str, Any],
    trigger: str,
    cooldown_minutes: int,
    expires_at: datetime | None,
    enabled: bool,
    channels: Sequence[str],
    webhook_url: str,
    destinations: Sequence[int] | None = None,
    followup_horizon_minutes: int | None = None,
    followup_webhook: bool = False,
) -> AlertRule:
    """Replace every field (a partial change merges with the stored values before calling this).

    A changed condition, re-enabling or a new webhook starts afresh: the rule may fire on the next
    bar that meets it, and a switched-off webhook is switched on again.
    """
    targets = (
        list(rule.destinations.all()) if destinations is None else _users_destinations(user=rule.user, ids=destinations)
    )
    fields = clean_alert_rule(
        user=rule.user,
        asset=asset,
        condition=condition,
        params=params,
        trigger=trigger,
        cooldown_minutes=cooldown_minutes,
        expires_at=expires_at,
        enabled=enabled,
        channels=channels,
        webhook_url=webhook_url,
        expires_unchanged=rule.expires_at,
        followup_horizon_minutes=followup_horizon_minutes,
        followup_webhook=followup_webhook,
        has_destinations=bool(targets),
    )
    what_changed = (
        fields.asset.pk != rule.asset_id
        or fields.condition != rule.condition
        or fields.params != rule.params
        or (fields.annotation.pk if fields.annotation else None) != rule.annotation_id
        or (fields.enabled and not rule.enabled)
    )
    if what_changed:
        rule.last_fired_bar = None
    if fields.webhook_url != rule.webhook_url or ("webhook" in fields.channels and "webhook" not in rule.channels):
        rule.webhook_failures = 0
        rule.webhook_disabled_reason = ""
    for name, value in fields.stored().items():
        setattr(rule, name, value)
    rule.save()
    rule.destinations.set(targets)
    return rule


def alert_rule_set_enabled(*, rule: AlertRule, enabled: bool) -> AlertRule:
    if enabled and not rule.enabled:
        if rule.expires_at is not None and rule.expires_at <= timezone.now():
            raise ValidationError({"expires_at": "This rule has expired; set a later expiry to switch it on."})
        rule.last_fired_bar = None  # a `once` rule that fired may fire again
    rule.enabled = enabled
    rule.save(update_fields=["enabled", "last_fired_bar", "updated_at"])
    return rule


def alert_rule_delete(*, rule: AlertRule) -> None:
    rule.delete()


# ---- checking -------------------------------------------------------------------------------------


def clean_alert_rule(
    *,
    user: User,
    asset: str,
    condition: str,
    params: Mapping[str, Any],
    trigger: str,
    cooldown_minutes: Any,
    expires_at: datetime | None,
    enabled: bool,
    channels: Sequence[str],
    webhook_url: str,
    expires_unchanged: datetime | None = None,
    followup_horizon_minutes: Any = None,
    followup_webhook: Any = False,
    has_destinations: bool = False,
) -> RuleFields:
    """Check every field, collect every problem, and keep only what the condition uses."""
    errors: dict[str, str] = {}
    horizon = followup_horizon_minutes
    if horizon is not None and (
        isinstance(horizon, bool) or not isinstance(horizon, int) or not 5 <= horizon <= MAX_HORIZON_MINUTES
    ):
        errors["followup_horizon_minutes"] = (
            f"Give the follow-up horizon in whole minutes between 5 and {MAX_HORIZON_MINUTES} (60 days), or leave it empty."
        )
    symbol = (asset or "").strip().upper() if isinstance(asset, str) else ""
    found = Asset.objects.filter(symbol=symbol, enabled=True).first() if symbol else None
    if found is None:
        errors["asset"] = f"Unknown or disabled asset: {symbol or '(none given)'}."
    annotation: Annotation | None = None
    clean_params: dict[str, Any] = {}
    if condition not in PARAMS:
        errors["condition"] = f"Choose a condition: {', '.join(CONDITIONS)}."
    else:
        try:
            annotation, clean_params = _clean_params(user=user, asset=found, condition=condition, params=params)
        except RuleError as exc:
            errors[exc.field or "condition"] = _sentence(str(exc))
    if trigger not in AlertRule.Trigger.values:
        errors["trigger"] = "Choose once or every."
    if isinstance(cooldown_minutes, bool) or not isinstance(cooldown_minutes, int):
        errors["cooldown_minutes"] = "Give the cooldown as a whole number of minutes."
    elif not 1 <= cooldown_minutes <= MAX_COOLDOWN_MINUTES:
        errors["cooldown_minutes"] = f"The cooldown must be between 1 and {MAX_COOLDOWN_MINUTES} minutes (30 days)."
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            errors["expires_at"] = "Give the expiry with a time zone, e.g. 2026-02-01T00:00Z."
        elif expires_at <= timezone.now() and expires_at != expires_unchanged:
            errors["expires_at"] = "The expiry must be in the future."
    clean_channels = _clean_channels(channels, errors, has_destinations=has_destinations)
    if "email" in clean_channels and not user.email:
        errors["channels"] = "Add an email address to your account to get alerts by email."
    url = (webhook_url or "").strip() if isinstance(webhook_url, str) else ""
    if webhook_url and not isinstance(webhook_url, str):
        errors["webhook_url"] = "Give the webhook URL as text."
    elif "webhook" in clean_channels and not url:
        errors["webhook_url"] = "Give the https:// URL to send webhooks to."
    elif url:
        try:
            check_webhook_url(url, **webhook_flags())
        except WebhookRefused as refused:
            errors["webhook_url"] = f"This URL cannot be used: {refused.reason}."
    if not isinstance(enabled, bool):
        errors["enabled"] = "Give enabled as true or false."
    if not isinstance(followup_webhook, bool):
        errors["followup_webhook"] = "Give followup_webhook as true or false."
    elif followup_webhook and "webhook" not in clean_channels:
        errors["followup_webhook"] = "Follow-ups go to the rule's webhook: choose the webhook channel too."
    if errors:
        raise ValidationError(errors)
    assert found is not None
    return RuleFields(
        asset=found,
        condition=condition,
        params=clean_params,
        annotation=annotation,
        trigger=trigger,
        cooldown_minutes=int(cooldown_minutes),
        expires_at=expires_at,
        enabled=enabled,
        channels=clean_channels,
        webhook_url=url,
        followup_horizon_minutes=horizon,
        followup_webhook=bool(followup_webhook),
    )


def params_for_history(*, user: User, asset: str, condition: str, params: Mapping[str, Any]) -> tuple[Asset, Params]:
    """A rule's asset and parameters checked as a save would check them, for "Test on history"
    (nothing is stored); ValidationError keyed by field otherwise."""
    symbol = (asset or "").strip().upper() if isinstance(asset, str) else ""
    found = Asset.objects.filter(symbol=symbol, enabled=True).first() if symbol else None
    if found is None:
        raise ValidationError({"asset": f"Unknown or disabled asset: {symbol or '(none given)'}."})
    if condition not in PARAMS:
        raise ValidationError({"condition": f"Choose a condition: {', '.join(CONDITIONS)}."})
    try:
        zone, clean = _clean_params(user=user, asset=found, condition=condition, params=params)
    except RuleError as exc:
        raise ValidationError({exc.field or "condition": _sentence(str(exc))}) from None
    if zone is not None:
        assert zone.price_high is not None  # a zone has both edges (a database constraint)
        return found, PriceEntersZone(low=zone.price, high=zone.price_high)
    return found, params_from_json(condition, clean)


def _users_destinations(*, user: User, ids: Any) -> list[AlertDestination]:
    """The user's own destinations with these ids; any other id is refused, naming none of them."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise ValidationError({"destinations": "Give the destinations as a list of ids."})
    try:
        wanted = {int(i) for i in ids if not isinstance(i, bool | float)}
    except (TypeError, ValueError):
        raise ValidationError({"destinations": "Give the destinations as a list of ids."}) from None
    if len(wanted) != len(ids) or any(not 0 < i < 2**63 for i in wanted):  # a bigint column: no larger id exists
        raise ValidationError({"destinations": "Choose among your own destinations (profile page)."})
    found = list(AlertDestination.objects.filter(user=user, pk__in=wanted))
    if len(found) != len(wanted):
        raise ValidationError({"destinations": "Choose among your own destinations (profile page)."})
    return found


def _clean_params(
    *, user: User, asset: Asset | None, condition: str, params: Mapping[str, Any]
) -> tuple[Annotation | None, dict[str, Any]]:
    if not isinstance(params, Mapping):
        raise RuleError("parameters must be a JSON object")
    given = {k: v for k, v in params.items() if v is not None or k not in CONDITION_FIELDS[condition]}
    if condition == "price_enters_zone":
        unknown = sorted(set(given) - {"annotation"})
        if unknown:
            raise RuleError(f"{condition} does not take {', '.join(unknown)}", field=unknown[0])
        zone = _users_zone(user=user, asset=asset, annotation=given.get("annotation"))
        params_from_json(condition, {"low": zone.price, "high": zone.price_high})
        return zone, {}
    parsed = params_from_json(condition, given, timeframes=list(TIMEFRAMES))
    percent = getattr(parsed, "percent", None)
    if percent is not None and abs(percent) > MAX_PERCENT:
        raise RuleError(f"percent must be at most {MAX_PERCENT:g} %", field="percent")
    return None, params_to_json(parsed)


def _users_zone(*, user: User, asset: Asset | None, annotation: Any) -> Annotation:
    if annotation is None or annotation == "":
        raise RuleError("choose one of your zones", field="annotation")
    try:
        pk = int(annotation)
    except (TypeError, ValueError):
        raise RuleError("choose one of your zones", field="annotation") from None
    zone = Annotation.objects.filter(user=user, pk=pk, kind=Annotation.Kind.ZONE).first()
    if zone is None:
        raise RuleError("that is not one of your zones", field="annotation")
    if asset is not None and zone.asset_id != asset.pk:
        raise RuleError(f"that zone is on another asset, not {asset.symbol}", field="annotation")
    return zone


def _clean_channels(channels: Any, errors: dict[str, str], *, has_destinations: bool = False) -> list[str]:
    if isinstance(channels, str) or not isinstance(channels, Sequence):
        errors["channels"] = f"Give the channels as a list of {', '.join(CHANNELS)}."
        return []
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        errors["channels"] = f"Unknown channel {unknown[0]!r}; choose from {', '.join(CHANNELS)}."
        return []
    if not channels and not has_destinations:
        errors["channels"] = "Choose at least one channel or destination."
    return [c for c in CHANNELS if c in channels]


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
