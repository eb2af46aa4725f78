"""Public market pages shared, for a few seconds, between visitors who are not signed in.

The overview, the asset page (and its HTMX partials) and the model page render the same bytes for
every visitor without a session. When a crowd arrives at once — a link posted in a chat as price nears
a cluster — a short shared cache makes that one render per page every few seconds instead of one per
visitor. The maps change once per 5-minute bar, so a page at most `LIQ_PAGE_CACHE_SECONDS` old
(default 5) loses nothing a trader could act on.

Signed-in traders never get these copies: their pages carry stars, levels, alert links and their
time zone, and are shared between traders of one look with those pieces filled in (trader_cache.py). "Nothing personal"
means the request carries none of Django's own cookies: a session (even an expired one), a CSRF
cookie (a form rendered for it holds a token derived from it) or messages.
Only 200 responses that set no cookie are stored, and every response of a shared page says
`Vary: Cookie`, so no cache downstream hands a visitor's copy to a signed-in trader.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from prometheus_client import Counter

from heatmaps.maps import shared_cache_key

PAGE_CACHE = Counter(
    "liq_page_cache_total",
    "Public page requests: hit (a shared copy), miss (rendered and shared), bypass (signed in or personal).",
    ["result"],
)
# htmx request headers the pages render differently for (render_page): the partial or the whole page.
_HTMX_HEADERS = ("HTTP_HX_REQUEST", "HTTP_HX_HISTORY_RESTORE_REQUEST")


def _personal_cookies() -> tuple[str, ...]:
    return (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, CookieStorage.cookie_name)


def _shareable(request: HttpRequest) -> bool:
    return (
        settings.LIQ_PAGE_CACHE_SECONDS > 0
        and request.method in ("GET", "HEAD")
        and not any(name in request.COOKIES for name in _personal_cookies())
    )


def _key(request: HttpRequest) -> str:
    htmx = [request.META.get(header, "") for header in _HTMX_HEADERS]
    return shared_cache_key("page", request.get_host(), request.get_full_path(), *htmx)


def shared_with_visitors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve `view` from the shared copy when the request is a visitor's; store fresh 200s for them."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _shareable(request):
            PAGE_CACHE.labels("bypass").inc()
            response = view(request, *args, **kwargs)
            patch_vary_headers(response, ["Cookie"])
            return response
        key = _key(request)
        stored = cache.get(key)
        if stored is not None:
            PAGE_CACHE.labels("hit").inc()
            status, content_type, vary, content = stored
            response = HttpResponse(content, status=status, content_type=content_type)
            response["Vary"] = vary
            response["X-Page-Cache"] = "hit"
            return response
        PAGE_CACHE.labels("miss").inc()
        response = view(request, *args, **kwargs)
        patch_vary_headers(response, ["Cookie"])
        if response.status_code == 200 and not response.cookies and not response.streaming:
            stored = (response.status_code, response["Content-Type"], response["Vary"], response.content)
            cache.set(key, stored, settings.LIQ_PAGE_CACHE_SECONDS)
            response["X-Page-Cache"] = "miss"
        return response

    return wrapper
