"""Exchange connectors: Binance USDⓈ-M, Bybit v5 linear, OKX v5 swaps, Hyperliquid perpetuals, Bitget
USDT-M, Gate USDT perpetuals, BitMEX linear USDT and Deribit perpetuals (pure Python, no Django).

from heatmaps.exchanges import get_connector
with get_connector("binance", base_url=settings.LIQ_BINANCE_FAPI_URL, limiter=limiter) as conn:
    rows = conn.fetch_candles(conn.instrument("BTC", "USDT"), start_ms, end_ms, progress=print)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heatmaps.exchanges import binance, bitget, bitmex, bybit, deribit, gate, hyperliquid, okx
from heatmaps.exchanges.base import (
    BaseConnector,
    Connector,
    DataKind,
    MarkPrice,
    Page,
    PageProgress,
    ProgressCallback,
    wall_clock_ms,
)
from heatmaps.exchanges.binance import BinanceConnector
from heatmaps.exchanges.bitget import BitgetConnector
from heatmaps.exchanges.bitmex import BitmexConnector
from heatmaps.exchanges.bybit import BybitConnector
from heatmaps.exchanges.deribit import DeribitConnector
from heatmaps.exchanges.errors import (
    ExchangeError,
    MalformedPayload,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownSymbolError,
)
from heatmaps.exchanges.gate import GateConnector
from heatmaps.exchanges.http import Health, HttpClient
from heatmaps.exchanges.hyperliquid import HyperliquidConnector
from heatmaps.exchanges.okx import OkxConnector
from heatmaps.exchanges.ratelimit import (
    DEFAULT_BUDGETS,
    Budget,
    InMemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)

EXCHANGE_CODES = ("binance", "bybit", "okx", "hyperliquid", "bitget", "gate", "bitmex", "deribit")

DEFAULT_REST_URLS = {
    "binance": binance.DEFAULT_REST_URL,
    "bybit": bybit.DEFAULT_REST_URL,
    "okx": okx.DEFAULT_REST_URL,
    "hyperliquid": hyperliquid.DEFAULT_REST_URL,
    "bitget": bitget.DEFAULT_REST_URL,
    "gate": gate.DEFAULT_REST_URL,
    "bitmex": bitmex.DEFAULT_REST_URL,
    "deribit": deribit.DEFAULT_REST_URL,
}
DEFAULT_WS_URLS = {
    "binance": binance.DEFAULT_WS_URL,
    "bybit": bybit.DEFAULT_WS_URL,
    "okx": okx.DEFAULT_WS_URL,
    "hyperliquid": hyperliquid.DEFAULT_WS_URL,
    "bitget": bitget.DEFAULT_WS_URL,
    "gate": gate.DEFAULT_WS_URL,
    "bitmex": bitmex.DEFAULT_WS_URL,
    "deribit": deribit.DEFAULT_WS_URL,
}

_MODULES = {
    "binance": binance,
    "bybit": bybit,
    "okx": okx,
    "hyperliquid": hyperliquid,
    "bitget": bitget,
    "gate": gate,
    "bitmex": bitmex,
    "deribit": deribit,
}
_CLASSES: dict[str, type[BaseConnector]] = {
    "binance": BinanceConnector,
    "bybit": BybitConnector,
    "okx": OkxConnector,
    "hyperliquid": HyperliquidConnector,
    "bitget": BitgetConnector,
    "gate": GateConnector,
    "bitmex": BitmexConnector,
    "deribit": DeribitConnector,
}


# Each venue's name for a perpetual of base/quote (upper case), as its connector's ``instrument`` spells it (a
# test holds them equal), so a symbol can be proposed without opening a client.
_NAMING: dict[str, Callable[[str, str], str]] = {
    "binance": lambda base, quote: f"{base}{quote}",
    "bybit": lambda base, quote: f"{base}{quote}",
    "okx": lambda base, quote: f"{base}-{quote}-SWAP",
    "hyperliquid": lambda base, quote: base,
    "bitget": lambda base, quote: f"{base}{quote}",
    "gate": lambda base, quote: f"{base}_{quote}",
    "bitmex": lambda base, quote: f"{'XBT' if base == 'BTC' else base}{quote}",  # XBT is BitMEX's bitcoin
    "deribit": lambda base, quote: f"{base}-PERPETUAL" if base in deribit.INVERSE_COINS else f"{base}_USDC-PERPETUAL",
}


def default_symbol(code: str, base: str, quote: str) -> str:
    """The venue's conventional symbol for the ``base``/``quote`` perpetual (BTCUSDT, BTC-USDT-SWAP, BTC,
    XBTUSDT, BTC-PERPETUAL)."""
    if code not in _NAMING:
        raise ValueError(f"unknown exchange {code!r}; expected one of {EXCHANGE_CODES}")
    return _NAMING[code](base.upper(), quote.upper())


def make_http(code: str, *, base_url: str, limiter: RateLimiter | None = None, **http_kwargs: Any) -> HttpClient:
    """An ``HttpClient`` set up for ``code`` (weight header, error mapping, ban statuses)."""
    if code not in _MODULES:
        raise ValueError(f"unknown exchange {code!r}; expected one of {EXCHANGE_CODES}")
    module: Any = _MODULES[code]
    return module.make_http(base_url, limiter=limiter, **http_kwargs)


def publishes_mark_price(code: str) -> bool:
    """Whether the exchange's connector reads a mark price and the next funding (premiumIndex or alike)."""
    cls = _CLASSES.get(code)
    return cls is not None and callable(getattr(cls, "fetch_mark_price", None))


def get_connector(
    code: str,
    *,
    base_url: str,
    http: HttpClient | None = None,
    limiter: RateLimiter | None = None,
    now_ms: Callable[[], int] = wall_clock_ms,
    **http_kwargs: Any,
) -> BaseConnector:
    """The connector for ``code``. Without ``http`` a new client is built on ``base_url`` (the extra keyword
    arguments go to ``HttpClient``: timeout, max_retries, sleep, clock, …). Use ``limiter`` to share a
    budget (``RedisRateLimiter``) between workers; without one, requests are not throttled locally."""
    if code not in _CLASSES:
        raise ValueError(f"unknown exchange {code!r}; expected one of {EXCHANGE_CODES}")
    if http is None:
        http = make_http(code, base_url=base_url, limiter=limiter, **http_kwargs)
    return _CLASSES[code](http, now_ms=now_ms)


__all__ = [
    "DEFAULT_BUDGETS",
    "DEFAULT_REST_URLS",
    "DEFAULT_WS_URLS",
    "EXCHANGE_CODES",
    "BaseConnector",
    "BinanceConnector",
    "BitgetConnector",
    "BitmexConnector",
    "Budget",
    "BybitConnector",
    "Connector",
    "DataKind",
    "DeribitConnector",
    "ExchangeError",
    "GateConnector",
    "Health",
    "HttpClient",
    "HyperliquidConnector",
    "InMemoryRateLimiter",
    "MalformedPayload",
    "MarkPrice",
    "OkxConnector",
    "Page",
    "PageProgress",
    "PermanentExchangeError",
    "ProgressCallback",
    "RateLimitedError",
    "RateLimiter",
    "RedisRateLimiter",
    "TransientExchangeError",
    "UnknownSymbolError",
    "default_symbol",
    "get_connector",
    "make_http",
    "publishes_mark_price",
]
