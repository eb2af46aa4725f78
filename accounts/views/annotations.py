"""Annotation pages: a plain form to add one (prefilled from the query), edit and delete, and the
panel listed beside an asset's heat map (which the map's overlay script refreshes after a change).

Every view reaches an annotation through get_annotation_for_user, so another user's id is a 404.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods, require_POST

from accounts.annotations import (
    annotation_create,
    annotation_delete,
    annotation_update,
    get_annotation_for_user,
)
from accounts.forms import AnnotationForm, add_service_errors
from accounts.models import Annotation
from accounts.templatetags.annotations import panel_context
from accounts.views.common import AuthedHttpRequest, safe_next
from heatmaps.models import Asset


def _asset_url(symbol: str) -> str:
    return reverse("heatmaps:asset", args=[symbol])


def _save(form: AnnotationForm, annotation: Annotation | None, request: AuthedHttpRequest) -> Annotation | None:
    """Create or update from a bound form; None (with the errors on the form) when anything is wrong."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    fields: dict[str, Any] = {
        "asset": data["asset"],
        "kind": data["kind"],
        "price": data["price"],
        "price_high": data["price_high"],
        "time": data["time"],
        "label": data["label"],
        "color": data["color"],
    }
    try:
        if annotation is None:
            return annotation_create(user=request.user, **fields)
        return annotation_update(annotation=annotation, **fields)
    except ValidationError as exc:
        add_service_errors(form, exc)
        return None


@login_required
@require_http_methods(["GET", "POST"])
def annotation_new(request: AuthedHttpRequest) -> HttpResponse:
    """GET /annotations/new/?asset=BTCUSDT&kind=level&price=…&time=… shows the form prefilled."""
    if request.method == "POST":
        form = AnnotationForm(request.POST)
        created = _save(form, None, request)
        if created is not None:
            return HttpResponseRedirect(safe_next(request, _asset_url(created.asset.symbol)))
    else:
        form = AnnotationForm(initial=_initial_from_query(request.GET))
    return render(request, "accounts/annotation_form.html", {"form": form, "annotation": None, "next": _next(request)})


@login_required
@require_http_methods(["GET", "POST"])
def annotation_edit(request: AuthedHttpRequest, annotation_id: int) -> HttpResponse:
    annotation = get_annotation_for_user(user=request.user, annotation_id=annotation_id)
    if request.method == "POST":
        form = AnnotationForm(request.POST)
        if _save(form, annotation, request) is not None:
            return HttpResponseRedirect(safe_next(request, _asset_url(annotation.asset.symbol)))
    else:
        form = AnnotationForm(
            initial={
                "asset": annotation.asset.symbol,
                "kind": annotation.kind,
                "price": annotation.price,
                "price_high": annotation.price_high,
                "time": annotation.time,
                "label": annotation.label,
                "color": annotation.color,
            }
        )
    ctx = {"form": form, "annotation": annotation, "next": _next(request)}
    return render(request, "accounts/annotation_form.html", ctx)


@login_required
@require_POST
def annotation_delete_view(request: AuthedHttpRequest, annotation_id: int) -> HttpResponse:
    annotation = get_annotation_for_user(user=request.user, annotation_id=annotation_id)
    asset = annotation.asset
    annotation_delete(annotation=annotation)
    if request.htmx:
        ctx = panel_context(request, asset)
        return render(request, "accounts/_annotation_panel.html", ctx)
    return HttpResponseRedirect(safe_next(request, _asset_url(asset.symbol)))


@login_required
def annotation_panel(request: AuthedHttpRequest) -> HttpResponse:
    """GET ?asset=SYMBOL: the panel alone, for the overlay script to refresh after it saved a change."""
    asset = get_object_or_404(Asset, symbol=request.GET.get("asset", "").upper(), enabled=True)
    return render(request, "accounts/_annotation_panel.html", panel_context(request, asset))


def _next(request: AuthedHttpRequest) -> str:
    """Where to return after saving: a same-site `next`, else the annotation's asset page."""
    return safe_next(request, "")


def _initial_from_query(query: QueryDict) -> dict[str, object]:
    """Prefill from a link such as the map's click: unusable values are left out, not reported."""
    initial: dict[str, object] = {}
    if symbol := query.get("asset", "").strip().upper():
        initial["asset"] = symbol
    if query.get("kind") in Annotation.Kind.values:
        initial["kind"] = query["kind"]
    for name in ("price", "price_high"):
        with contextlib.suppress(ValueError):
            initial[name] = float(query.get(name, ""))
    raw_time = query.get("time", "").strip()
    when: datetime | None = None
    try:
        if raw_time.isdigit():  # milliseconds since the epoch, as the map's API gives times
            when = datetime.fromtimestamp(int(raw_time) / 1000, tz=UTC)
        elif raw_time:
            when = parse_datetime(raw_time.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        when = None
    if when is not None:
        initial["time"] = when if when.tzinfo else when.replace(tzinfo=UTC)
        initial.setdefault("kind", Annotation.Kind.NOTE)
    return initial
