"""The alert endpoints of the personal JSON API under /api/v1/: rules and their events.

Same conventions as accounts/api.py (session authentication, CSRF on writes, the same services as
the pages, field-keyed 400s, another user's id a 404). A rule's condition parameters are flat
fields named as in docs/alerts.md (``price``, ``percent``, ``annotation`` …).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.alerts.followup_store import followups_for_rule, rule_record
from accounts.alerts.inbox import alert_event_set_read, alert_events_for_user, get_alert_event_for_user
from accounts.alerts.messages import rule_sentence
from accounts.alerts.rule_store import (
    CONDITION_FIELDS,
    PARAM_FIELDS,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
    alert_rules_for_user,
    get_alert_rule_for_user,
    rule_field_values,
)
from accounts.api import _DELETED, _ERRORS, _as_drf, _parse, _user
from accounts.models import AlertRule
from accounts.serializers import (
    AlertEventOutput,
    AlertEventPage,
    AlertEventPatch,
    AlertRuleCreatedOutput,
    AlertRuleInput,
    AlertRuleOutput,
)
from heatmaps.serializers import BAD_REQUEST

# drf-spectacular documents every PATCH body as partial, but marking read needs `read`; and only a
# JSON true/false is accepted (a form's "true" is a string, refused).
_READ_BODY = {
    "type": "object",
    "properties": {"read": {"type": "boolean", "description": "true: read, false: unread"}},
    "required": ["read"],
}


class EventPages(PageNumberPagination):
    page_size = 50


def rule_json(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "asset": rule.asset.symbol,
        "condition": rule.condition,
        **rule_field_values(rule),
        "trigger": rule.trigger,
        "cooldown_minutes": rule.cooldown_minutes,
        "expires_at": rule.expires_at.isoformat().replace("+00:00", "Z") if rule.expires_at else None,
        "enabled": rule.enabled,
        "channels": rule.channels,
        "webhook_url": rule.webhook_url,
        "webhook_failures": rule.webhook_failures,
        "webhook_disabled_reason": rule.webhook_disabled_reason,
        "last_fired_bar": rule.last_fired_bar.isoformat().replace("+00:00", "Z") if rule.last_fired_bar else None,
        "created_at": rule.created_at.isoformat().replace("+00:00", "Z"),
        "destinations": [d.pk for d in rule.destinations.all()],
        "followup_horizon_minutes": rule.followup_horizon_minutes,
        "followup_webhook": rule.followup_webhook,
        "description": rule_sentence(rule),
        **_rate_pct(rule),
    }


def _rate_pct(rule: AlertRule) -> dict[str, Any]:
    """Funding rules: the stored fraction's twin in % per 8 h, as the pages show it."""
    rate = rule.params.get("rate") if rule.condition in ("funding_above", "funding_below") else None
    return {"rate_pct": float(f"{rate * 100:.10g}")} if isinstance(rate, int | float) else {}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@extend_schema(tags=["alerts"], responses={200: OpenApiTypes.OBJECT, **_ERRORS})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def alert_rule_record(request: Request, rule_id: int) -> Response:
    """The rule's record (fired, touched with its 95 % interval, median time to touch, reversals,
    the same-distance baseline) and each followed-up event; docs/alerts.md, "Follow-up"."""
    rule = get_alert_rule_for_user(user=_user(request), rule_id=rule_id)
    events = [
        {
            "event": f.event_id,
            "bar_time": _iso(f.event.bar_time),
            "target_price": f.target_price,
            "start_price": f.start_price,
            "horizon_end": _iso(f.horizon_end),
            "resolved": f.resolved_at is not None,
            "touched": f.touched,
            "minutes_to_touch": f.minutes_to_touch,
            "max_toward_pct": f.max_toward_pct,
            "max_against_pct": f.max_against_pct,
            "liquidated_usd": f.liquidated_usd,
            "reversed": f.reversed,
            "baseline_rate": f.baseline_rate,
        }
        for f in followups_for_rule(rule=rule)[:1000]
    ]
    return Response({"rule": rule.pk, "record": rule_record(rule=rule).to_json(), "events": events})


def _params(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in PARAM_FIELDS if name in data}


