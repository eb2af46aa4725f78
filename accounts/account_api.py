"""The account's own endpoints under /api/v1/: who am I (`me/`) and my API tokens (`tokens/`).

A token can list and revoke tokens, including itself, but not create one: a new token needs the
signed-in session (the profile page, or `POST tokens/` with the session cookie and CSRF token), so a
leaked token cannot mint successors that outlive its revocation.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import _as_drf, _parse, _user
from accounts.models import ApiToken
from accounts.serializers import ApiTokenCreatedOutput, ApiTokenInput, ApiTokenOutput, MeOutput
from accounts.tokens import api_token_create, api_token_revoke, api_tokens_for_user, get_api_token_for_user
from heatmaps.serializers import BAD_REQUEST, ERROR_RESPONSES, ErrorOut

PERSONAL_ERRORS = {**ERROR_RESPONSES, 403: ErrorOut}


@extend_schema(tags=["account"], summary="The authenticated user", responses={200: MeOutput, **PERSONAL_ERRORS})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request: Request) -> Response:
    return Response(MeOutput(_user(request), context={"auth": request.auth}).data)


@extend_schema(
    methods=["GET"],
    tags=["account"],
    summary="Your API tokens (never the tokens themselves)",
    responses={200: ApiTokenOutput(many=True), **PERSONAL_ERRORS},
)
@extend_schema(
    methods=["POST"],
    tags=["account"],
    summary="Create a token (session only); the answer holds the token, shown this once",
    request=ApiTokenInput,
    responses={201: ApiTokenCreatedOutput, **BAD_REQUEST, **PERSONAL_ERRORS},
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def token_collection(request: Request) -> Response:
    user = _user(request)
    if request.method == "GET":
        return Response(ApiTokenOutput(api_tokens_for_user(user=user), many=True).data)
    if isinstance(request.auth, ApiToken):
        raise PermissionDenied("Create tokens while signed in (the profile page), not with another token.")
    data = _parse(ApiTokenInput, request.data)
    try:
        token, raw = api_token_create(user=user, name=data["name"], expires_at=data.get("expires_at"))
    except DjangoValidationError as exc:
        raise _as_drf(exc) from None
    return Response(ApiTokenCreatedOutput(token, context={"raw": raw}).data, status=status.HTTP_201_CREATED)


@extend_schema(
    methods=["GET"], tags=["account"], summary="One of your tokens", responses={200: ApiTokenOutput, **PERSONAL_ERRORS}
)
@extend_schema(
    methods=["DELETE"],
    tags=["account"],
    summary="Revoke a token: it stops working at once",
    responses={204: OpenApiResponse(description="revoked"), **PERSONAL_ERRORS},
)
@api_view(["GET", "DELETE"])
@permission_classes([IsAuthenticated])
def token_item(request: Request, token_id: int) -> Response:
    token = get_api_token_for_user(user=_user(request), token_id=token_id)
    if request.method == "DELETE":
        api_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(ApiTokenOutput(token).data)
