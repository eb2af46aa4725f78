"""Policies the whole REST API shares: request rates and input no view should ever see.

Throttles read their rates from settings on every request (DRF's own classes read them once at
import), so an operator's LIQ_API_*_RATE and a test's override both take effect; counts live in the
default cache, Redis, so every web process shares them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

if TYPE_CHECKING:  # DRF's views import the throttle classes named in settings: no runtime import back
    from rest_framework.request import Request
    from rest_framework.views import APIView


def _rate_or_none(rate: str) -> str | None:
    # "off": the limit is kept elsewhere (a proxy or CDN in front), and DRF skips a throttle without a rate.
    return None if rate == "off" else rate


class AnonymousRateThrottle(AnonRateThrottle):
    """Requests without a user, counted per client address (the forwarded one behind LIQ_BEHIND_PROXY)."""

    def get_rate(self) -> str | None:
        return _rate_or_none(settings.LIQ_API_ANON_RATE)


class PerUserRateThrottle(UserRateThrottle):
    """Requests of a signed-in user or a token's owner, counted per user whatever the address."""

    def get_rate(self) -> str | None:
        return _rate_or_none(settings.LIQ_API_USER_RATE)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        # DRF's UserRateThrottle counts anonymous requests per address too, which would hold visitors
        # to the per-user rate on top of the anonymous one; they have their own throttle above.
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class RejectNulBytesMiddleware:
    """A NUL character in the path or query string is never meaningful, and PostgreSQL refuses it in
    any text parameter: answer 400 here rather than a 500 from the first query that carries it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, vs in request.GET.lists() for v in vs):
            message = "The URL contains a NUL character."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)


def only_v1_endpoints(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """drf-spectacular preprocessing hook: the schema documents /api/v1/ and nothing else."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
