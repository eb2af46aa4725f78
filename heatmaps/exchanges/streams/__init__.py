"""Market-data websockets: 5-minute bars, mark prices and open interest as they happen (no Django).

Channels read (payloads as the exchanges document them; fixtures in tests/heatmaps/exchanges/fixtures):

=========  ==========================================  ===========================================
Exchange   bars                                        mark price / open interest
=========  ==========================================  ===========================================
Binance    ``<symbol>@kline_5m`` (combined stream)     ``<symbol>@markPrice@1s``; no OI stream
Bybit      ``kline.5.<SYMBOL>``                        ``tickers.<SYMBOL>`` (snapshot + deltas)
OKX        ``candle5m`` (business endpoint)            ``mark-price``, ``open-interest`` (public)
=========  ==========================================  ===========================================

One module per venue holds its parser, topics and subscribe messages; ``events.py`` the events they yield
(``BarEvent``, ``MarkEvent``, ``OiEvent``), ``sampler.py`` the ``CloseSampler`` that puts open-interest
snapshots onto bar closes. The connection loop that feeds them is in ``exchanges/market_connection.py``.
"""

from __future__ import annotations

from heatmaps.exchanges.streams.binance import (
    BINANCE_ENDPOINT,
    binance_messages,
    binance_topics,
    binance_url,
    parse_binance_market,
)
from heatmaps.exchanges.streams.bybit import BYBIT_ENDPOINT, BybitMarketParser, bybit_messages, bybit_topics
from heatmaps.exchanges.streams.events import (
    BarEvent,
    MarketEvent,
    MarketParser,
    MarkEvent,
    OiEvent,
    candle_row,
    contracts_to_base,
    topic_symbol,
)
from heatmaps.exchanges.streams.okx import (
    OKX_BUSINESS_CHANNELS,
    OKX_ENDPOINT,
    OKX_PUBLIC_CHANNELS,
    okx_messages,
    okx_topics,
    parse_okx_market,
)
from heatmaps.exchanges.streams.sampler import CloseSampler

__all__ = [
    "BINANCE_ENDPOINT",
    "BYBIT_ENDPOINT",
    "OKX_BUSINESS_CHANNELS",
    "OKX_ENDPOINT",
    "OKX_PUBLIC_CHANNELS",
    "BarEvent",
    "BybitMarketParser",
    "CloseSampler",
    "MarkEvent",
    "MarketEvent",
    "MarketParser",
    "OiEvent",
    "binance_messages",
    "binance_topics",
    "binance_url",
    "bybit_messages",
    "bybit_topics",
    "candle_row",
    "contracts_to_base",
    "okx_messages",
    "okx_topics",
    "parse_binance_market",
    "parse_okx_market",
    "topic_symbol",
]
