"""The personal model endpoints of the JSON API under /api/v1/models/: a trader's own heat-map models.

Same conventions as accounts/api.py (token or session authentication, CSRF on session writes, the
same services as the pages, another user's id a 404). A 400 names each field that is wrong, a tier's
fields as ``tiers[<i>].<field>`` (the i-th tier, from 0). Weights and the maintenance margin rate are
fractions, half-lives hours (null: never fades). ``model`` in each answer is the maps' ``model=`` value.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import _DELETED, _ERRORS, _as_drf, _parse, _user
from accounts.models import PersonalModel
from accounts.personal_models import (
    ModelFields,
    TierInput,
    get_personal_model_for_user,
    model_choice_value,
    personal_model_create,
    personal_model_delete,
    personal_model_update,
    personal_models_for_user,
    stored_fields,
)
from accounts.serializers import PersonalModelInput, PersonalModelOutput
from heatmaps.serializers import BAD_REQUEST


def _iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


def personal_model_json(personal_model: PersonalModel) -> dict[str, Any]:
    fields = stored_fields(personal_model)
    return {
        "id": personal_model.pk,
        "name": personal_model.name,
        "tiers": [
            {
                "leverage": t.leverage,
                "weight": t.weight,
                "half_life_hours": None if math.isinf(t.half_life_hours) else t.half_life_hours,
            }
            for t in fields.tiers
        ],
        "mmr": fields.mmr,
        "max_leverage": fields.max_leverage,
        "model": model_choice_value(personal_model),
        "created_at": _iso(personal_model.created_at),
        "updated_at": _iso(personal_model.updated_at),
    }


def _tiers(raw: list[dict[str, Any]]) -> list[TierInput]:
    return [
        TierInput(
            leverage=t["leverage"],
            weight=t["weight"],
            half_life_hours=math.inf if t.get("half_life_hours") is None else t["half_life_hours"],
        )
        for t in raw
    ]


def _values(data: dict[str, Any], current: ModelFields | None = None) -> dict[str, Any]:
    """The service's keyword arguments: the request's fields over the stored ones (a PATCH)."""
    values: dict[str, Any] = {}
    if current is not None:
        values = {"tiers": list(current.tiers), "mmr": current.mmr, "max_leverage": current.max_leverage}
    if "tiers" in data:
        values["tiers"] = _tiers(data["tiers"])
    for key in ("name", "mmr", "max_leverage"):
        if key in data:
            values[key] = data[key]
    return values


@extend_schema(methods=["GET"], tags=["models"], responses={200: PersonalModelOutput(many=True), **_ERRORS})
@extend_schema(
    methods=["POST"],
    tags=["models"],
    request=PersonalModelInput,
    responses={201: PersonalModelOutput, **BAD_REQUEST, **_ERRORS},
    description="Save a new model (at most LIQ_PERSONAL_MODELS_MAX, 10 by default). Draw a map with it: "
    "/assets/<SYMBOL>/?model=mine:<id>, or the map API's model=mine:<id>.",
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def model_collection(request: Request) -> Response:
    """Your heat-map models, oldest first; POST saves a new one."""
    user = _user(request)
    if request.method == "GET":
        return Response([personal_model_json(m) for m in personal_models_for_user(user=user)])
    data = _parse(PersonalModelInput, request.data)
    try:
        created = personal_model_create(user=user, **_values(data))
    except DjangoValidationError as exc:
        raise _as_drf(exc) from None
    return Response(personal_model_json(created), status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], tags=["models"], responses={200: PersonalModelOutput, **_ERRORS})
@extend_schema(
    methods=["PATCH"],
    tags=["models"],
    request=PersonalModelInput(partial=True),
    responses={200: PersonalModelOutput, **BAD_REQUEST, **_ERRORS},
    description="Change the fields sent; the others keep their values. The tiers are replaced as a whole.",
)
@extend_schema(methods=["DELETE"], tags=["models"], responses=_DELETED)
@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([IsAuthenticated])
def model_item(request: Request, model_id: int) -> Response:
    user = _user(request)
    personal_model = get_personal_model_for_user(user=user, model_id=model_id)
    if request.method == "DELETE":
        personal_model_delete(personal_model=personal_model)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        data = _parse(PersonalModelInput, request.data, partial=True)
        values = {"name": personal_model.name, **_values(data, stored_fields(personal_model))}
        try:
            personal_model = personal_model_update(personal_model=personal_model, **values)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from None
    return Response(personal_model_json(personal_model))
