"""Open-interest snapshots onto 5-minute bar closes (no Django)."""

from __future__ import annotations

from heatmaps.exchanges.streams.events import OiEvent
from heatmaps.rows import BASE_BAR_MS, OpenInterestRow


class CloseSampler:
    """Open-interest snapshots → one row per 5-minute bar close: the snapshot nearest the close (within
    ``max_distance_ms``), stamped at the close, as Binance's metrics stamp theirs (docs/model.md).

    A close is decided as soon as a snapshot at or after it arrives: later ones can only be farther."""

    def __init__(self, *, step_ms: int = BASE_BAR_MS, max_distance_ms: int = 60_000) -> None:
        self.step = step_ms
        self.max_distance = max_distance_ms
        self._last: dict[str, OiEvent] = {}

    def add(self, ev: OiEvent) -> list[OpenInterestRow]:
        last = self._last.get(ev.symbol)
        if last is not None and ev.time_ms <= last.time_ms:
            return []  # a replay or out of order: that close is already decided
        self._last[ev.symbol] = ev
        if last is None:
            closes = [ev.time_ms] if ev.time_ms % self.step == 0 else []
        else:
            first = last.time_ms - last.time_ms % self.step + self.step  # first close after the last snapshot
            latest = ev.time_ms - ev.time_ms % self.step
            closes = sorted({first, latest}) if first <= latest else []
        out = []
        for close in closes:
            best = ev if last is None or abs(ev.time_ms - close) <= abs(close - last.time_ms) else last
            if abs(best.time_ms - close) <= self.max_distance:
                out.append(OpenInterestRow(close, best.oi_base, best.oi_value))
        return out
