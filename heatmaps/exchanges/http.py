"""HTTP client for one exchange: one ``httpx.Client`` (connection reuse, timeouts), a shared rate limiter,
bounded retries with exponential backoff + jitter, exact ``Retry-After`` handling, and a health record.

Errors it raises (from ``errors``): ``TransientExchangeError`` (``RateLimitedError`` for 429/418/bans) after
the retries are spent or when the wait would exceed ``max_wait_s``; ``PermanentExchangeError`` (and
``UnknownSymbolError``, ``MalformedPayload``) at once, never retried.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import httpx

from heatmaps.exchanges.errors import (
    ExchangeError,
    MalformedPayload,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownSymbolError,
)
from heatmaps.exchanges.ratelimit import DEFAULT_BUCKET, RateLimiter

log = logging.getLogger("heatmaps.exchanges.http")

T = TypeVar("T")
ErrorClassifier = Callable[[int, Any, str], ExchangeError | None]
"""(HTTP status, decoded JSON body or raw text, endpoint) → the error to raise, or None for the default."""


@dataclass(frozen=True, slots=True)
class Health:
    exchange: str
    status: Literal["ok", "degraded"]
    consecutive_failures: int
    last_error: str | None
    last_error_at_ms: int | None
    last_ok_at_ms: int | None
    blocked_for_s: float  # shared limiter block (429/418/ban) still running
    requests: int  # HTTP requests actually sent
    failures: int  # failed attempts in total

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpClient:
    """GET JSON from one exchange through the shared limiter, with retries and health tracking.

    ``ban_statuses`` maps an HTTP status to the minimum block in seconds (Binance 418 → 120 s, Bybit 403 →
    30 min); the block is the larger of that and ``Retry-After`` and is written into the shared limiter so
    every worker stops. ``weight_header`` (Binance ``X-MBX-USED-WEIGHT-1M``) is recorded into the limiter.
    ``sleep``, ``clock`` and ``rand`` are injectable so tests never really wait.
    """

    def __init__(
        self,
        exchange: str,
        base_url: str,
        *,
        limiter: RateLimiter | None = None,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_wait_s: float = 60.0,
        ban_statuses: Mapping[int, float] | None = None,
        weight_header: str | None = None,
        classify_error: ErrorClassifier | None = None,
        degraded_after: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.exchange = exchange
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_wait_s = max_wait_s
        self.ban_statuses = dict(ban_statuses or {418: 120.0})
        self.weight_header = weight_header
        self.classify_error = classify_error
        self.degraded_after = degraded_after
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": "liqplatform/0.1", "Accept": "application/json", **(headers or {})},
            transport=transport,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        )
        self._lock = threading.Lock()
        self._health = Health(exchange, "ok", 0, None, None, None, 0.0, 0, 0)

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- health

    @property
    def health(self) -> Health:
        blocked = self.limiter.blocked_for() if self.limiter is not None else 0.0
        with self._lock:
            h = self._health
        degraded = h.consecutive_failures >= self.degraded_after or blocked > 0
        return replace(h, status="degraded" if degraded else "ok", blocked_for_s=blocked)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _record_ok(self) -> None:
        with self._lock:
            self._health = replace(self._health, consecutive_failures=0, last_ok_at_ms=self._now_ms())

    def _record_failure(self, exc: ExchangeError) -> None:
        if isinstance(exc, UnknownSymbolError):
            return  # the caller asked for something that does not exist; the exchange is fine
        with self._lock:
            h = self._health
            self._health = replace(
                h,
                consecutive_failures=h.consecutive_failures + 1,
                failures=h.failures + 1,
                last_error=f"{type(exc).__name__}: {exc}",
                last_error_at_ms=self._now_ms(),
            )

    # ----------------------------------------------------------------- requests

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        parse: Callable[[Any], T],
        costs: Mapping[str, int] | None = None,
        endpoint: str | None = None,
    ) -> T:
        """GET ``path`` and return ``parse(decoded JSON)``.

        ``parse`` runs inside the retry loop: it may raise ``TransientExchangeError`` (e.g. an envelope that
        says "busy") to get a retry, or a permanent error to stop. ``costs`` is {bucket: weight} for the
        limiter (default: weight 1 on the default bucket).
        """
        return self._request(path, params, None, parse=parse, costs=costs, endpoint=endpoint)

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        parse: Callable[[Any], T],
        costs: Mapping[str, int] | None = None,
        endpoint: str | None = None,
    ) -> T:
        """POST ``body`` as JSON to ``path`` and return ``parse(decoded JSON)``: the same limiter, retries and
        health as ``get`` (Hyperliquid's info API takes every query as a POST body)."""
        return self._request(path, None, body, parse=parse, costs=costs, endpoint=endpoint)

    def _request(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        *,
        parse: Callable[[Any], T],
        costs: Mapping[str, int] | None,
        endpoint: str | None,
    ) -> T:
        endpoint = endpoint or path
        costs = costs if costs is not None else {DEFAULT_BUCKET: 1}
        attempt = 0
        while True:
            try:
                self._acquire(costs, endpoint)
                payload = self._send(path, params, endpoint, body=body)
                result = parse(payload)
            except TransientExchangeError as exc:
                self._record_failure(exc)
                wait = exc.retry_after
                if attempt >= self.max_retries or (wait is not None and wait > self.max_wait_s):
                    log.warning("%s %s: giving up after %d attempts: %s", self.exchange, endpoint, attempt + 1, exc)
                    raise
                if wait is None:
                    wait = self._backoff(attempt)
                log.info("%s %s: %s; retrying in %.2fs", self.exchange, endpoint, exc, wait)
                self.sleep(wait)
                attempt += 1
                continue
            except ExchangeError as exc:
                self._record_failure(exc)
                raise
            self._record_ok()
            return result

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of base * 2**attempt (capped)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return ceiling * (0.5 + 0.5 * self.rand())

    def _acquire(self, costs: Mapping[str, int], endpoint: str) -> None:
        if self.limiter is None:
            return
        for _ in range(1000):
            grant = self.limiter.try_acquire(costs)
            if grant.granted:
                return
            if grant.wait_s > self.max_wait_s:
                what = "blocked" if grant.blocked else "over budget"
                raise RateLimitedError(
                    f"{self.exchange} is {what} for {grant.wait_s:.1f}s (shared limiter)",
                    exchange=self.exchange,
                    endpoint=endpoint,
                    retry_after=grant.wait_s,
                )
            self.sleep(max(grant.wait_s, 0.001))
        raise RateLimitedError(
            f"{self.exchange}: shared limiter never granted", exchange=self.exchange, endpoint=endpoint
        )

    def _send(
        self, path: str, params: Mapping[str, Any] | None, endpoint: str, *, body: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            with self._lock:
                self._health = replace(self._health, requests=self._health.requests + 1)
            if body is not None:
                response = self._client.post(path, json=dict(body))
            else:
                response = self._client.get(path, params=dict(params) if params else None)
        except httpx.TimeoutException as exc:
            raise TransientExchangeError(
                f"{self.exchange} {endpoint}: timeout ({type(exc).__name__})", exchange=self.exchange, endpoint=endpoint
            ) from exc
        except httpx.TransportError as exc:
            raise TransientExchangeError(
                f"{self.exchange} {endpoint}: connection error ({type(exc).__name__}: {exc})",
                exchange=self.exchange,
                endpoint=endpoint,
            ) from exc

        if self.weight_header and self.limiter is not None:
            raw = response.headers.get(self.weight_header)
            if raw is not None and raw.strip().isdigit():
                self.limiter.record_used_weight(int(raw))

        status = response.status_code
        if 200 <= status < 300:
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise MalformedPayload(
                    endpoint, f"body is not JSON: {response.text[:200]!r}", exchange=self.exchange
                ) from exc
        return self._raise_for_status(response, endpoint)

    def _raise_for_status(self, response: httpx.Response, endpoint: str) -> Any:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self.clock())
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = response.text[:500]
        detail = f"HTTP {status}: {body if isinstance(body, str) else json.dumps(body)[:500]}"

        if status in self.ban_statuses:
            wait = max(retry_after or 0.0, self.ban_statuses[status])
            if self.limiter is not None:
                self.limiter.block(wait, reason=f"HTTP {status} on {endpoint}")
            log.error("%s %s: banned (%s); blocking all workers for %.0fs", self.exchange, endpoint, detail, wait)
            raise RateLimitedError(
                f"{self.exchange} {endpoint}: {detail}",
                exchange=self.exchange,
                endpoint=endpoint,
                retry_after=wait,
                status=status,
            )
        if status == 429:
            if self.limiter is not None and retry_after:
                self.limiter.block(retry_after, reason=f"HTTP 429 on {endpoint}")
            raise RateLimitedError(
                f"{self.exchange} {endpoint}: {detail}",
                exchange=self.exchange,
                endpoint=endpoint,
                retry_after=retry_after,
                status=status,
            )
        if self.classify_error is not None:
            exc = self.classify_error(status, body, endpoint)
            if exc is not None:
                raise exc
        if status >= 500 or status == 408:
            raise TransientExchangeError(
                f"{self.exchange} {endpoint}: {detail}",
                exchange=self.exchange,
                endpoint=endpoint,
                retry_after=retry_after,
                status=status,
            )
        raise PermanentExchangeError(
            f"{self.exchange} {endpoint}: {detail}", exchange=self.exchange, endpoint=endpoint, status=status
        )
