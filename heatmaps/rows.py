"""Normalised market-data rows: what importers and exchange connectors produce and ingest stores.

Plain dataclasses with no Django imports, so parsers can be tested without a database.
Times are integer milliseconds since the epoch, UTC, as every exchange stamps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BASE_BAR_MS = 300_000  # the platform's base resolution: 5-minute bars

Side = Literal["long", "short"]  # side of the *position* that was liquidated


@dataclass(frozen=True, slots=True)
class CandleRow:
    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None  # base asset
    taker_buy_volume: float | None = None  # base asset
    quote_volume: float | None = None  # quote asset (USD/USDT)


@dataclass(frozen=True, slots=True)
class OpenInterestRow:
    time_ms: int  # as the exchange stamps it (Binance: the close of the 5m bar)
    oi_base: float | None  # base-asset units
    oi_value: float | None  # quote currency (USD/USDT)


@dataclass(frozen=True, slots=True)
class FundingRow:
    time_ms: int  # settlement time
    rate: float  # fraction, e.g. 0.0001 = 0.01 %
    mark_price: float | None = None


@dataclass(frozen=True, slots=True)
class LiquidationRow:
    symbol: str  # the exchange's own instrument name, e.g. BTCUSDT or BTC-USDT-SWAP
    time_ms: int
    side: Side  # side of the liquidated position
    price: float
    quantity: float  # base asset
    value: float  # quote currency: price × quantity
    dedupe_key: str  # exchange id, or a key derived from the event's fields
