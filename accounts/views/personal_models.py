"""Model settings: the trader's own heat-map models (list and a new one, edit, delete).

The form has a row per leverage tier (leverage ×, weight %, half-life in hours or "never"), the
maintenance margin in % and an optional leverage ceiling; it speaks percent, the services fractions.
Every view reaches a model through get_personal_model_for_user, so another user's id is a 404.
Writes are POST forms that work without JavaScript (redirect); with HTMX they swap only the form.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import PersonalModel
from accounts.personal_models import (
    MAX_TIERS,
    NAME_MAX_LENGTH,
    ModelFields,
    TierInput,
    default_fields,
    draw_asset,
    draw_url,
    get_personal_model_for_user,
    max_models,
    personal_model_create,
    personal_model_delete,
    personal_model_update,
    personal_models_for_user,
    share_url,
    stored_fields,
)
from accounts.views.common import AuthedHttpRequest

TEMPLATE = "accounts/personal_models.html"
EDIT_TEMPLATE = "accounts/personal_model.html"
# Blank rows offered below the model's tiers, for adding one without JavaScript.
SPARE_ROWS = 2
NEVER_WORDS = {"", "never", "inf", "infinity", "∞"}
_SERVICE_KEY = re.compile(r"^tiers\[(\d+)\]\.(leverage|weight|half_life_hours)$")
_COLUMN = {"leverage": "leverage", "weight": "weight", "half_life_hours": "half_life"}


@dataclass
class TierRow:
    """One row of the form as the trader sees it: the typed text and its errors."""

    index: int
    leverage: str = ""
    weight: str = ""
    half_life: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ModelForm:
    name: str = ""
    rows: list[TierRow] = field(default_factory=list)
    mmr: str = ""
    max_leverage: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


def _fmt(value: float) -> str:
    return f"{value:.10g}"


def _summary(personal_model: PersonalModel) -> str:
    """The model in one line for the list: "10× 40 % (24 h) · 25× 60 % (never) · margin 0.5 %"."""
    fields = stored_fields(personal_model)
    tiers = " · ".join(
        f"{t.leverage:g}× {t.weight * 100:.4g} % ({'never' if math.isinf(t.half_life_hours) else f'{t.half_life_hours:g} h'})"
        for t in fields.tiers
    )
    ceiling = f" · at most {fields.max_leverage:g}×" if fields.max_leverage is not None else ""
    return f"{tiers} · margin {fields.mmr * 100:.4g} %{ceiling}"


def _form_from(fields: ModelFields, *, name: str = "") -> ModelForm:
    rows = [
        TierRow(
            index=i,
            leverage=_fmt(t.leverage),
            weight=_fmt(t.weight * 100),
            half_life="never" if math.isinf(t.half_life_hours) else _fmt(t.half_life_hours),
        )
        for i, t in enumerate(fields.tiers)
    ]
    return ModelForm(
        name=name,
        rows=_with_spare_rows(rows),
        mmr=_fmt(fields.mmr * 100),
        max_leverage="" if fields.max_leverage is None else _fmt(fields.max_leverage),
    )


def _with_spare_rows(rows: list[TierRow]) -> list[TierRow]:
    shown = min(MAX_TIERS, max(len(rows), rows[-1].index + 1 if rows else 0) + SPARE_ROWS)
    have = {row.index for row in rows}
    return sorted([*rows, *(TierRow(index=i) for i in range(shown) if i not in have)], key=lambda r: r.index)


def _number(text: str) -> float:
    value = float(text.strip().replace(",", ".").replace("%", "").replace("×", "").rstrip("xX"))
    if math.isnan(value) or math.isinf(value):
        raise ValueError(text)
    return value


@dataclass
class _Parsed:
    form: ModelForm
    tiers: list[TierInput]
    row_of_tier: list[int]
    mmr: float
    max_leverage: float | None


def _parse(post: QueryDict) -> _Parsed:
    """The posted form as the service's values; input that is not a number is an error on its field."""
    form = ModelForm(name=post.get("name", ""), mmr=post.get("mmr", ""), max_leverage=post.get("max_leverage", ""))
    tiers: list[TierInput] = []
    row_of_tier: list[int] = []
    rows: list[TierRow] = []
    for i in range(MAX_TIERS):
        row = TierRow(
            index=i,
            leverage=post.get(f"tier-{i}-leverage", ""),
            weight=post.get(f"tier-{i}-weight", ""),
            half_life=post.get(f"tier-{i}-half_life", ""),
        )
        if not row.leverage.strip() and not row.weight.strip():
            continue  # an empty row: no tier
        rows.append(row)
        values: dict[str, float] = {}
        for column in ("leverage", "weight"):
            try:
                values[column] = _number(getattr(row, column))
            except ValueError:
                row.errors[column] = ["Enter a number."]
        if row.half_life.strip().lower() in NEVER_WORDS:
            values["half_life"] = math.inf
        else:
            try:
                values["half_life"] = _number(row.half_life)
            except ValueError:
                row.errors["half_life"] = ["Enter hours, or “never”."]
        if not row.errors:
            tiers.append(TierInput(values["leverage"], values["weight"] / 100, values["half_life"]))
            row_of_tier.append(i)
    form.rows = _with_spare_rows(rows)
    mmr = math.nan
    try:
        mmr = _number(form.mmr) / 100
    except ValueError:
        form.errors["mmr"] = ["Enter the maintenance margin in %, e.g. 0.4."]
    max_leverage: float | None = None
    if form.max_leverage.strip():
        try:
            max_leverage = _number(form.max_leverage)
        except ValueError:
            form.errors["max_leverage"] = ["Enter a number, or leave it empty for no ceiling."]
    return _Parsed(form=form, tiers=tiers, row_of_tier=row_of_tier, mmr=mmr, max_leverage=max_leverage)


