"""Model v2 (docs/model.md, "Model v2"): model v1's flow and placement with per-asset margin limits,
per-tier decay and sweeps on the mark price.

What changes against v1: every tier uses the asset's maintenance margin rate ``mmr``; tiers above the
asset's maximum leverage are dropped and the rest renormalised; each tier's positions fade with a
half-life of their own (shorter for higher leverage); and positions are swept by the mark price where
its candles are stored. The model is still linear in the USD it places, so a v2 map is the sum of one
v1 run per tier, each on its own share of the open interest with its own decay (``run_model``'s
``decay``); ``run_tiers`` carries the tiers side by side in one pass, which is the same sum to round-off.
With no decay, no dropped tier and no mark candles v2 is v1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    TIMEFRAMES,
    Buckets,
    FloatArray,
    IntArray,
    Timeframe,
    aggregate,
    carry_open_interest,
)
from heatmaps.engine.model import HeatmapGrid, _resolve, price_edges
from heatmaps.engine.model_v2_params import (
    DEFAULT_HALF_LIVES_HOURS,
    DEFAULT_V2_TIERS,
    MODEL_V2_VERSION,
    ModelV2Params,
    TierV2,
)
from heatmaps.engine.run_tiers import run_tiers

__all__ = [
    "DEFAULT_HALF_LIVES_HOURS",
    "DEFAULT_V2_TIERS",
    "MODEL_V2_VERSION",
    "ModelV2Params",
    "TierV2",
    "compute_all_timeframes_v2",
    "compute_heatmap_v2",
]

_HOUR_MS = 3_600_000


# ---------------------------------------------------------------------------------------------
# The maps


@dataclass(frozen=True, slots=True)
class _MarkCoverage:
    """Which base bars had a mark-price candle, as a running count, to label each window."""

    open_time: IntArray
    known_before: IntArray  # known_before[j] = bars with a mark candle among the first j

    def label(self, window_start: int) -> str:
        first = int(np.searchsorted(self.open_time, window_start, side="left"))
        total = self.open_time.shape[0] - first
        known = int(self.known_before[-1] - self.known_before[first])
        if total and known == total:
            return "mark"
        return "last" if known == 0 else "mixed"


def _sweep_series(base: Buckets) -> tuple[Buckets, _MarkCoverage | None]:
    """Base bars whose ``mark_high``/``mark_low`` are the prices that sweep: the mark candle's where
    known, the last-price candle's where not. Filled per 5-minute bar before aggregation, so a bucket
    with some mark candles missing still sweeps on every bar's own extreme."""
    if base.mark_high is None or base.mark_low is None:
        return base, None
    known = ~np.isnan(base.mark_low)
    swept = Buckets._trusted(
        open_time=base.open_time,
        high=base.high,
        low=base.low,
        close=base.close,
        volume=base.volume,
        taker_buy=base.taker_buy,
        oi_value=base.oi_value,
        bar_ms=base.bar_ms,
        mark_high=np.where(known, base.mark_high, base.high),
        mark_low=np.where(known, base.mark_low, base.low),
    )
    counts = np.concatenate(([0], np.cumsum(known, dtype=np.int64)))
    return swept, _MarkCoverage(open_time=base.open_time, known_before=counts)


def _tier_decay(open_time: IntArray, half_life_hours: float) -> FloatArray | None:
    """Per bucket, the factor a tier's positions keep since the previous bucket of the run (the first
    keeps all): 0.5 ** (hours elapsed / half-life), so a gap decays as much as the time it spans.
    None for a tier that never decays, which runs model v1's code path exactly."""
    if half_life_hours == math.inf:
        return None
    elapsed_h = np.zeros(open_time.shape[0])
    if elapsed_h.size > 1:
        elapsed_h[1:] = np.diff(open_time) / _HOUR_MS
    decay: FloatArray = 0.5 ** (elapsed_h / half_life_hours)
    return decay


