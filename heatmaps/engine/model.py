"""Liquidation heat-map engine, model v1 (see docs/model.md and the model specification).

Pure numpy on purpose: no Django import, so the engine can be tested, benchmarked and reused
without a database. Every public function is keyword-only so call sites stay readable when the
model grows parameters.

Layout of the work:

* ``heatmaps.engine.inputs``: timeframes, model parameters, ``Buckets`` (aligned bars; an empty
  bucket is simply a missing ``open_time``) and ``aggregate`` (epoch-aligned roll-up with ``reduceat``).
* ``heatmaps.engine.run``: ``run_model`` steps the state over a run of buckets and writes the output columns.
* here: the price grid, and ``compute_heatmap`` / ``compute_all_timeframes``, which pick the window
  and warm-up and build the grid.

Derived views (liquidation map, clusters, colour scale) live in ``heatmaps.engine.derived``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    MODEL_VERSION,
    TIMEFRAMES,
    Buckets,
    FloatArray,
    IntArray,
    ModelParams,
    Timeframe,
    aggregate,
    carry_open_interest,
)
from heatmaps.engine.run import MassBalance, run_model


def price_edges(*, low: float, high: float, params: ModelParams) -> FloatArray:
    """Bin edges of the price grid (spec §3): ``linspace(low*(1-pad), high*(1+pad), n_bins+1)``."""
    return np.linspace(low * (1 - params.pad), high * (1 + params.pad), params.n_bins + 1)


@dataclass(frozen=True, slots=True)
class HeatmapGrid:
    """One timeframe's heat map: ``long``/``short`` are (columns, n_bins) USD; the map is their sum."""

    timeframe: Timeframe
    params: ModelParams
    times: IntArray  # (W,) bucket starts, ms
    close: FloatArray  # (W,) NaN for empty buckets
    edges: FloatArray  # (n_bins + 1,)
    prices: FloatArray  # (n_bins,) bin centres
    long: FloatArray
    short: FloatArray
    tier_long: FloatArray  # (n_tiers, n_bins) at the last column
    tier_short: FloatArray
    balance: MassBalance = field(default_factory=MassBalance)
    model_version: str = MODEL_VERSION
    # The price whose extremes swept positions over the window: "last" (v1 always), "mark" (v2 where
    # every bucket of the window had a mark-price candle) or "mixed".
    sweep_price: str = "last"

    @property
    def leverages(self) -> tuple[float, ...]:
        return self.params.leverages

    @property
    def end_time(self) -> int:
        return int(self.times[-1])

    @property
    def current_price(self) -> float:
        """Close of the end bucket, or the last known close if that is missing."""
        known = np.flatnonzero(~np.isnan(self.close))
        return float(self.close[known[-1]]) if known.size else math.nan

    @property
    def total(self) -> FloatArray:
        return self.long + self.short


def _heatmap_from_buckets(
    *, buckets: Buckets, timeframe: Timeframe, params: ModelParams, out: FloatArray | None = None
) -> HeatmapGrid:
    """Window/warm-up selection and grid (spec §2-3) on buckets already at ``timeframe.bar_ms``;
    ``out`` as in ``run_model``."""
    if len(buckets) == 0:
        raise ValueError("no bars to build a heat map from")
    bar = timeframe.bar_ms
    w = timeframe.columns
    end = int(buckets.open_time[-1])
    window_start = end - (w - 1) * bar
    run = buckets.since(window_start - w * bar)
    win_from = int(np.searchsorted(run.open_time, window_start, side="left"))
    edges = price_edges(low=float(run.low[win_from:].min()), high=float(run.high[win_from:].max()), params=params)
    result = run_model(buckets=run, edges=edges, params=params, start_ms=window_start, columns=w, out=out)
    times = window_start + bar * np.arange(w, dtype=np.int64)
    close = np.full(w, np.nan)
    close[(run.open_time[win_from:] - window_start) // bar] = run.close[win_from:]
    return HeatmapGrid(
        timeframe=timeframe,
        params=params,
        times=times,
        close=close,
        edges=edges,
        prices=(edges[:-1] + edges[1:]) / 2,
        long=result.long,
        short=result.short,
        tier_long=result.tier_long,
        tier_short=result.tier_short,
        balance=result.balance,
    )


def _resolve(timeframe: Timeframe | str) -> Timeframe:
    if isinstance(timeframe, Timeframe):
        return timeframe
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; known: {', '.join(TIMEFRAMES)}") from None


def compute_heatmap(*, bars: Buckets, timeframe: Timeframe | str, params: ModelParams | None = None) -> HeatmapGrid:
    """Heat map of one timeframe from 5-minute base bars (spec §2-5)."""
    tf = _resolve(timeframe)
    params = (params or ModelParams()).validate()
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError("compute_heatmap expects 5-minute base bars")
    if len(bars) == 0:
        raise ValueError("no bars to build a heat map from")
    end = int(bars.open_time[-1]) // tf.bar_ms * tf.bar_ms
    # Only base bars of warm-up + window matter (OI is carried over the full history first, as a
    # gap may start before the run).
    buckets = aggregate(carry_open_interest(bars).since(end - (2 * tf.columns - 1) * tf.bar_ms), tf.bar_ms)
    return _heatmap_from_buckets(buckets=buckets, timeframe=tf, params=params)


def compute_all_timeframes(
    *,
    bars: Buckets,
    params: ModelParams | None = None,
    timeframes: Iterable[Timeframe | str] | None = None,
) -> dict[str, HeatmapGrid]:
    """Heat maps of several timeframes (default: all nine); equal to calling ``compute_heatmap``
    for each, sharing validation, the OI carry-forward and aggregations of equal bucket size."""
    tfs = [_resolve(t) for t in (TIMEFRAMES.values() if timeframes is None else timeframes)]
    params = (params or ModelParams()).validate()
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError("compute_all_timeframes expects 5-minute base bars")
    if len(bars) == 0:
        raise ValueError("no bars to build a heat map from")
    last = int(bars.open_time[-1])
    run_start: Mapping[str, int] = {
        tf.key: last // tf.bar_ms * tf.bar_ms - (2 * tf.columns - 1) * tf.bar_ms for tf in tfs
    }
    base = carry_open_interest(bars)
    # Each bucket size is aggregated straight from the base bars over the span its own timeframes
    # need. Chaining coarse sizes from finer aggregates looks cheaper but is not: reduceat costs
    # mostly per output group, and chaining forces the fine sizes to cover the longest span.
    levels: dict[int, Buckets] = {}
    for tf in tfs:
        start = min(run_start[t.key] for t in tfs if t.bar_ms == tf.bar_ms)
        if tf.bar_ms not in levels:
            levels[tf.bar_ms] = aggregate(base.since(start), tf.bar_ms)
    # One allocation for every map's columns: first-touch page faults of many separate arrays cost
    # more than the whole pass of the short timeframes, and one large block is faulted in huge pages.
    sizes = [2 * tf.columns * params.n_bins for tf in tfs]
    block = np.empty(sum(sizes))
    offsets = np.cumsum([0, *sizes]).tolist()
    return {
        tf.key: _heatmap_from_buckets(
            buckets=levels[tf.bar_ms],
            timeframe=tf,
            params=params,
            out=block[offsets[i] : offsets[i + 1]].reshape(2, tf.columns, params.n_bins),
        )
        for i, tf in enumerate(tfs)
    }