@extend_schema(methods=["GET"], tags=["alerts"], responses={200: AlertRuleOutput(many=True), **_ERRORS})
@extend_schema(
    methods=["POST"],
    tags=["alerts"],
    request=AlertRuleInput,
    responses={201: AlertRuleCreatedOutput, **BAD_REQUEST, **_ERRORS},
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def alert_rule_collection(request: Request) -> Response:
    user = _user(request)
    if request.method == "GET":
        return Response([rule_json(r) for r in alert_rules_for_user(user=user)])
    data = _parse(AlertRuleInput, request.data)
    try:
        rule, secret = alert_rule_create(
            user=user,
            asset=data["asset"],
            condition=data["condition"],
            params=_params(data),
            trigger=data.get("trigger", "every"),
            cooldown_minutes=data.get("cooldown_minutes", 60),
            expires_at=data.get("expires_at"),
            enabled=data.get("enabled", True),
            channels=data.get("channels", ["in_app"]),
            webhook_url=data.get("webhook_url") or "",
            destinations=data.get("destinations", []),
            followup_horizon_minutes=data.get("followup_horizon_minutes"),
            followup_webhook=data.get("followup_webhook", False),
        )
    except DjangoValidationError as exc:
        raise _as_drf(exc) from None
    return Response({**rule_json(rule), "webhook_secret": secret}, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], tags=["alerts"], responses={200: AlertRuleOutput, **_ERRORS})
@extend_schema(
    methods=["PATCH"],
    tags=["alerts"],
    request=AlertRuleInput(partial=True),
    responses={200: AlertRuleOutput, **BAD_REQUEST, **_ERRORS},
)
@extend_schema(methods=["DELETE"], tags=["alerts"], responses=_DELETED)
@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([IsAuthenticated])
def alert_rule_item(request: Request, rule_id: int) -> Response:
    user = _user(request)
    rule = get_alert_rule_for_user(user=user, rule_id=rule_id)
    if request.method == "DELETE":
        alert_rule_delete(rule=rule)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        data = _parse(AlertRuleInput, request.data, partial=True)
        condition = data.get("condition", rule.condition)
        # Same condition: the given parameters change the stored ones; a new condition takes only
        # the parameters given.
        params = _params(data) if condition != rule.condition else {**rule_field_values(rule), **_params(data)}
        params = {k: v for k, v in params.items() if k in CONDITION_FIELDS.get(condition, ()) or k in data}
        try:
            rule = alert_rule_update(
                rule=rule,
                asset=data.get("asset", rule.asset.symbol),
                condition=condition,
                params=params,
                trigger=data.get("trigger", rule.trigger),
                cooldown_minutes=data.get("cooldown_minutes", rule.cooldown_minutes),
                expires_at=data.get("expires_at", rule.expires_at),
                enabled=data.get("enabled", rule.enabled),
                channels=data.get("channels", rule.channels),
                webhook_url=(data["webhook_url"] or "") if "webhook_url" in data else rule.webhook_url,
                destinations=data.get("destinations"),
                followup_horizon_minutes=data.get("followup_horizon_minutes", rule.followup_horizon_minutes),
                followup_webhook=data.get("followup_webhook", rule.followup_webhook),
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from None
        rule = get_alert_rule_for_user(user=user, rule_id=rule.pk)
    return Response(rule_json(rule))


@extend_schema(
    tags=["alerts"],
    operation_id="alerts_list",
    parameters=[OpenApiParameter("page", OpenApiTypes.INT, description="1, 2, … (50 a page)")],
    responses={200: AlertEventPage, **_ERRORS},
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def alert_event_collection(request: Request) -> Response:
    """The user's alerts, newest first, 50 a page (?page=2)."""
    pages = EventPages()
    page = pages.paginate_queryset(alert_events_for_user(user=_user(request)), request)
    return pages.get_paginated_response(AlertEventOutput(page, many=True).data)


@extend_schema(methods=["GET"], tags=["alerts"], responses={200: AlertEventOutput, **_ERRORS})
@extend_schema(
    methods=["PATCH"],
    tags=["alerts"],
    request={"application/json": _READ_BODY},
    responses={200: AlertEventOutput, **BAD_REQUEST, **_ERRORS},
)
@api_view(["GET", "PATCH"])
@permission_classes([IsAuthenticated])
def alert_event_item(request: Request, event_id: int) -> Response:
    event = get_alert_event_for_user(user=_user(request), event_id=event_id)
    if request.method == "PATCH":
        data = _parse(AlertEventPatch, request.data)
        event = alert_event_set_read(event=event, read=data["read"])
    return Response(AlertEventOutput(event).data)
