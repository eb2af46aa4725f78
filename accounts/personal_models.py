"""Personal heat-map models: a trader's own leverage tiers, weights, half-lives and maintenance margin.

Plain keyword-only functions used by the pages, the JSON API and the maps' model switcher (through
heatmaps.model_choice, registered in accounts.apps). Writes raise django.core.exceptions.ValidationError
keyed by field: ``name``, ``tiers`` (the tiers as a whole, e.g. weights not adding up to 100 %),
``tiers[<i>].leverage`` / ``tiers[<i>].weight`` / ``tiers[<i>].half_life_hours`` (the i-th tier, from
0), ``mmr`` and ``max_leverage``. The bounds are the engine's (``ModelV2Params.validate()``): each value
is checked on its own against it, so its message lands on the field that broke the rule.

Units at this boundary: weights and the maintenance margin rate are fractions (0.25 is 25 %),
half-lives hours (``math.inf``: positions never fade), leverage a multiple.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import PersonalModel, User, WatchlistItem
from accounts.ownership import owned_or_404
from accounts.personal_cache import personal_cached
from heatmaps.models import Asset
from heatmaps.personal_hook import PersonalModelSpec

if TYPE_CHECKING:
    from heatmaps.engine.model_v2 import ModelV2Params

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = PersonalModel._meta.get_field("name").max_length or 60
MAX_TIERS = 12
# The grid belongs to the asset, not to the trader's model: these keys are left out of what is stored.
GRID_KEYS = ("n_bins", "pad")
# The engine's own tolerance (ModelV2Params.validate): the sum is checked here first only to say it in %.
WEIGHT_SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class TierInput:
    """One leverage tier as a trader gives it: leverage (×), weight (fraction) and half-life (hours)."""

    leverage: float
    weight: float
    half_life_hours: float = math.inf


@dataclass(frozen=True)
class ModelFields:
    """A stored model's parameters read back in the units of this module, for forms and the API."""

    tiers: tuple[TierInput, ...]
    mmr: float
    max_leverage: float | None


def max_models() -> int:
    return int(settings.LIQ_PERSONAL_MODELS_MAX)


# ---- the engine's parameters ----------------------------------------------------------------------


def _engine() -> Any:
    from heatmaps.engine import model_v2

    return model_v2


def default_fields() -> ModelFields:
    """The v2 defaults, which a new model's form starts from."""
    return fields_of(_engine().ModelV2Params())


def fields_of(params: ModelV2Params) -> ModelFields:
    return ModelFields(
        tiers=tuple(
            TierInput(leverage=float(t.leverage), weight=float(t.weight), half_life_hours=float(t.half_life_hours))
            for t in params.tiers
        ),
        mmr=float(params.mmr),
        max_leverage=None if params.max_leverage is None else float(params.max_leverage),
    )


def params_of(personal_model: PersonalModel) -> ModelV2Params:
    """The stored model as engine parameters (validated), on the engine's default grid: the maps put
    the asset's own bins and padding in."""
    params: ModelV2Params = _engine().ModelV2Params.from_json(personal_model.params)
    return params


def stored_fields(personal_model: PersonalModel) -> ModelFields:
    """The stored values, also when the engine no longer accepts them (its bounds changed since they
    were saved): the trader then sees them as saved, and saving asks for what is now out of bounds."""
    try:
        return fields_of(params_of(personal_model))
    except ValueError:
        raw = personal_model.params
        return ModelFields(
            tiers=tuple(
                TierInput(
                    leverage=float(t["leverage"]),
                    weight=float(t["weight"]),
                    half_life_hours=math.inf if t["half_life_hours"] is None else float(t["half_life_hours"]),
                )
                for t in raw["tiers"]
            ),
            mmr=float(raw["mmr"]),
            max_leverage=None if raw.get("max_leverage") is None else float(raw["max_leverage"]),
        )


