"""Market pages shared between signed-in traders, with each trader's own pieces put in per request.

A signed-in trader's overview, asset page and HTMX swaps are the market — the same for everyone —
plus a few pieces of their own: the star, the header's watchlists, bell and name, their annotations,
messages, the CSRF tokens of their forms. The page is rendered once per `LIQ_PAGE_CACHE_SECONDS` per
URL and per *look* (time zone, staff or not, default timeframe: what a page may vary on besides the
market), with a hole where each personal piece goes; every request fills the holes for its trader.

The shared render cannot read anything personal, by construction rather than by care:

- `request.user` is a stand-in (`Look`) carrying only the look; reading anything else off it (the
  name, the id, a query through it) raises `PersonalRead`, which abandons the shared render: the page
  is rendered for this trader alone, as before, and not stored.
- the messages and the session are stand-ins that raise the same way when a template or view reads
  them.
- a CSRF token rendered into it (Django's `get_token` called) keeps it from being stored.
- a personal template tag (accounts/templatetags) asked for its piece during a shared render returns a
  hole (`personal_hole`): a marker, with the tag's own template source and market arguments recorded
  beside the render. Filling renders that source with the real request.

Only 200s that set no cookie are stored; the key holds the URL, the htmx headers and the look, never
the trader. Answers to signed-in traders say `Cache-Control: private` (and `Vary: Cookie`, from
`shared_with_visitors`): no proxy keeps a filled page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.template.context import make_context
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.safestring import SafeString, mark_safe
from prometheus_client import Counter

from heatmaps.maps import shared_cache_key

log = logging.getLogger(__name__)

TRADER_PAGE = Counter(
    "liq_trader_page_total",
    "Signed-in traders' market pages: hit (shared render filled), miss (rendered, shared, filled), "
    "own (rendered for the trader alone: personal URL, or the render read something personal).",
    ["result"],
)
_HTMX_HEADERS = ("HTTP_HX_REQUEST", "HTTP_HX_HISTORY_RESTORE_REQUEST")
_HOLES_ATTR = "_liq_personal_holes"
_MARKER = re.compile(r"<!--liq-hole:(\d+)-->")


class PersonalRead(Exception):
    """Something personal was read while rendering a page shared between traders. Not an
    AttributeError on purpose: templates and `getattr(..., default)` would swallow that and render
    a blank where the trader's data should be."""


class Look:
    """Who a shared render is for: what the pages may vary on besides the market, nothing that
    tells one trader from another. Stands in for `request.user` during the shared render."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, *, is_staff: bool, is_superuser: bool, time_zone: str, default_timeframe: str) -> None:
        self.is_staff = is_staff
        self.is_superuser = is_superuser
        self.time_zone = time_zone
        self.default_timeframe = default_timeframe

    @classmethod
    def of(cls, user: Any) -> Look:
        return cls(
            is_staff=bool(user.is_staff),
            is_superuser=bool(user.is_superuser),
            time_zone=str(getattr(user, "time_zone", "") or ""),
            default_timeframe=str(getattr(user, "default_timeframe", "") or ""),
        )

    def key(self) -> tuple[object, ...]:
        return (self.is_staff, self.is_superuser, self.time_zone, self.default_timeframe)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and introspection ask for these; they are not personal
            raise AttributeError(name)
        raise PersonalRead(f"user.{name}")


class _Sealed:
    """Stands in for the request's messages or session during a shared render: both are one trader's."""

    def __init__(self, what: str) -> None:
        self._what = what

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise PersonalRead(self._what)

    __iter__ = __len__ = __bool__ = __contains__ = __getitem__ = __setitem__ = _refuse

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise PersonalRead(f"{self._what}.{name}")


@dataclass
class Holes:
    """The personal pieces left out of one shared render: (template source, its market context)."""

    pieces: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def hole(self, source: str, context: Mapping[str, Any]) -> SafeString:
        self.pieces.append((source, dict(context)))
        return mark_safe(f"<!--liq-hole:{len(self.pieces) - 1}-->")


def personal_hole(request: HttpRequest | None, source: str, **context: Any) -> SafeString | None:
    """For a personal template tag: during a shared render, a hole that `source` (a template calling
    the tag again, e.g. "{% load watchlists %}{% star_button asset %}") fills for each trader, with
    `context` (market objects only: it is stored with the render); otherwise None — render as usual."""
    holes = getattr(request, _HOLES_ATTR, None)
    return holes.hole(source, context) if holes is not None else None


@lru_cache(maxsize=64)
def _compiled(source: str) -> Any:
    return engines["django"].from_string(source)


def fill(request: HttpRequest, html: str, pieces: list[tuple[str, dict[str, Any]]]) -> str:
    """The shared render with each hole rendered for this request's trader."""
    if not pieces:
        return html
    templates = [_compiled(source).template for source, _ in pieces]
    # One context for all the pieces: the context processors run once, not once per star.
    context = make_context({}, request)
    rendered = []
    with context.bind_template(templates[0]):
        for piece, (_, values) in zip(templates, pieces, strict=True):
            with context.push(values):
                rendered.append(piece.render(context))
    return _MARKER.sub(lambda m: rendered[int(m.group(1))], html)


