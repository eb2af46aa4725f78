"""Alert pages: the rules (list, create, edit, switch on/off, delete, send a test), the alerts
history with mark read, and the header's bell.

Every view reaches a rule or an event through get_alert_rule_for_user / get_alert_event_for_user,
so another user's id is a 404. Forms work without JavaScript; with HTMX the rule form swaps only
the chosen condition's fields and the alerts page only its list.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.alerts.delivery import send_test
from accounts.alerts.destinations import destinations_for_user
from accounts.alerts.followup import default_horizon_minutes
from accounts.alerts.followup_store import followups_for_rule, rule_record, rule_records
from accounts.alerts.inbox import (
    alert_event_set_read,
    alert_events_for_user,
    alert_events_mark_all_read,
    get_alert_event_for_user,
    unread_count,
)
from accounts.alerts.messages import rule_sentence
from accounts.alerts.rule_store import (
    CONDITION_FIELDS,
    CONDITION_LABELS,
    MAX_RULES,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_set_enabled,
    alert_rule_update,
    alert_rules_for_user,
    get_alert_rule_for_user,
)
from accounts.alerts.ticks import asset_tick
from accounts.alerts.wording import fmt_price, fmt_usd
from accounts.annotations import annotations_for_user
from accounts.forms import AlertRuleForm, add_service_errors
from accounts.models import AlertRule, Annotation
from accounts.templatetags.alerts import clean_number, plain_number
from accounts.views.common import AuthedHttpRequest, safe_next
from heatmaps.models import Asset

EVENTS_PER_PAGE = 50
_SECRET_KEY = "alert_rule_secret"


def _render(request: AuthedHttpRequest, template: str, partial: str, ctx: dict[str, Any]) -> HttpResponse:
    response = render(request, f"{template}#{partial}" if request.htmx else template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response


# ---- rules ----------------------------------------------------------------------------------------


@login_required
@require_GET
def alert_rules(request: AuthedHttpRequest) -> HttpResponse:
    """The user's rules; right after creating one, its webhook secret (shown this once)."""
    secret = request.session.pop(_SECRET_KEY, None)
    rules = list(alert_rules_for_user(user=request.user))
    records = rule_records(rules=rules)
    rows = [{"rule": r, "words": rule_sentence(r), "record": records[r.pk]} for r in rules]
    ctx = {"rules": rules, "rows": rows, "new_secret": secret, "max_rules": MAX_RULES, "labels": CONDITION_LABELS}
    return render(request, "accounts/alerts/rules.html", ctx)


def _zones(request: AuthedHttpRequest) -> list[tuple[int, str]]:
    zones = annotations_for_user(user=request.user).filter(kind=Annotation.Kind.ZONE)
    return [
        (z.pk, f"{z.asset.symbol} {z.price:,.2f} – {z.price_high or 0:,.2f} USD{f' · {z.label}' if z.label else ''}")
        for z in zones
    ]


def _destinations(request: AuthedHttpRequest) -> list[tuple[int, str]]:
    return [
        (d.pk, f"{d.get_kind_label()}: {d.name}{' (switched off)' if d.disabled_reason else ''}")
        for d in destinations_for_user(user=request.user)
    ]


def _form(request: AuthedHttpRequest, *args: Any, **kwargs: Any) -> AlertRuleForm:
    return AlertRuleForm(*args, zones=_zones(request), destinations=_destinations(request), **kwargs)


FUNDING = ("funding_above", "funding_below")
# Beyond these, a funding threshold in % per 8 h is most likely a unit mistake (usual: ±0.01–0.1 %).
FUNDING_PCT_HIGH = 0.5
FUNDING_PCT_LOW = 0.001


def _funding_warning(rate_pct: float) -> str | None:
    size = abs(rate_pct)
    if size >= FUNDING_PCT_HIGH:
        return (
            f"Check the funding threshold: {rate_pct:g} % per 8 h is far beyond usual funding "
            "(about ±0.01 % to ±0.1 %). The field takes percent: 0.05 means 0.05 %."
        )
    if 0 < size < FUNDING_PCT_LOW:
        return (
            f"Check the funding threshold: {rate_pct:g} % per 8 h is tiny — if you meant a fraction, "
            f"{rate_pct * 100:g} is the percent to enter."
        )
    return None


def _form_context(request: AuthedHttpRequest, form: AlertRuleForm, rule: AlertRule | None) -> dict[str, Any]:
    raw = form.data.get("condition") if form.is_bound else form.initial.get("condition")
    condition = raw if raw in CONDITION_FIELDS else "price_crosses"
    return {
        "form": form,
        "rule": rule,
        "condition": condition,
        "condition_fields": [form[name] for name in CONDITION_FIELDS[condition]],
        "next": safe_next(request, ""),
    }