def _place_errors(parsed: _Parsed, exc: ValidationError) -> None:
    """The service's field-keyed errors onto the form: a tier's onto its row's field."""
    rows = {row.index: row for row in parsed.form.rows}
    for key, errors in exc.message_dict.items():
        if (match := _SERVICE_KEY.match(key)) is not None and int(match[1]) < len(parsed.row_of_tier):
            rows[parsed.row_of_tier[int(match[1])]].errors.setdefault(_COLUMN[match[2]], []).extend(errors)
        elif key == "mmr":  # the engine speaks fractions, this form percent
            parsed.form.errors.setdefault(key, []).extend(f"{e} (This form is in %: 0.004 is 0.4 %.)" for e in errors)
        elif key in ("name", "tiers", "max_leverage"):
            parsed.form.errors.setdefault(key, []).extend(errors)
        else:
            parsed.form.errors.setdefault("form", []).extend(errors)


def _has_errors(parsed: _Parsed) -> bool:
    return bool(parsed.form.errors) or any(row.errors for row in parsed.form.rows)


def _save(request: AuthedHttpRequest, personal_model: PersonalModel | None) -> tuple[_Parsed, PersonalModel | None]:
    parsed = _parse(request.POST)
    if _has_errors(parsed):
        return parsed, None
    values: dict[str, Any] = {
        "name": parsed.form.name,
        "tiers": parsed.tiers,
        "mmr": parsed.mmr,
        "max_leverage": parsed.max_leverage,
    }
    try:
        if personal_model is None:
            return parsed, personal_model_create(user=request.user, **values)
        return parsed, personal_model_update(personal_model=personal_model, **values)
    except ValidationError as exc:
        _place_errors(parsed, exc)
        return parsed, None


def _render(request: AuthedHttpRequest, template: str, ctx: dict[str, object]) -> HttpResponse:
    """The whole page, or only the form for an HTMX request."""
    response = render(request, f"{template}#model-form" if request.htmx else template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _context(request: AuthedHttpRequest, form: ModelForm, personal_model: PersonalModel | None) -> dict[str, object]:
    asset = draw_asset(user=request.user)
    symbol = asset.symbol if asset else None
    models = list(personal_models_for_user(user=request.user))
    draw = share = None
    if asset is not None and personal_model is not None:
        draw = draw_url(symbol=asset.symbol, personal_model=personal_model)
        share = share_url(asset=asset, personal_model=personal_model)
    return {
        "form": form,
        "model": personal_model,
        "models": [(m, _summary(m), draw_url(symbol=symbol, personal_model=m) if symbol else None) for m in models],
        "max_models": max_models(),
        "at_limit": len(models) >= max_models(),
        "max_tiers": MAX_TIERS,
        "name_max_length": NAME_MAX_LENGTH,
        "draw_symbol": symbol,
        "draw_url": draw,
        "share_url": share,
    }


def _saved(request: AuthedHttpRequest, personal_model: PersonalModel, verb: str) -> HttpResponse:
    url = reverse("accounts:personal-model", args=[personal_model.pk])
    messages.success(request, f"Model “{personal_model.name}” {verb}.")
    if request.htmx:  # a whole-page change: let htmx navigate instead of swapping a redirect's body
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def personal_model_list(request: AuthedHttpRequest) -> HttpResponse:
    """Your models and a form for a new one, prefilled with the v2 defaults."""
    if request.method == "POST":
        parsed, created = _save(request, None)
        if created is not None:
            return _saved(request, created, "saved")
        form = parsed.form
    else:
        form = _form_from(default_fields())
    return _render(request, TEMPLATE, _context(request, form, None))


@login_required
@require_http_methods(["GET", "POST"])
def personal_model_edit(request: AuthedHttpRequest, model_id: int) -> HttpResponse:
    personal_model = get_personal_model_for_user(user=request.user, model_id=model_id)
    if request.method == "POST":
        parsed, saved = _save(request, personal_model)
        if saved is not None:
            return _saved(request, saved, "saved")
        form = parsed.form
    else:
        form = _form_from(stored_fields(personal_model), name=personal_model.name)
    return _render(request, EDIT_TEMPLATE, _context(request, form, personal_model))


@login_required
@require_POST
def personal_model_delete_view(request: AuthedHttpRequest, model_id: int) -> HttpResponse:
    personal_model = get_personal_model_for_user(user=request.user, model_id=model_id)
    name = personal_model.name
    personal_model_delete(personal_model=personal_model)
    messages.success(request, f"Model “{name}” deleted.")
    url = reverse("accounts:personal-models")
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)