def _key(request: HttpRequest, look: Look) -> str:
    htmx = [request.META.get(header, "") for header in _HTMX_HEADERS]
    zone = timezone.get_current_timezone_name()
    return shared_cache_key("trader-page", request.get_host(), request.get_full_path(), *htmx, zone, *look.key())


def _render_shared(
    view: Callable[..., HttpResponse], request: HttpRequest, look: Look, args: Any, kwargs: Any
) -> tuple[HttpResponse, Holes, bool] | None:
    """The view rendered with the look for the user and holes for the personal pieces; whether it may
    be stored. None when it read something personal (then it must be rendered for the trader)."""
    user, session, messages = request.user, getattr(request, "session", None), getattr(request, "_messages", None)
    token_rendered = request.META.pop("CSRF_COOKIE_NEEDS_UPDATE", None)
    holes = Holes()
    request.user = look  # type: ignore[assignment]
    request.session = _Sealed("session")  # type: ignore[assignment]
    request._messages = _Sealed("messages")  # type: ignore[attr-defined]
    setattr(request, _HOLES_ATTR, holes)
    try:
        response = view(request, *args, **kwargs)
        # A lazily rendered response must be rendered while the stand-ins are in place.
        if hasattr(response, "render") and callable(response.render):
            response.render()
    except PersonalRead as exc:
        log.warning("a shared page read %s: rendered for the trader alone (%s)", exc, request.path)
        return None
    finally:
        request.user = user
        if session is None:
            del request.session
        else:
            request.session = session
        if messages is None:
            del request._messages  # type: ignore[attr-defined]
        else:
            request._messages = messages  # type: ignore[attr-defined]
        delattr(request, _HOLES_ATTR)
        # get_token() during the render put this trader's token into it: fine for them, never stored.
        shareable = not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        if token_rendered is not None:
            request.META["CSRF_COOKIE_NEEDS_UPDATE"] = token_rendered
    return response, holes, shareable


def _filled(request: HttpRequest, stored: tuple[Any, ...], result: str) -> HttpResponse:
    status, content_type, vary, html, pieces = stored
    response = HttpResponse(fill(request, html, pieces), status=status, content_type=content_type)
    if vary:
        response["Vary"] = vary
    if result:
        response["X-Page-Cache"] = result
    return response


def shared_with_traders(
    personal_if: Callable[[HttpRequest, Mapping[str, Any]], bool] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Serve a market page to signed-in traders from a render shared per look, holes filled per
    request. `personal_if(request, view_kwargs)` names requests whose page is the trader's own (the
    overview of one of their watchlists): those are rendered for them alone."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return view(request, *args, **kwargs)
            response = _for_trader(view, request, personal_if, args, kwargs)
            patch_cache_control(response, private=True)
            return response

        return wrapper

    return decorate


def _for_trader(
    view: Callable[..., HttpResponse],
    request: HttpRequest,
    personal_if: Callable[[HttpRequest, Mapping[str, Any]], bool] | None,
    args: Any,
    kwargs: Any,
) -> HttpResponse:
    if (
        settings.LIQ_PAGE_CACHE_SECONDS <= 0
        or request.method not in ("GET", "HEAD")
        or (personal_if is not None and personal_if(request, kwargs))
    ):
        TRADER_PAGE.labels("own").inc()
        return view(request, *args, **kwargs)
    look = Look.of(request.user)
    key = _key(request, look)
    stored = cache.get(key)
    if stored is not None:
        TRADER_PAGE.labels("hit").inc()
        return _filled(request, stored, "trader-hit")
    shared = _render_shared(view, request, look, args, kwargs)
    if shared is None:
        TRADER_PAGE.labels("own").inc()
        return view(request, *args, **kwargs)
    response, holes, shareable = shared
    if response.streaming or not isinstance(response, HttpResponse) or not holes.pieces:
        # Nothing of the trader's was left out (a redirect, or a page without personal pieces).
        TRADER_PAGE.labels("own").inc()
        return response
    stored = (
        response.status_code,
        response["Content-Type"],
        response.get("Vary", ""),
        response.content.decode(response.charset),
        holes.pieces,
    )
    kept = shareable and response.status_code == 200 and not response.cookies
    if kept:
        cache.set(key, stored, settings.LIQ_PAGE_CACHE_SECONDS)
    TRADER_PAGE.labels("miss" if kept else "own").inc()
    filled = _filled(request, stored, "trader-miss" if kept else "")
    for name, morsel in response.cookies.items():
        filled.cookies[name] = morsel
    return filled
