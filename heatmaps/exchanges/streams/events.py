"""What a market-data parser yields, and the helpers every venue's parser shares (no Django).

A parser turns one frame into ``MarketEvent``s: a ``BarEvent`` (``closed`` once the bar is final), a
``MarkEvent`` or an ``OiEvent`` (a snapshot at its own time; ``CloseSampler`` turns snapshots into one row per
bar close). Acks, pongs and other frames give ``[]``; malformed data frames raise ``MalformedPayload``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.liquidations import Frame
from heatmaps.rows import BASE_BAR_MS, CandleRow


@dataclass(frozen=True, slots=True)
class BarEvent:
    symbol: str  # the exchange's instrument name
    row: CandleRow
    closed: bool


@dataclass(frozen=True, slots=True)
class MarkEvent:
    symbol: str
    time_ms: int
    mark_price: float


@dataclass(frozen=True, slots=True)
class OiEvent:
    symbol: str
    time_ms: int  # when the exchange took the snapshot
    oi_base: float | None
    oi_value: float | None


MarketEvent = BarEvent | MarkEvent | OiEvent
MarketParser = Callable[[Frame], list[MarketEvent]]


def candle_row(
    f: Fields,
    *,
    open_time: int,
    ohlc: tuple[Any, Any, Any, Any],
    volume: float | None,
    taker_buy: float | None,
    quote: float | None,
) -> CandleRow:
    if open_time % BASE_BAR_MS:
        raise f.bad(f"bar start {open_time} is not on a 5-minute boundary")
    o, h, lo, c = (f.req_num(v, n) for v, n in zip(ohlc, ("open", "high", "low", "close"), strict=True))
    if h < lo:
        raise f.bad(f"high {h} < low {lo}")
    return CandleRow(open_time, o, h, lo, c, volume=volume, taker_buy_volume=taker_buy, quote_volume=quote)


def contracts_to_base(
    inst: str, contracts: float | None, sizes: Mapping[str, float], on_unsized: Callable[[str], None] | None
) -> float | None:
    if contracts is None:
        return None
    size = sizes.get(inst)
    if size is None:
        if on_unsized is not None:
            on_unsized(inst)
        return None
    return contracts * size


def topic_symbol(topic: str) -> str:
    """The instrument a topic is about: ``btcusdt@kline_5m`` → BTCUSDT, ``tickers.BTCUSDT`` → BTCUSDT,
    ``candle5m:BTC-USDT-SWAP`` → BTC-USDT-SWAP."""
    if ":" in topic:
        return topic.split(":", 1)[1]
    if "@" in topic:
        return topic.split("@", 1)[0].upper()
    return topic.rsplit(".", 1)[-1]
