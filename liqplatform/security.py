"""Site-wide answers that no single view should have to remember: methods nothing here serves, and
personal pages that no browser or proxy cache may keep."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

# TRACE echoes the request back (headers included, which is what cross-site tracing abuses); CONNECT
# asks for a tunnel; TRACK is TRACE's old alias. Django's function views would answer them like a GET.
REFUSED_METHODS = frozenset({"TRACE", "TRACK", "CONNECT"})
# Allow must list something: the methods the site serves somewhere (each view still narrows them).
SERVED_METHODS = "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"

# Views defined in these packages show or change one user's own data: the account's pages and its
# API (accounts), sign-in and email management (allauth).
PERSONAL_VIEW_PACKAGES = ("accounts.", "allauth.")


class RefuseMethodsMiddleware:
    """405 for TRACE and its kin, before any view or middleware reads the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        method = request.method or ""
        if method not in REFUSED_METHODS:
            return self.get_response(request)
        message = f'Method "{method}" not allowed.'
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=405)
        else:
            response = HttpResponse(message, status=405, content_type="text/plain")
        response["Allow"] = SERVED_METHODS
        return response


class PersonalNoStoreMiddleware:
    """`Cache-Control: no-store` (with Django's other never-cache headers) on every answer of a
    personal view: a shared computer's browser cache or a proxy must not keep someone's profile,
    watchlists, alerts or the page that shows a new API token once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        module = getattr(match.func, "__module__", "") if match is not None else ""
        if module.startswith(PERSONAL_VIEW_PACKAGES):
            add_never_cache_headers(response)
        return response
