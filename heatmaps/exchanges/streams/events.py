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
from heatmaps.exchanges.errors import PermanentExchangeError
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


class StreamRefused(PermanentExchangeError):
    """The venue answered a request of ours with an error (a subscription to an unknown instrument, a rate
    limit): not a data frame, but worth a warning, since the topic it names will carry nothing."""

    def __init__(self, exchange: str, detail: Any) -> None:
        super().__init__(f"{exchange} refused a request: {detail}", exchange=exchange, endpoint="ws")


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


class OpenBars:
    """For venues that never say a bar is final (Hyperliquid, Bitget, Deribit; Gate mostly): the bar in
    progress per symbol, called closed when a bar with a later open time arrives. Its last push before
    then carried every trade of it, on an unbroken connection; ``reset`` on each (re)connect, so a bar left
    open by an outage is not called closed with the outage's trades missing (REST repair stores it)."""

    def __init__(self) -> None:
        self._open: dict[str, CandleRow] = {}

    def reset(self) -> None:
        self._open.clear()

    def push(self, symbol: str, row: CandleRow, *, final: bool = False) -> list[MarketEvent]:
        """The events one pushed bar gives: the bar it closes (if any), then itself, closed when ``final``."""
        current = self._open.get(symbol)
        if current is not None and row.open_time_ms < current.open_time_ms:
            return []  # a late push of a bar already closed
        out: list[MarketEvent] = []
        if current is not None and row.open_time_ms > current.open_time_ms:
            out.append(BarEvent(symbol, current, True))
        if final:
            self._open.pop(symbol, None)
        else:
            self._open[symbol] = row
        out.append(BarEvent(symbol, row, final))
        return out


def last_forming_only(events: list[MarketEvent]) -> list[MarketEvent]:
    """A frame of several bars (a snapshot of recent bars): every closed bar, and of the bars in progress
    only the last per symbol (the earlier ones were closed by the bars after them in the same frame)."""
    last: dict[str, int] = {}
    for i, ev in enumerate(events):
        if isinstance(ev, BarEvent) and not ev.closed:
            last[ev.symbol] = i
    return [ev for i, ev in enumerate(events) if not isinstance(ev, BarEvent) or ev.closed or last[ev.symbol] == i]