def _save(request: AuthedHttpRequest, form: AlertRuleForm, rule: AlertRule | None) -> AlertRule | None:
    if not form.is_valid():
        return None
    data = form.cleaned_data
    condition = data["condition"]
    params = {name: data[name] for name in CONDITION_FIELDS.get(condition, ()) if data[name] not in (None, "")}
    if condition in FUNDING and isinstance(params.get("rate"), float):
        params["rate"] = round(params["rate"] / 100, 12)  # entered in %, stored as a fraction
    values: dict[str, Any] = {
        "asset": data["asset"],
        "condition": condition,
        "params": params,
        "trigger": data["trigger"],
        "cooldown_minutes": data["cooldown_minutes"] if data["cooldown_minutes"] is not None else 60,
        "expires_at": data["expires_at"],
        "enabled": bool(data["enabled"]),
        "channels": data["channels"],
        "webhook_url": data["webhook_url"],
        "destinations": data["destinations"] or [],
        "followup_horizon_minutes": data["followup_horizon_minutes"],
        "followup_webhook": bool(data["followup_webhook"]),
    }
    try:
        if rule is None:
            created, secret = alert_rule_create(user=request.user, **values)
            if "webhook" in created.channels:
                request.session[_SECRET_KEY] = {"rule": created.pk, "secret": secret}
            saved = created
        else:
            saved = alert_rule_update(rule=rule, **values)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None
    if condition in FUNDING and (warning := _funding_warning(data["rate"])):
        messages.warning(request, warning)
    return saved


@login_required
@require_http_methods(["GET", "POST"])
def alert_rule_new(request: AuthedHttpRequest) -> HttpResponse:
    """GET ?asset=BTCUSDT&condition=price_crosses&price=… shows the form prefilled ("Alert me");
    with HTMX (the condition changed) only the condition's fields."""
    if request.method == "POST" and "show_fields" not in request.POST:
        form = _form(request, request.POST)
        created = _save(request, form, None)
        if created is not None:
            messages.success(request, f"Alert rule created: {created.asset.symbol}, {rule_sentence(created)}.")
            return HttpResponseRedirect(safe_next(request, reverse("accounts:alert-rules")))
    else:
        source = request.POST if request.method == "POST" else request.GET
        form = _form(request, initial=_initial_from_query(source))
    return _render(request, "accounts/alerts/rule_form.html", "condition-fields", _form_context(request, form, None))


@login_required
@require_http_methods(["GET", "POST"])
def alert_rule_edit(request: AuthedHttpRequest, rule_id: int) -> HttpResponse:
    rule = get_alert_rule_for_user(user=request.user, rule_id=rule_id)
    if request.method == "POST" and "show_fields" not in request.POST:
        form = _form(request, request.POST)
        if _save(request, form, rule) is not None:
            messages.success(request, "Alert rule saved.")
            return HttpResponseRedirect(safe_next(request, reverse("accounts:alert-rules")))
    elif request.method == "POST" or request.htmx:
        source = request.POST if request.method == "POST" else request.GET
        form = _form(request, initial=_initial_from_query(source))
    else:
        form = _form(request, initial=_initial_from_rule(rule))
    return _render(request, "accounts/alerts/rule_form.html", "condition-fields", _form_context(request, form, rule))


@login_required
@require_GET
def alert_rule_record(request: AuthedHttpRequest, rule_id: int) -> HttpResponse:
    """The rule's record and what price did after each of its alerts."""
    rule = get_alert_rule_for_user(user=request.user, rule_id=rule_id)
    tick = asset_tick(rule.asset)
    followups = list(followups_for_rule(rule=rule)[:500])
    for f in followups:
        f.target_text = fmt_price(f.target_price, tick)  # type: ignore[attr-defined]
        f.start_text = fmt_price(f.start_price, tick)  # type: ignore[attr-defined]
        f.liquidated_text = fmt_usd(f.liquidated_usd)  # type: ignore[attr-defined]
    ctx = {
        "rule": rule,
        "words": rule_sentence(rule),
        "record": rule_record(rule=rule),
        "followups": followups,
        "horizon_minutes": rule.followup_horizon_minutes or default_horizon_minutes(rule.condition, rule.params),
    }
    return render(request, "accounts/alerts/rule_record.html", ctx)


@login_required
@require_POST
def alert_rule_toggle(request: AuthedHttpRequest, rule_id: int) -> HttpResponse:
    rule = get_alert_rule_for_user(user=request.user, rule_id=rule_id)
    try:
        alert_rule_set_enabled(rule=rule, enabled=not rule.enabled)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return HttpResponseRedirect(reverse("accounts:alert-rules"))


@login_required
@require_POST
def alert_rule_delete_view(request: AuthedHttpRequest, rule_id: int) -> HttpResponse:
    rule = get_alert_rule_for_user(user=request.user, rule_id=rule_id)
    alert_rule_delete(rule=rule)
    messages.success(request, "Alert rule deleted.")
    return HttpResponseRedirect(reverse("accounts:alert-rules"))


