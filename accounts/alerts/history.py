"""Test on history: a rule run over the stored bars of its asset as the worker would have run it,
bar by bar, each firing followed up like a live one, and the record they add up to.

No look-ahead: at each bar the rule sees only the bars that had closed, and a cluster rule sees
the map ``last_column_at`` (the backtest's machinery) draws from the buckets complete by then,
rebuilt every half hour of bars (or every bucket of the maps whose buckets are longer) — the step a
30-day test can afford within 2 s, where the live worker rebuilds the 12h/24h maps every bar: a
condition on those maps may show up to 25 minutes later in the test than it would have live. The pure part (``replay``) takes arrays; ``rule_history``
loads them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np

from accounts.alerts.followup import Outcome, default_horizon_minutes, follow_up, target_of
from accounts.alerts.followup_store import RuleRecord, record_of
from accounts.alerts.market import BAR_MS, Bars, ClusterMaps, ClusterSet, Liquidations, MarketState, Series
from accounts.alerts.rules import ClusterForms, ClusterSwept, ClusterWithin, OIChange, Params, RuleSpec
from accounts.alerts.triggers import Firing, evaluate_rules, record_firing
from heatmaps import engine
from heatmaps.maps import asset_params, load_base_bars
from heatmaps.marketdata import ms_to_dt, recent_market, recorded_liquidations
from heatmaps.models import Asset

DEFAULT_DAYS = 30
MAX_DAYS = 365
TAIL_BARS = 600  # what a live cycle loads before the test's window (an oi_change window reaches further)
# The live worker rebuilds the 12h/24h maps every bar and the longer ones about as often; a map
# costs ~0.5-1 ms to rebuild, so a 30-day test rebuilds every half hour to stay within 2 s.
MAP_STEP_MS = 30 * 60_000
CLUSTER_PARAMS = (ClusterWithin, ClusterForms, ClusterSwept)


@dataclass(frozen=True)
class HistoryFiring:
    bar_ms: int
    values: dict[str, Any]
    outcome: Outcome | None  # None: its horizon reaches past the newest bar
    target_price: float | None


@dataclass(frozen=True)
class HistoryResult:
    start_ms: int
    end_ms: int
    bars: int
    maps: int
    horizon_minutes: int
    firings: list[HistoryFiring]
    record: RuleRecord
    elapsed_s: float
    times_ms: np.ndarray = field(repr=False)  # the price line drawn behind the firings
    closes: np.ndarray = field(repr=False)


def map_step_ms(timeframe: engine.Timeframe) -> int:
    return max(timeframe.bar_ms, MAP_STEP_MS)


def clusters_of(grid: engine.HeatmapGrid, *, limit: int = 20) -> ClusterSet:
    """``engine.find_clusters`` as arrays, vectorised (a test builds ~1 500 maps): zones of adjacent
    non-zero bins on one side of the price, largest USD first, the same zones, peaks and sums."""
    price = grid.current_price
    values = grid.long[-1] + grid.short[-1]
    nonzero = values > 0
    side = grid.prices >= price
    joined = nonzero[:-1] & nonzero[1:] & (side[1:] == side[:-1])
    is_start = nonzero & ~np.concatenate(([False], joined))
    is_stop = nonzero & ~np.concatenate((joined, [False]))
    starts, stops = np.flatnonzero(is_start), np.flatnonzero(is_stop)
    if starts.size == 0:
        return ClusterSet(through_ms=0)
    # Summed zone by zone as find_clusters does (numpy's pairwise sum), so equal zones tie alike.
    usd = np.array([values[a : b + 1].sum() for a, b in zip(starts.tolist(), stops.tolist(), strict=True)])
    # Each zone's peak: its first bin holding the zone's largest value (np.argmax's choice).
    zone = np.cumsum(is_start) - 1
    inside = np.cumsum(is_start) - np.cumsum(np.concatenate(([False], is_stop[:-1]))) > 0
    top = np.maximum.reduceat(values, starts)
    candidates = np.flatnonzero(inside & (values == top[np.maximum(zone, 0)]))
    zones_of = zone[candidates]
    peaks = candidates[np.flatnonzero(np.diff(zones_of, prepend=-1))]
    order = np.argsort(-usd, kind="stable")[:limit]
    return ClusterSet(
        through_ms=0,
        short=side[starts[order]],
        price_low=grid.edges[starts[order]],
        price_high=grid.edges[stops[order] + 1],
        peak_price=grid.prices[peaks[order]],
        usd=usd[order],
    )


class MapsAt:
    """The map of one timeframe as it stood at each bar: rebuilt from the buckets complete at the
    step boundary at or before the bar's close, never from a later bucket. Bars come in order, so
    only the newest map is kept."""

    def __init__(self, *, buckets: engine.Buckets, timeframe: engine.Timeframe, params: engine.ModelParams) -> None:
        self.buckets, self.timeframe, self.params = buckets, timeframe, params
        self.step = map_step_ms(timeframe)
        self.built = 0
        self._boundary: int | None = None
        self._current: ClusterSet | None = None
        self._previous: ClusterSet | None = None

    def clusters_at(self, boundary: int) -> ClusterSet:
        if boundary == self._boundary and self._current is not None:
            return self._current
        grid = engine.last_column_at(buckets=self.buckets, timeframe=self.timeframe, params=self.params, t_ms=boundary)
        found = clusters_of(grid) if grid is not None else ClusterSet(through_ms=0)
        self.built += 1
        self._boundary = boundary
        self._current = replace(found, through_ms=boundary)
        return self._current

    def maps_for_bar(self, bar_ms: int) -> ClusterMaps:
        """The current map and the one the previous bar's cycle saw (the same when none was built
        in between, so a cluster forms once; None on the first bar, where nothing forms)."""
        boundary = (bar_ms + BAR_MS) // self.step * self.step
        current = self.clusters_at(boundary)
        previous, self._previous = self._previous, current
        return ClusterMaps(current=current, previous=previous)


def replay(
    *,
    spec: RuleSpec,
    bars: Bars,
    start_index: int,
    funding_at: Callable[[int], float | None] | None = None,
    open_interest: Series | None = None,
    maps: MapsAt | None = None,
    liquidations: Liquidations | None = None,
) -> list[Firing]:
    """Evaluate ``spec`` at every bar from ``start_index`` on, as a live cycle would at each close."""
    firings: list[Firing] = []
    times, closes = bars.times_ms, bars.close
    timeframe = getattr(spec.params, "timeframe", None)
    # The bars a condition reads: the previous close, and for sweeps every bar since the map's end.
    tail = 2 if maps is None else maps.step // BAR_MS + 2
    for i in range(max(1, start_index), len(bars)):
        history = bars.window(max(0, i + 1 - tail), i + 1)
        bar_ms = int(times[i])
        close_ms = bar_ms + BAR_MS
        clusters = {timeframe: maps.maps_for_bar(bar_ms)} if maps is not None and timeframe else {}
        state = MarketState(
            asset=spec.asset,
            bars=history,
            price=float(closes[i]),
            funding_rate=funding_at(close_ms) if funding_at else None,
            previous_funding_rate=funding_at(close_ms - BAR_MS) if funding_at else None,
            open_interest=open_interest,
            clusters=clusters,
            liquidations=liquidations,
        )
        for firing in evaluate_rules([spec], state):
            firings.append(firing)
            spec = record_firing(spec, firing)
    return firings


def rule_history(
    *,
    asset: Asset,
    params: Params,
    days: int = DEFAULT_DAYS,
    horizon_minutes: int | None = None,
    trigger: str = "every",
    cooldown_minutes: int = 60,
) -> HistoryResult | None:
    """Run one rule over the last ``days`` of ``asset``'s stored bars; None without bars."""
    started = time.perf_counter()
    days = max(1, min(int(days), MAX_DAYS))
    spec = RuleSpec(
        id=0,
        asset=asset.symbol,
        params=params,
        trigger=trigger,  # type: ignore[arg-type]
        cooldown_minutes=cooldown_minutes,
    )
    condition = spec.condition
    minutes = horizon_minutes or default_horizon_minutes(condition, {"timeframe": getattr(params, "timeframe", None)})
    reach = timedelta(days=days, minutes=TAIL_BARS * 5)
    if isinstance(params, OIChange):
        reach += timedelta(minutes=params.window_minutes)
    market = recent_market(asset=asset, window=reach, bars=2)
    if market is None or len(market.bars) < 2:
        return None
    raw = market.bars
    bars = Bars(raw.times_ms, raw.open, raw.high, raw.low, raw.close)
    end_ms = int(bars.times_ms[-1]) + BAR_MS
    start_ms = end_ms - days * 86_400_000
    start_index = int(np.searchsorted(bars.times_ms, start_ms))
    maps = None
    if isinstance(params, CLUSTER_PARAMS):
        timeframe = engine.TIMEFRAMES[params.timeframe]
        since = start_ms - 2 * timeframe.window_ms - timeframe.bar_ms
        loaded = load_base_bars(asset=asset, since=ms_to_dt(since))
        if loaded is not None:
            buckets = engine.aggregate(engine.carry_open_interest(loaded.bars), timeframe.bar_ms)
            maps = MapsAt(buckets=buckets, timeframe=timeframe, params=asset_params(asset))
    recorded = recorded_liquidations(asset=asset, since=ms_to_dt(start_ms))
    liquidations = Liquidations(recorded.times_ms, recorded.usd, recorded.long) if recorded is not None else None
    oi_times, oi_usd = market.open_interest_usd()
    funding_at = market.funding_rate_at if condition in ("funding_above", "funding_below") else None
    firings = replay(
        spec=spec,
        bars=bars,
        start_index=start_index,
        funding_at=funding_at,
        open_interest=Series(oi_times, oi_usd) if oi_times.size and isinstance(params, OIChange) else None,
        maps=maps,
        liquidations=liquidations,
    )
    liq_arrays = (liquidations.times_ms, liquidations.usd, liquidations.long) if liquidations is not None else None
    results = []
    for firing in firings:
        target = target_of(condition, firing.values)
        horizon_end = firing.bar_ms + BAR_MS + minutes * 60_000
        outcome = None
        if target is not None and horizon_end <= end_ms:
            outcome = follow_up(
                target=target,
                fired_bar_ms=firing.bar_ms,
                horizon_end_ms=horizon_end,
                times_ms=bars.times_ms,
                high=bars.high,
                low=bars.low,
                close=bars.close,
                liquidations=liq_arrays,
            )
        results.append(HistoryFiring(firing.bar_ms, dict(firing.values), outcome, target.price if target else None))
    followed = [r for r in results if target_of(condition, r.values) is not None]
    rows = [_row(r, condition) for r in followed]
    record = record_of(rows, fired=len(results))
    shown = slice(start_index, None)
    return HistoryResult(
        start_ms=start_ms,
        end_ms=end_ms,
        bars=len(bars) - start_index,
        maps=maps.built if maps is not None else 0,
        horizon_minutes=minutes,
        firings=results,
        record=record,
        elapsed_s=time.perf_counter() - started,
        times_ms=bars.times_ms[shown],
        closes=bars.close[shown],
    )


def _row(firing: HistoryFiring, condition: str) -> SimpleNamespace:
    """A follow-up row's shape, so the live record's arithmetic applies unchanged."""
    o = firing.outcome
    target = target_of(condition, firing.values)
    return SimpleNamespace(
        touched=o.touched if o else None,
        minutes_to_touch=o.minutes_to_touch if o else None,
        reversed=o.reversed if o else None,
        baseline_rate=o.baseline_rate if o else None,
        touched_at_fire=bool(target and target.touched_at_fire),
    )
