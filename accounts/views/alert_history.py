""" "Test on history" on the rule form: the rule as entered (nothing saved) run over its asset's
stored bars (accounts.alerts.history), its firings drawn on a time axis over the price, each
followed up, and the record they add up to. Answers the form's HTMX request with the partial."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.alerts.followup import target_of
from accounts.alerts.history import DEFAULT_DAYS, MAX_DAYS, HistoryResult, rule_history
from accounts.alerts.rule_store import CONDITION_FIELDS, get_alert_rule_for_user, params_for_history
from accounts.alerts.ticks import asset_tick
from accounts.alerts.wording import event_words, fmt_price, fmt_usd, rule_words
from accounts.forms import AlertRuleForm
from accounts.views.alerts import FUNDING, _form, _form_context
from accounts.views.common import AuthedHttpRequest

WIDTH, HEIGHT, PAD = 900, 220, 8
MAX_POINTS = 900
MAX_ROWS = 50  # newest first; the chart shows them all


@login_required
@require_POST
def alert_rule_history(request: AuthedHttpRequest) -> HttpResponse:
    form = _form(request, request.POST)
    ctx: dict[str, Any] = {}
    if not form.is_valid():
        ctx["error"] = "; ".join(f"{k}: {' '.join(str(m) for m in v)}" for k, v in form.errors.items())
        return _answer(request, form, ctx)
    data = form.cleaned_data
    condition = data["condition"]
    params = {name: data[name] for name in CONDITION_FIELDS.get(condition, ()) if data[name] not in (None, "")}
    if condition in FUNDING and isinstance(params.get("rate"), float):
        params["rate"] = round(params["rate"] / 100, 12)
    try:
        days = max(1, min(MAX_DAYS, int(request.POST.get("history_days") or DEFAULT_DAYS)))
    except ValueError:
        days = DEFAULT_DAYS
    try:
        asset, parsed = params_for_history(user=request.user, asset=data["asset"], condition=condition, params=params)
    except ValidationError as exc:
        ctx["error"] = " ".join(exc.messages)
        return _answer(request, form, ctx)
    result = rule_history(
        asset=asset,
        params=parsed,
        days=days,
        horizon_minutes=data["followup_horizon_minutes"],
        trigger=data["trigger"],
        cooldown_minutes=data["cooldown_minutes"] if data["cooldown_minutes"] is not None else 60,
    )
    if result is None:
        ctx["error"] = f"{asset.symbol} has no stored bars yet."
        return _answer(request, form, ctx)
    tick = asset_tick(asset)
    zone = (parsed.low, parsed.high) if condition == "price_enters_zone" else None  # type: ignore[union-attr]
    ctx.update(
        result=result,
        days=days,
        symbol=asset.symbol,
        words=rule_words(condition, params, tick=tick, zone=zone),
        chart=_chart(result),
        rows=_rows(result, condition, tick)[:MAX_ROWS],
        more=max(0, len(result.firings) - MAX_ROWS),
    )
    return _answer(request, form, ctx)


def _answer(request: AuthedHttpRequest, form: AlertRuleForm, ctx: dict[str, Any]) -> HttpResponse:
    """The partial for the form's HTMX request; without JavaScript, the form page with it below."""
    if request.htmx:
        return render(request, "accounts/alerts/_history.html", ctx)
    rule = None
    if request.POST.get("rule_id"):
        rule = get_alert_rule_for_user(user=request.user, rule_id=request.POST["rule_id"])
    action = reverse("accounts:alert-rule-edit", args=[rule.pk]) if rule else reverse("accounts:alert-rule-new")
    page = {**_form_context(request, form, rule), **ctx, "history_shown": True, "form_action": action}
    return render(request, "accounts/alerts/rule_form.html", page)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _chart(result: HistoryResult) -> dict[str, Any]:
    """The price line and the firings as SVG coordinates on one time axis."""
    times, closes = result.times_ms, result.closes
    if times.size == 0:
        return {}
    step = max(1, math.ceil(times.size / MAX_POINTS))
    t0, t1 = int(times[0]), int(times[-1]) or 1
    low, high = float(closes.min()), float(closes.max())
    span_t, span_p = max(1, t1 - t0), max(high - low, 1e-9)

    def x(t: float) -> float:
        return round(PAD + (t - t0) / span_t * (WIDTH - 2 * PAD), 1)

    def y(p: float) -> float:
        return round(HEIGHT - PAD - (p - low) / span_p * (HEIGHT - 2 * PAD), 1)

    line = " ".join(f"{x(t)},{y(p)}" for t, p in zip(times[::step].tolist(), closes[::step].tolist(), strict=True))
    marks = []
    for firing in result.firings:
        index = min(int(np.searchsorted(times, firing.bar_ms)), times.size - 1)
        outcome = firing.outcome
        state = "pending" if outcome is None else ("touched" if outcome.touched else "missed")
        marks.append({"x": x(firing.bar_ms), "y": y(float(closes[index])), "state": state, "when": _day(firing.bar_ms)})
    anchors = ["start", "middle", "middle", "middle", "end"]
    ticks = [
        {"x": x(t), "label": _day(int(t))[:10], "anchor": a}
        for t, a in zip(np.linspace(t0, t1, 5), anchors, strict=True)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "line": line,
        "marks": marks,
        "ticks": ticks,
        "low": low,
        "high": high,
        "high_y": y(high),
        "low_y": y(low),
    }


def _rows(result: HistoryResult, condition: str, tick: float | None) -> list[dict[str, Any]]:
    rows = []
    for firing in reversed(result.firings):  # newest first, as the alerts page lists them
        o = firing.outcome
        target = target_of(condition, firing.values)
        rows.append(
            {
                "when": _day(firing.bar_ms),
                "what": event_words(condition, firing.values, tick=tick),
                "target": fmt_price(target.price, tick) if target else "–",
                "outcome": o,
                "liquidated": fmt_usd(o.liquidated_usd) if o and o.liquidated_usd is not None else None,
            }
        )
    return rows