@login_required
@require_POST
def alert_rule_test(request: AuthedHttpRequest, rule_id: int) -> HttpResponse:
    """Sends a sample through every channel of the rule now and says how each went."""
    rule = get_alert_rule_for_user(user=request.user, rule_id=rule_id)
    for report in send_test(rule=rule):
        level = messages.SUCCESS if report.ok else messages.ERROR
        messages.add_message(request, level, f"Test {report.channel}: {report.detail}.")
    return HttpResponseRedirect(reverse("accounts:alert-rules"))


def _initial_from_rule(rule: AlertRule) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "asset": rule.asset.symbol,
        "condition": rule.condition,
        "trigger": rule.trigger,
        "cooldown_minutes": rule.cooldown_minutes,
        "expires_at": rule.expires_at,
        "enabled": rule.enabled,
        "channels": rule.channels,
        "webhook_url": rule.webhook_url,
        "destinations": [d.pk for d in rule.destinations.all()],
        "followup_horizon_minutes": rule.followup_horizon_minutes,
        "followup_webhook": rule.followup_webhook,
        # Shown as typed: 90000, not 90000.0.
        **{k: plain_number(v) if isinstance(v, float) else v for k, v in rule.params.items() if v is not None},
    }
    if rule.condition in FUNDING and isinstance(rule.params.get("rate"), int | float):
        initial["rate"] = plain_number(rule.params["rate"] * 100)  # shown in %, without float noise
    if rule.annotation_id:
        initial["annotation"] = rule.annotation_id
    return initial


def _initial_from_query(query: QueryDict) -> dict[str, Any]:
    """Prefill from a link or the form itself: unusable values are left out, not reported."""
    initial: dict[str, Any] = {}
    asset = None
    if symbol := query.get("asset", "").strip().upper():
        initial["asset"] = symbol
        asset = Asset.objects.filter(symbol=symbol).first()
    if query.get("condition") in CONDITION_FIELDS:
        initial["condition"] = query["condition"]
    for name in ("price", "percent", "min_usd", "rate"):
        with contextlib.suppress(ValueError):
            initial[name] = float(query.get(name, ""))
    # A link from elsewhere may carry float noise: prices on the asset's tick, sizes and percentages tidied.
    tick = asset_tick(asset) if asset is not None else None
    for name in ("price", "min_usd", "percent"):
        if isinstance(initial.get(name), float):
            initial[name] = clean_number(name, initial[name], tick=tick)  # text: "5000000", not "5000000.0"
    for name in ("window_minutes", "cooldown_minutes", "annotation", "followup_horizon_minutes"):
        with contextlib.suppress(ValueError):
            initial[name] = int(query.get(name, ""))
    for name in ("direction", "side", "timeframe", "trigger", "webhook_url"):
        if query.get(name):
            initial[name] = query[name]
    if query.getlist("channels"):
        initial["channels"] = query.getlist("channels")
    if query.getlist("destinations"):
        initial["destinations"] = [int(d) for d in query.getlist("destinations") if d.isdigit()]
    if query.get("form"):  # the form's own state (an HTMX swap or "show fields"): keep the checkbox
        initial["enabled"] = query.get("enabled") == "on"
    if query.get("expires_at"):
        initial["expires_at"] = query["expires_at"]
    return initial


# ---- alerts (events) and the bell -----------------------------------------------------------------


def _alerts_context(request: AuthedHttpRequest) -> dict[str, Any]:
    paginator = Paginator(alert_events_for_user(user=request.user), EVENTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return {"page": page, "events": list(page.object_list), "unread": unread_count(user=request.user)}


@login_required
@require_GET
def alerts_page(request: AuthedHttpRequest) -> HttpResponse:
    """The history, newest first, 50 a page."""
    return _render(request, "accounts/alerts/alerts.html", "alert-list", _alerts_context(request))


def _after_read(request: AuthedHttpRequest) -> HttpResponse:
    if request.htmx:
        ctx = {**_alerts_context(request), "bell_oob": True}
        return _render(request, "accounts/alerts/alerts.html", "alert-list", ctx)
    return HttpResponseRedirect(safe_next(request, reverse("accounts:alerts")))


@login_required
@require_POST
def alert_read(request: AuthedHttpRequest, event_id: int) -> HttpResponse:
    event = get_alert_event_for_user(user=request.user, event_id=event_id)
    alert_event_set_read(event=event, read=request.POST.get("read", "1") != "0")
    return _after_read(request)


@login_required
@require_POST
def alerts_read_all(request: AuthedHttpRequest) -> HttpResponse:
    alert_events_mark_all_read(user=request.user)
    return _after_read(request)


@login_required
@require_GET
def alert_bell(request: AuthedHttpRequest) -> HttpResponse:
    """The header's bell alone, for its 30-second poll."""
    response = render(request, "accounts/alerts/_bell.html", {"unread": unread_count(user=request.user)})
    response["Cache-Control"] = "no-store"
    return response
