"""Which websockets ``stream_market`` opens: one connection per venue (two for OKX) with its parser, topics,
subscribe messages and keep-alive, and what two venues need from REST before their frames convert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings

from heatmaps.exchanges import DeribitConnector, ExchangeError, GateConnector
from heatmaps.exchanges.market_connection import MarketConnection
from heatmaps.exchanges.streams import (
    HYPERLIQUID_PING,
    OKX_BUSINESS_CHANNELS,
    OKX_PUBLIC_CHANNELS,
    BitgetMarketParser,
    BitmexMarketParser,
    BybitMarketParser,
    DeribitMarketParser,
    GateMarketParser,
    HyperliquidMarketParser,
    MarketParser,
    binance_messages,
    binance_topics,
    binance_url,
    bitget_messages,
    bitget_topics,
    bitmex_messages,
    bitmex_topics,
    bybit_messages,
    bybit_topics,
    deribit_answer,
    deribit_hello,
    deribit_messages,
    deribit_topics,
    gate_messages,
    gate_ping,
    gate_topics,
    hyperliquid_messages,
    hyperliquid_topics,
    okx_messages,
    okx_topics,
    parse_binance_market,
)
from heatmaps.ingest.fetch import connector_for
from heatmaps.models import Exchange

log = logging.getLogger("heatmaps.market_stream")

CODES = ("binance", "bybit", "okx", "hyperliquid", "bitget", "gate", "bitmex", "deribit")
BINANCE_MAX_CONNECTION_S = 23.5 * 3600  # Binance closes every connection after 24 h
# Each connection's topics from its venue's instruments (OKX's two connections carry different channels).
TOPICS: dict[str, Callable[[list[str]], list[str]]] = {
    "binance": binance_topics,
    "bybit": bybit_topics,
    "okx-public": lambda symbols: okx_topics(symbols, OKX_PUBLIC_CHANNELS),
    "okx-business": lambda symbols: okx_topics(symbols, OKX_BUSINESS_CHANNELS),
    "hyperliquid": hyperliquid_topics,
    "bitget": bitget_topics,
    "gate": gate_topics,
    "bitmex": bitmex_topics,
    "deribit": deribit_topics,
}


class VenueContracts:
    """What Gate's and Deribit's frames need to convert, read once per instrument from REST (they do not
    change while it trades): Gate's coin per contract (``quanto_multiplier``), whether a Deribit perpetual is
    inverse (its open interest in USD). The parsers read these dicts from the event loop."""

    CODES = ("gate", "deribit")

    def __init__(self, *, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms
        self.gate_multipliers: dict[str, float] = {}
        self.deribit_inverse: dict[str, bool] = {}
        self._unspecified: set[tuple[str, str]] = set()
        self._failed: set[tuple[str, str]] = set()

    def read(self, code: str, exchange: Exchange, symbols: list[str]) -> None:
        """Read the instruments of ``symbols`` not read yet (in the database thread: it asks REST); one that
        cannot be read now is tried at the next refresh."""
        known: dict[str, Any] = self.gate_multipliers if code == "gate" else self.deribit_inverse
        missing = [s for s in symbols if s not in known]
        if not missing:
            return
        # One try each: the streams start only after this, and the next refresh tries again anyway.
        conn = connector_for(exchange, now_ms=self.now_ms, max_retries=0)
        try:
            for symbol in missing:
                try:
                    if isinstance(conn, GateConnector):
                        known[symbol] = conn.fetch_contract(symbol).multiplier  # one key set: seen whole or not
                    elif isinstance(conn, DeribitConnector):
                        known[symbol] = conn.fetch_instrument(symbol).inverse
                except ExchangeError as exc:
                    if (code, symbol) not in self._failed:  # said once, not at every refresh of an outage
                        log.warning("%s: contract of %s not read (%s); tried again at each refresh", code, symbol, exc)
                    self._failed.add((code, symbol))
                else:
                    if (code, symbol) in self._failed:
                        log.info("%s: contract of %s read", code, symbol)
                    self._failed.discard((code, symbol))
                    self._unspecified.discard((code, symbol))
        finally:
            conn.close()

    def unspecified_once(self, code: str, instrument: str) -> None:
        if (code, instrument) not in self._unspecified:
            self._unspecified.add((code, instrument))
            log.warning(
                "%s: %s carries contracts or USD the stream cannot convert yet (its contract is not read from "
                "REST); its bars and open interest come by the REST ingest until the contract is read",
                code, instrument,
            )  # fmt: skip


def make_connections(
    exchanges: tuple[str, ...],
    *,
    now_ms: Callable[[], int],
    parse_okx: MarketParser,
    contracts: VenueContracts,
) -> dict[str, MarketConnection]:
    """One connection per venue in ``exchanges`` (OKX: its public and business endpoints), by name."""
    conns: dict[str, MarketConnection] = {}
    if "binance" in exchanges:
        conns["binance"] = MarketConnection(
            "binance",
            settings.LIQ_BINANCE_MARKET_WS_URL,
            parse_binance_market,
            binance_messages,
            connect_url=binance_url,
            max_connection_s=BINANCE_MAX_CONNECTION_S,
        )
    if "bybit" in exchanges:
        conns["bybit"] = MarketConnection(
            "bybit", settings.LIQ_BYBIT_WS_URL, BybitMarketParser(), bybit_messages,
            ping_message='{"op":"ping"}', ping_interval=20.0,
        )  # fmt: skip
    if "okx" in exchanges:
        for name, url in (
            ("okx-public", settings.LIQ_OKX_WS_URL),
            ("okx-business", settings.LIQ_OKX_BUSINESS_WS_URL),
        ):
            conns[name] = MarketConnection(name, url, parse_okx, okx_messages, ping_message="ping", ping_interval=25.0)
    if "hyperliquid" in exchanges:
        hl = HyperliquidMarketParser(now_ms=now_ms)
        conns["hyperliquid"] = MarketConnection(
            "hyperliquid", settings.LIQ_HYPERLIQUID_WS_URL, hl, hyperliquid_messages,
            ping_message=HYPERLIQUID_PING, ping_interval=30.0, reset=hl.reset,
        )  # fmt: skip
    if "bitget" in exchanges:
        bg = BitgetMarketParser()
        conns["bitget"] = MarketConnection(
            "bitget", settings.LIQ_BITGET_WS_URL, bg, bitget_messages,
            ping_message="ping", ping_interval=30.0, reset=bg.reset,
        )  # fmt: skip
    if "gate" in exchanges:
        gate = GateMarketParser(contracts.gate_multipliers, on_unsized=partial(contracts.unspecified_once, "gate"))
        conns["gate"] = MarketConnection(
            "gate", settings.LIQ_GATE_WS_URL, gate, gate_messages,
            ping_message=gate_ping, ping_interval=20.0, reset=gate.reset,
        )  # fmt: skip
    if "bitmex" in exchanges:
        conns["bitmex"] = MarketConnection(
            "bitmex", settings.LIQ_BITMEX_WS_URL, BitmexMarketParser(), bitmex_messages,
            ping_message="ping", ping_interval=15.0,
        )  # fmt: skip
    if "deribit" in exchanges:
        dr = DeribitMarketParser(contracts.deribit_inverse, on_unknown=partial(contracts.unspecified_once, "deribit"))
        conns["deribit"] = MarketConnection(
            "deribit", settings.LIQ_DERIBIT_WS_URL, dr, deribit_messages,
            hello=deribit_hello, answer=deribit_answer, reset=dr.reset,
        )  # fmt: skip
    return conns