def _v2_from_buckets(
    *,
    buckets: Buckets,
    timeframe: Timeframe,
    params: ModelV2Params,
    coverage: _MarkCoverage | None,
    out: FloatArray | None = None,
) -> HeatmapGrid:
    """Window, warm-up and grid as v1's (spec §2-3) on buckets at ``timeframe.bar_ms``, and the run of
    the effective tiers, each with its decay (``run_tiers``). ``params`` must be effective."""
    if len(buckets) == 0:
        raise ValueError("no bars to build a heat map from")
    v1 = params.v1_params()
    bar = timeframe.bar_ms
    w = timeframe.columns
    end = int(buckets.open_time[-1])
    window_start = end - (w - 1) * bar
    run = buckets.since(window_start - w * bar)
    win_from = int(np.searchsorted(run.open_time, window_start, side="left"))
    edges = price_edges(low=float(run.low[win_from:].min()), high=float(run.high[win_from:].max()), params=v1)
    if out is None:
        out = np.empty((2, w, params.n_bins))
    result = run_tiers(
        buckets=run,
        edges=edges,
        params=v1,
        decays=[_tier_decay(run.open_time, t.half_life_hours) for t in params.tiers],
        start_ms=window_start,
        columns=w,
        out=out,
        sweep_low=run.mark_low,
        sweep_high=run.mark_high,
    )
    times = window_start + bar * np.arange(w, dtype=np.int64)
    close = np.full(w, np.nan)
    close[(run.open_time[win_from:] - window_start) // bar] = run.close[win_from:]
    return HeatmapGrid(
        timeframe=timeframe,
        params=v1,
        times=times,
        close=close,
        edges=edges,
        prices=(edges[:-1] + edges[1:]) / 2,
        long=out[0],
        short=out[1],
        tier_long=result.tier_long,
        tier_short=result.tier_short,
        balance=result.balance,
        model_version=MODEL_V2_VERSION,
        sweep_price="last" if coverage is None else coverage.label(window_start),
    )


def _base_bars(bars: Buckets, params: ModelV2Params | None, caller: str) -> ModelV2Params:
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError(f"{caller} expects 5-minute base bars")
    if len(bars) == 0:
        raise ValueError("no bars to build a heat map from")
    return (params or ModelV2Params()).validate().effective()


def compute_heatmap_v2(
    *, bars: Buckets, timeframe: Timeframe | str, params: ModelV2Params | None = None
) -> HeatmapGrid:
    """Model v2's heat map of one timeframe from 5-minute base bars (mark candles used where present)."""
    tf = _resolve(timeframe)
    eff = _base_bars(bars, params, "compute_heatmap_v2")
    end = int(bars.open_time[-1]) // tf.bar_ms * tf.bar_ms
    # OI is carried over the full history (a gap may start before the run); the sweep prices are only
    # needed over the run.
    base, coverage = _sweep_series(carry_open_interest(bars).since(end - (2 * tf.columns - 1) * tf.bar_ms))
    buckets = aggregate(base, tf.bar_ms)
    return _v2_from_buckets(buckets=buckets, timeframe=tf, params=eff, coverage=coverage)


def compute_all_timeframes_v2(
    *,
    bars: Buckets,
    params: ModelV2Params | None = None,
    timeframes: Iterable[Timeframe | str] | None = None,
) -> dict[str, HeatmapGrid]:
    """Model v2's maps of several timeframes (default: all nine); equal to ``compute_heatmap_v2`` for
    each, sharing validation, the OI carry-forward, the sweep prices and aggregations of equal size."""
    tfs = [_resolve(t) for t in (TIMEFRAMES.values() if timeframes is None else timeframes)]
    eff = _base_bars(bars, params, "compute_all_timeframes_v2")
    last = int(bars.open_time[-1])
    run_start = {tf.key: last // tf.bar_ms * tf.bar_ms - (2 * tf.columns - 1) * tf.bar_ms for tf in tfs}
    base, coverage = _sweep_series(carry_open_interest(bars).since(min(run_start.values(), default=last)))
    levels: dict[int, Buckets] = {}
    for tf in tfs:
        if tf.bar_ms not in levels:
            start = min(run_start[t.key] for t in tfs if t.bar_ms == tf.bar_ms)
            levels[tf.bar_ms] = aggregate(base.since(start), tf.bar_ms)
    sizes = [2 * tf.columns * eff.n_bins for tf in tfs]
    block = np.empty(sum(sizes))
    offsets = np.cumsum([0, *sizes]).tolist()
    return {
        tf.key: _v2_from_buckets(
            buckets=levels[tf.bar_ms],
            timeframe=tf,
            params=eff,
            coverage=coverage,
            out=block[offsets[i] : offsets[i + 1]].reshape(2, tf.columns, eff.n_bins),
        )
        for i, tf in enumerate(tfs)
    }
