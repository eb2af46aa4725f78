"""What a connector raises about an exchange: transient (retry later) or permanent (retrying won't help).

A module of its own because both the HTTP client and the connectors raise them, and neither should
import the other to get them.
"""

from __future__ import annotations


class ExchangeError(Exception):
    """Base class for everything a connector raises about the exchange."""

    def __init__(self, message: str, *, exchange: str | None = None, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.endpoint = endpoint


class TransientExchangeError(ExchangeError):
    """Worth retrying later: 429/418/5xx, timeouts, connection errors, exchange 'busy' codes.

    ``retry_after`` is in seconds when the exchange (or our own shared limiter) said how long to wait.
    ``status`` is the HTTP status when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        exchange: str | None = None,
        endpoint: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, exchange=exchange, endpoint=endpoint)
        self.retry_after = retry_after
        self.status = status


class RateLimitedError(TransientExchangeError):
    """429/418/ban, or our shared limiter is blocked for longer than the caller wants to wait."""


class PermanentExchangeError(ExchangeError):
    """Retrying will not help: bad parameters, unknown symbol, unexpected 4xx, malformed payloads."""

    def __init__(
        self,
        message: str,
        *,
        exchange: str | None = None,
        endpoint: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, exchange=exchange, endpoint=endpoint)
        self.status = status
        self.code = code


class UnknownSymbolError(PermanentExchangeError):
    """The exchange does not list this instrument (Binance -1121, Bybit 10001 symbol, OKX 51001)."""


class MalformedPayload(PermanentExchangeError):
    """The response did not have the documented shape. The message names the endpoint and the problem."""

    def __init__(self, endpoint: str, problem: str, *, exchange: str | None = None) -> None:
        prefix = f"{exchange} " if exchange else ""
        super().__init__(f"{prefix}{endpoint}: malformed payload: {problem}", exchange=exchange, endpoint=endpoint)
        self.problem = problem
