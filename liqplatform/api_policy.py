"""Policies the whole REST API shares: request rates, the bodies it parses and input no view should ever see.

Throttles read their rates from settings on every request (DRF's own classes read them once at
import), so an operator's LIQ_API_*_RATE and a test's override both take effect. Counts live in
Redis, each a sliding window kept by one Lua script: reading a count and writing it back in two
steps (DRF's way) let parallel clients through far past the limit.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser, get_encoding  # type: ignore[attr-defined]
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle
from rest_framework.utils.json import strict_constant

from liqplatform.cache import TolerantRedisCache

if TYPE_CHECKING:  # DRF's views import the throttle classes named in settings: no runtime import back
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

log = logging.getLogger("liqplatform.api")

# Nothing the API takes nests deeper than a few levels; whatever reads a value after the parser
# (validation, the database's JSON) walks it again, so refuse depth here, well before any recursion.
MAX_JSON_DEPTH = 32


class BodyTooLarge(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "body_too_large"

    def __init__(self) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        super().__init__(f"The request body is too large: at most {limit // 1000} kB.")


def _read_bounded(stream: IO[bytes]) -> bytes:
    """The body, refused past DATA_UPLOAD_MAX_MEMORY_SIZE (DRF's parsers would read any length)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream.read()
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge()
    return body


def _nested_deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:  # a loop, not recursion: the point is never to recurse on a client's input
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a size and a depth limit: a body of brackets nested ten thousand deep
    made the standard library's parser raise RecursionError, a 500 with a traceback per request."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        encoding = get_encoding(parser_context or {})
        body = _read_bounded(stream)
        nested = ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = json.loads(body.decode(encoding), parse_constant=strict_constant if self.strict else None)
        except RecursionError:
            raise nested from None
        except ValueError as exc:  # UnicodeDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from None
        if isinstance(data, (dict, list)) and _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise nested
        return data


class BoundedFormParser(FormParser):
    """DRF's form parser, held to the same body size as Django's own forms."""

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        return super().parse(io.BytesIO(_read_bounded(stream)), media_type, parser_context)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django's refusals of a body (too large, too many fields or files) as the
    API's JSON 400 rather than Django's HTML one and an error-level log line with a traceback."""
    from rest_framework.views import exception_handler  # not at import: DRF's views import this module

    if isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge()
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = ParseError("The request has too many fields or files.")
    return exception_handler(exc, context)


def _rate_or_none(rate: str) -> str | None:
    # "off": the limit is kept elsewhere (a proxy or CDN in front), and DRF skips a throttle without a rate.
    return None if rate == "off" else rate


# A sliding window per client: the times of its requests in the last `window` seconds, in a sorted
# set. Dropping the old ones, counting and adding happen in one script, so no two requests ever read
# the same count. Redis's clock, not each web host's, decides what "the last minute" is.
_SLIDING_WINDOW = """
local key, window_ms, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms - window_ms)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now_ms, member)
  redis.call('PEXPIRE', key, window_ms)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window_ms - now_ms)
"""
# Without Redis (embedded mode: one process, a local-memory cache) a lock makes DRF's
# read-then-write count exact among that process's threads.
_LOCAL_COUNT = threading.Lock()


class _AtomicRateThrottle(SimpleRateThrottle):
    """DRF's rate throttle, counted atomically; `wait()` is the time until the oldest request in the
    window leaves it (the 429's Retry-After)."""

    _wait_ms: int | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        backend = caches["default"]
        if not isinstance(backend, RedisCache):
            with _LOCAL_COUNT:
                return bool(super().allow_request(request, view))
        limit, duration = self.parse_rate(self.rate)
        assert limit is not None and duration is not None  # a rate was set (settings checks its form)
        full_key = backend.make_key(f"window:{self.key}")  # a sorted set, not DRF's pickled list
        try:
            client = backend._cache.get_client(full_key, write=True)
            wait_ms = int(
                client.register_script(_SLIDING_WINDOW)(
                    keys=[full_key], args=[duration * 1000, limit, uuid.uuid4().hex]
                )
            )
        except RedisError as exc:
            # Like every other use of the cache: a Redis outage costs the limit, not the API.
            if isinstance(backend, TolerantRedisCache):
                backend._failed("rate-limit count", exc)  # logged once a minute at most
            else:
                log.warning("rate limit not counted, Redis failed: %s", exc)
            return True
        self._wait_ms = wait_ms
        return wait_ms == 0

    def wait(self) -> float | None:
        if self._wait_ms is None:  # counted by DRF's own code, without Redis
            return super().wait()
        return self._wait_ms / 1000


class AnonymousRateThrottle(_AtomicRateThrottle, AnonRateThrottle):
    """Requests without a user, counted per client address (the forwarded one behind LIQ_BEHIND_PROXY)."""

    def get_rate(self) -> str | None:
        return _rate_or_none(settings.LIQ_API_ANON_RATE)


class PerUserRateThrottle(_AtomicRateThrottle, UserRateThrottle):
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
