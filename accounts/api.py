"""The personal JSON API under /api/v1/: the signed-in user's watchlists and annotations.

Session authentication (so CSRF is enforced on writes); anonymous requests get 403 with a JSON
`detail`. Serializers only parse and shape; every change goes through the same services as the pages,
and their field-keyed ValidationErrors become 400s. Another user's id is a 404, like a missing one.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.annotations import (
    annotation_create,
    annotation_delete,
    annotation_update,
    annotations_for_user,
    get_annotation_for_user,
)
from accounts.models import User, Watchlist
from accounts.serializers import AnnotationInput, AnnotationOutput, WatchlistInput, WatchlistOutput
from accounts.watchlists import (
    get_watchlist_for_user,
    watchlist_create,
    watchlist_delete,
    watchlist_rename,
    watchlist_set_assets,
    watchlists_for_user,
)
from heatmaps.models import Asset
from heatmaps.serializers import BAD_REQUEST, ERROR_RESPONSES, ErrorOut

# Anonymous: 401 (no credentials) or 403 (a session write without its CSRF token).
_ERRORS = {**ERROR_RESPONSES, 403: ErrorOut}
_DELETED = {204: OpenApiResponse(description="deleted"), **_ERRORS}


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # IsAuthenticated let the request through
    return user


def _as_drf(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"non_field_errors": exc.messages})


def _parse(serializer_class: type[Any], data: Any, *, partial: bool = False) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# ---- watchlists -----------------------------------------------------------------------------------


@extend_schema(methods=["GET"], tags=["watchlists"], responses={200: WatchlistOutput(many=True), **_ERRORS})
@extend_schema(
    methods=["POST"],
    tags=["watchlists"],
    request=WatchlistInput,
    responses={201: WatchlistOutput, **BAD_REQUEST, **_ERRORS},
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def watchlist_collection(request: Request) -> Response:
    user = _user(request)
    if request.method == "GET":
        return Response(WatchlistOutput(watchlists_for_user(user=user), many=True).data)
    data = _parse(WatchlistInput, request.data)
    try:
        created = watchlist_create(user=user, name=data["name"], assets=data.get("assets", []))
    except DjangoValidationError as exc:
        raise _as_drf(exc) from None
    fresh = get_watchlist_for_user(user=user, watchlist_id=created.pk)
    return Response(WatchlistOutput(fresh).data, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], tags=["watchlists"], responses={200: WatchlistOutput, **_ERRORS})
@extend_schema(
    methods=["PATCH"],
    tags=["watchlists"],
    request=WatchlistInput(partial=True),
    responses={200: WatchlistOutput, **BAD_REQUEST, **_ERRORS},
)
@extend_schema(methods=["DELETE"], tags=["watchlists"], responses=_DELETED)
@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([IsAuthenticated])
def watchlist_item(request: Request, watchlist_id: int) -> Response:
    user = _user(request)
    watchlist = get_watchlist_for_user(user=user, watchlist_id=watchlist_id)
    if request.method == "DELETE":
        watchlist_delete(watchlist=watchlist)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        data = _parse(WatchlistInput, request.data, partial=True)
        try:
            _patch_watchlist(watchlist=watchlist, data=data)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from None
        watchlist = get_watchlist_for_user(user=user, watchlist_id=watchlist_id)
    return Response(WatchlistOutput(watchlist).data)


@transaction.atomic
def _patch_watchlist(*, watchlist: Watchlist, data: dict[str, Any]) -> None:
    # Name and assets together or not at all.
    if "name" in data:
        watchlist_rename(watchlist=watchlist, name=data["name"])
    if "assets" in data:
        watchlist_set_assets(watchlist=watchlist, assets=data["assets"])


# ---- annotations ----------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    tags=["annotations"],
    parameters=[OpenApiParameter("asset", OpenApiTypes.STR, description="only this asset's, e.g. BTCUSDT")],
    responses={200: AnnotationOutput(many=True), **_ERRORS},
)
@extend_schema(
    methods=["POST"],
    tags=["annotations"],
    request=AnnotationInput,
    responses={201: AnnotationOutput, **BAD_REQUEST, **_ERRORS},
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def annotation_collection(request: Request) -> Response:
    """GET ?asset=SYMBOL (optional) lists the user's annotations; POST adds one."""
    user = _user(request)
    if request.method == "GET":
        asset = None
        if symbol := request.query_params.get("asset"):
            asset = get_object_or_404(Asset, symbol=symbol.upper())
        return Response(AnnotationOutput(annotations_for_user(user=user, asset=asset), many=True).data)
    data = _parse(AnnotationInput, request.data)
    try:
        annotation = annotation_create(
            user=user,
            asset=data["asset"],
            kind=data["kind"],
            price=data["price"],
            price_high=data.get("price_high"),
            time=data.get("time"),
            label=data.get("label", ""),
            color=data.get("color") or "#58a6ff",
        )
    except DjangoValidationError as exc:
        raise _as_drf(exc) from None
    return Response(AnnotationOutput(annotation).data, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], tags=["annotations"], responses={200: AnnotationOutput, **_ERRORS})
@extend_schema(
    methods=["PATCH"],
    tags=["annotations"],
    request=AnnotationInput(partial=True),
    responses={200: AnnotationOutput, **BAD_REQUEST, **_ERRORS},
)
@extend_schema(methods=["DELETE"], tags=["annotations"], responses=_DELETED)
@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([IsAuthenticated])
def annotation_item(request: Request, annotation_id: int) -> Response:
    user = _user(request)
    annotation = get_annotation_for_user(user=user, annotation_id=annotation_id)
    if request.method == "DELETE":
        annotation_delete(annotation=annotation)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        data = _parse(AnnotationInput, request.data, partial=True)
        # A partial change merges with the stored values; the service checks the result as a whole.
        merged = {
            "asset": annotation.asset.symbol,
            "kind": annotation.kind,
            "price": annotation.price,
            "price_high": annotation.price_high,
            "time": annotation.time,
            "label": annotation.label,
            "color": annotation.color,
            **data,
        }
        try:
            annotation = annotation_update(annotation=annotation, **merged)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from None
    return Response(AnnotationOutput(annotation).data)