# The engine names its parameters as the JSON does; the trader reads words.
_WORDS = (
    ("half_life_hours", "half-life"),
    ("max_leverage", "leverage ceiling"),
    ("or inf (never decays)", "or never"),
    ("mmr x leverage", "maintenance margin × leverage"),
    ("mmr", "maintenance margin rate"),
)


def _message(exc: ValueError) -> str:
    text = str(exc).strip()
    for name, words in _WORDS:
        text = text.replace(name, words)
    return (text[:1].upper() + text[1:] if text else "Not allowed.").rstrip(".") + "."


# A tier every valid maintenance margin and leverage ceiling allows (the least leverage above 1, nothing
# else weighed), so checking one of them beside it hears only about that one.
_NEUTRAL = TierInput(leverage=math.nextafter(1.0, 2.0), weight=1.0, half_life_hours=math.inf)


def _engine_check(*, tiers: Sequence[TierInput], mmr: float = 0.0, max_leverage: float | None = None) -> str | None:
    """The engine's refusal of these parameters in the trader's words, or None when it accepts them."""
    engine = _engine()
    try:
        engine.ModelV2Params(
            tiers=tuple(engine.TierV2(t.leverage, t.weight, t.half_life_hours) for t in tiers),
            mmr=mmr,
            max_leverage=max_leverage,
        ).validate()
    except ValueError as exc:
        return _message(exc)
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _tier_errors(tiers: Sequence[TierInput]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    seen: set[float] = set()
    for i, tier in enumerate(tiers):
        bad = [
            name
            for name in ("leverage", "weight", "half_life_hours")
            if not _is_number(value := getattr(tier, name)) or (name != "half_life_hours" and math.isinf(value))
        ]
        for name in bad:
            errors[f"tiers[{i}].{name}"] = ["Enter a number."]
        if bad:
            continue
        if not 0 <= tier.weight <= 1:
            errors[f"tiers[{i}].weight"] = ["A weight is between 0 % and 100 % (0 and 1 as a fraction)."]
        # The tier alone, carrying all the weight and no margin: what the engine says of it is about
        # its leverage or its half-life, never about the other tiers.
        alone = TierInput(leverage=tier.leverage, weight=1.0, half_life_hours=tier.half_life_hours)
        if (problem := _engine_check(tiers=[alone])) is not None:
            errors[f"tiers[{i}].{'half_life_hours' if problem.startswith('Half-life') else 'leverage'}"] = [problem]
        elif tier.leverage in seen:
            errors[f"tiers[{i}].leverage"] = [f"{tier.leverage:g}× is already a tier above; give each tier once."]
        seen.add(tier.leverage)
    return errors


def validate_params(*, tiers: Sequence[TierInput], mmr: float, max_leverage: float | None) -> ModelV2Params:
    """The engine's parameters for these values, or a ValidationError naming every field that is wrong."""
    errors: dict[str, list[str]] = {}
    if not tiers:
        errors["tiers"] = ["Give at least one leverage tier."]
    elif len(tiers) > MAX_TIERS:
        errors["tiers"] = [f"At most {MAX_TIERS} leverage tiers."]
    errors.update(_tier_errors(tiers[:MAX_TIERS]))
    if not _is_number(mmr) or math.isinf(mmr):
        errors["mmr"] = ["Enter a number."]
    elif (problem := _engine_check(tiers=[_NEUTRAL], mmr=mmr)) is not None:
        errors["mmr"] = [problem]
    if max_leverage is not None:
        if not _is_number(max_leverage) or math.isinf(max_leverage):
            errors["max_leverage"] = ["Enter a number, or leave it empty for no ceiling."]
        elif (problem := _engine_check(tiers=[_NEUTRAL], max_leverage=max_leverage)) is not None:
            errors["max_leverage"] = [problem]
    if errors:
        raise ValidationError(errors)
    total = math.fsum(t.weight for t in tiers)
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        raise ValidationError({"tiers": [f"The weights add up to {total * 100:.10g} %; they must add up to 100 %."]})
    # Each value is allowed on its own; what is left to refuse is how they go together: a margin
    # that makes a tier's leverage impossible, a ceiling that leaves no tier.
    if (problem := _engine_check(tiers=tiers, mmr=mmr, max_leverage=max_leverage)) is not None:
        field = (
            "mmr"
            if problem.startswith("Maintenance")
            else "max_leverage"
            if problem.startswith("Leverage ceiling")
            else "tiers"
        )
        raise ValidationError({field: [problem]})
    engine = _engine()
    params: ModelV2Params = engine.ModelV2Params(
        tiers=tuple(engine.TierV2(t.leverage, t.weight, t.half_life_hours) for t in tiers),
        mmr=mmr,
        max_leverage=max_leverage,
    )
    return params


def _stored_json(params: ModelV2Params) -> dict[str, Any]:
    return {key: value for key, value in params.to_json().items() if key not in GRID_KEYS}


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError({"name": ["Give the model a name."]})
    if len(cleaned) > NAME_MAX_LENGTH:
        raise ValidationError({"name": [f"At most {NAME_MAX_LENGTH} characters."]})
    return cleaned


def _name_taken(*, user: User, name: str, exclude_id: int | None = None) -> bool:
    others = PersonalModel.objects.annotate(lname=Lower("name")).filter(user=user, lname=name.lower())
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    return others.exists()


def _taken_error(name: str) -> ValidationError:
    return ValidationError({"name": [f"You already have a model named “{name}”."]})


# ---- reading --------------------------------------------------------------------------------------


def personal_models_for_user(*, user: User) -> QuerySet[PersonalModel]:
    """The user's models, oldest first."""
    return PersonalModel.objects.filter(user=user)


def get_personal_model_for_user(*, user: User, model_id: int | str) -> PersonalModel:
    """The user's own model; another user's id, a missing one or a non-number is a 404 (never a 403)."""
    return owned_or_404(personal_models_for_user(user=user), model_id, what="model")


def model_choice_value(personal_model: PersonalModel) -> str:
    """The ``model=`` value that draws a map with this model."""
    return f"mine:{personal_model.pk}"


def draw_asset(*, user: User) -> Asset | None:
    """The asset a "draw with this model" link opens: the first of the trader's first watchlist still
    enabled, else the first enabled asset; None when no asset is enabled."""
    item = (
        WatchlistItem.objects.filter(watchlist__user=user, asset__enabled=True)
        .select_related("asset")
        .order_by("watchlist__created_at", "watchlist_id", "position", "id")
        .first()
    )
    if item is not None:
        return item.asset
    return Asset.objects.filter(enabled=True).first()


def draw_url(*, symbol: str, personal_model: PersonalModel) -> str:
    """The asset page drawn with this model: for its owner only (``model=mine:<id>``)."""
    return f"{reverse('heatmaps:asset', args=[symbol])}?model={model_choice_value(personal_model)}"


def share_url(*, asset: Asset, personal_model: PersonalModel) -> str | None:
    """A link anyone can open that draws the asset's map with this model's parameters in the URL
    (``model=custom&mp=…&mmr=…``, ``maxlev=…`` for a ceiling, ``never`` for a tier that never fades):
    the same map as the owner's ``model=mine:<id>``. Checked by reading the link back as the asset page
    will, so a link shown is never refused; None only if that ever failed."""
    from heatmaps.explorer import FilterError
    from heatmaps.model_choice import custom_query, parse_custom

    params = params_of(personal_model)
    query = {"model": "custom", **custom_query(params)}
    try:
        back = parse_custom(asset=asset, mp=query["mp"], mmr=query["mmr"], maxlev=query.get("maxlev"))
    except FilterError:
        return None
    # Without a ceiling of its own the model takes the asset's, as the link without maxlev does.
    if (back.tiers, back.mmr) != (params.tiers, params.mmr) or (
        params.max_leverage is not None and back.max_leverage != params.max_leverage
    ):
        return None
    return f"{reverse('heatmaps:asset', args=[asset.symbol])}?{urlencode(query)}"


# ---- writing --------------------------------------------------------------------------------------


@transaction.atomic
def personal_model_create(
    *, user: User, name: str, tiers: Sequence[TierInput], mmr: float, max_leverage: float | None = None
) -> PersonalModel:
    # Locking the user row serialises two concurrent creates, so the limit cannot be overshot.
    User.objects.select_for_update().filter(pk=user.pk).first()
    limit = max_models()
    if PersonalModel.objects.filter(user=user).count() >= limit:
        raise ValidationError({"name": [f"You already have {limit} models, the most allowed; delete one first."]})
    errors: dict[str, list[str]] = {}
    cleaned = ""
    try:
        cleaned = _clean_name(name)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    params = None
    try:
        params = validate_params(tiers=tiers, mmr=mmr, max_leverage=max_leverage)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not errors and _name_taken(user=user, name=cleaned):
        errors["name"] = _taken_error(cleaned).message_dict["name"]
    if errors or params is None:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return PersonalModel.objects.create(user=user, name=cleaned, params=_stored_json(params))
    except IntegrityError:  # the same name saved by a concurrent request
        raise _taken_error(cleaned) from None


@transaction.atomic
def personal_model_update(
    *,
    personal_model: PersonalModel,
    name: str,
    tiers: Sequence[TierInput],
    mmr: float,
    max_leverage: float | None = None,
) -> PersonalModel:
    errors: dict[str, list[str]] = {}
    cleaned = ""
    try:
        cleaned = _clean_name(name)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    params = None
    try:
        params = validate_params(tiers=tiers, mmr=mmr, max_leverage=max_leverage)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    user = personal_model.user
    if not errors and _name_taken(user=user, name=cleaned, exclude_id=personal_model.pk):
        errors["name"] = _taken_error(cleaned).message_dict["name"]
    if errors or params is None:
        raise ValidationError(errors)
    personal_model.name = cleaned
    personal_model.params = _stored_json(params)
    try:
        with transaction.atomic():
            personal_model.save(update_fields=["name", "params", "updated_at"])
    except IntegrityError:
        raise _taken_error(cleaned) from None
    return personal_model


def personal_model_delete(*, personal_model: PersonalModel) -> None:
    personal_model.delete()


# ---- the maps' hook (heatmaps.model_choice) --------------------------------------------------------


def _spec(personal_model: PersonalModel) -> PersonalModelSpec | None:
    try:
        params = params_of(personal_model)
    except (ValueError, TypeError, KeyError):
        # Stored by an engine whose format has since changed: unusable, and said so in the log
        # rather than as a server error on the trader's map.
        logger.warning("personal model %s has parameters the engine cannot read", personal_model.pk)
        return None
    return PersonalModelSpec(id=personal_model.pk, name=personal_model.name, params=params)


def resolve_personal_model(user: Any, model_id: int) -> PersonalModelSpec | None:
    """The signed-in ``user``'s own model ``model_id`` for ``model=mine:<id>``; None for a missing
    id and for anyone else's alike (one query)."""
    if not isinstance(user, User) or not isinstance(model_id, int):
        return None
    row = PersonalModel.objects.filter(user=user, pk=model_id).only("id", "name", "params").first()
    return None if row is None else _spec(row)


def list_personal_models(user: Any) -> list[PersonalModelSpec]:
    """The signed-in ``user``'s own models by name, for the maps' model switcher."""
    if not isinstance(user, User):
        return []

    def read() -> list[PersonalModelSpec]:
        rows = PersonalModel.objects.filter(user=user).order_by(Lower("name"), "id").only("id", "name", "params")
        return [spec for row in rows if (spec := _spec(row)) is not None]

    return personal_cached(user, "models", read)
