"""Market-data websockets: 5-minute bars, mark prices and open interest as they happen (no Django).

Channels read (payloads as the exchanges document them; fixtures in tests/heatmaps/exchanges/fixtures):

===========  ==========================================  ===========================================
Exchange     bars (closed when)                          mark price / open interest
===========  ==========================================  ===========================================
Binance      ``<symbol>@kline_5m`` (``k.x``)             ``<symbol>@markPrice@1s``; no OI stream
Bybit        ``kline.5.<SYMBOL>`` (``confirm``)          ``tickers.<SYMBOL>`` (snapshot + deltas)
OKX          ``candle5m`` (confirm ``"1"``)              ``mark-price``, ``open-interest``
Hyperliquid  ``candle`` 5m (a later ``t`` arrives)       ``activeAssetCtx`` (coin)
Bitget       ``candle5m`` (a later bar arrives)          ``ticker`` (``holdingAmount``, coin)
Gate         ``futures.candlesticks`` 5m (``w``/later)   ``futures.tickers`` (``total_size``, contracts)
BitMEX       ``tradeBin5m`` (every bucket, end-stamped)  ``instrument`` (``openInterest``, contracts)
Deribit      ``chart.trades.<inst>.5`` (a later tick)    ``ticker.<inst>.agg2`` (USD when inverse)
===========  ==========================================  ===========================================

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
from heatmaps.exchanges.streams.bitget import BitgetMarketParser, bitget_messages, bitget_topics
from heatmaps.exchanges.streams.bitmex import BitmexMarketParser, bitmex_messages, bitmex_topics
from heatmaps.exchanges.streams.bybit import BYBIT_ENDPOINT, BybitMarketParser, bybit_messages, bybit_topics
from heatmaps.exchanges.streams.deribit import (
    DeribitMarketParser,
    deribit_answer,
    deribit_hello,
    deribit_messages,
    deribit_topics,
)
from heatmaps.exchanges.streams.events import (
    BarEvent,
    MarketEvent,
    MarketParser,
    MarkEvent,
    OiEvent,
    OpenBars,
    StreamRefused,
    candle_row,
    contracts_to_base,
    last_forming_only,
    topic_symbol,
)
from heatmaps.exchanges.streams.gate import GateMarketParser, gate_messages, gate_ping, gate_topics
from heatmaps.exchanges.streams.hyperliquid import (
    HYPERLIQUID_PING,
    HyperliquidMarketParser,
    hyperliquid_messages,
    hyperliquid_topics,
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
    "HYPERLIQUID_PING",
    "OKX_BUSINESS_CHANNELS",
    "OKX_ENDPOINT",
    "OKX_PUBLIC_CHANNELS",
    "BarEvent",
    "BitgetMarketParser",
    "BitmexMarketParser",
    "BybitMarketParser",
    "CloseSampler",
    "DeribitMarketParser",
    "GateMarketParser",
    "HyperliquidMarketParser",
    "MarkEvent",
    "MarketEvent",
    "MarketParser",
    "OiEvent",
    "OpenBars",
    "StreamRefused",
    "binance_messages",
    "binance_topics",
    "binance_url",
    "bitget_messages",
    "bitget_topics",
    "bitmex_messages",
    "bitmex_topics",
    "bybit_messages",
    "bybit_topics",
    "candle_row",
    "contracts_to_base",
    "deribit_answer",
    "deribit_hello",
    "deribit_messages",
    "deribit_topics",
    "gate_messages",
    "gate_ping",
    "gate_topics",
    "hyperliquid_messages",
    "hyperliquid_topics",
    "last_forming_only",
    "okx_messages",
    "okx_topics",
    "parse_binance_market",
    "parse_okx_market",
    "topic_symbol",
]
