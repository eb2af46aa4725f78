"""Model v2 in the walk-forward backtest: its map at a step, last column only (``walk.ColumnAt``).

Model v2 is one v1 run per tier on the tier's share of the open interest, each with its own decay,
swept on the mark price where its candles are stored (heatmaps/engine/model_v2.py). So its end state
at a step is v1's closed-form end state (``run_end_state``) per tier, summed: the same window, warm-up
and grid as ``compute_heatmap_v2`` on the data up to the step, and the same cost per step whatever
the length of the history.
"""

from __future__ import annotations

import numpy as np

from heatmaps.engine.backtest.walk import ColumnAt, run_before
from heatmaps.engine.inputs import Buckets, ModelParams, Timeframe
from heatmaps.engine.model import HeatmapGrid
from heatmaps.engine.model_v2 import MODEL_V2_VERSION, ModelV2Params, _sweep_series, _tier_decay
from heatmaps.engine.run import run_end_state


def v2_bars(bars: Buckets) -> Buckets:
    """The base bars as model v2 reads them: each bar's sweep prices are its mark candle's where
    stored, else its own high and low (fill before aggregating, as ``compute_heatmap_v2`` does)."""
    return _sweep_series(bars)[0]


def v2_column_at(params: ModelV2Params) -> ColumnAt:
    """The ``ColumnAt`` of model v2 with ``params``; the walk's own ``params`` must be
    ``params.v1_params()`` (its leverages name the bands) and are otherwise not read. Walk over
    ``v2_bars(bars)`` so the mark prices sweep."""
    eff = params.validate().effective()
    v1 = eff.v1_params()
    tiers = [
        (i, t, ModelParams(tiers=((t.leverage, 1.0),), mmr=eff.mmr, n_bins=eff.n_bins, pad=eff.pad))
        for i, t in enumerate(eff.tiers)
        if t.weight > 0
    ]

    def draw(*, buckets: Buckets, timeframe: Timeframe, params: ModelParams, t_ms: int) -> HeatmapGrid | None:
        found = run_before(buckets=buckets, timeframe=timeframe, params=v1, t_ms=t_ms)
        if found is None:
            return None
        run, end, edges = found
        tier_long = np.zeros((len(eff.tiers), eff.n_bins))
        tier_short = np.zeros((len(eff.tiers), eff.n_bins))
        for i, tier, single in tiers:
            share = Buckets._trusted(
                open_time=run.open_time,
                high=run.high,
                low=run.low,
                close=run.close,
                volume=run.volume,
                taker_buy=run.taker_buy,
                oi_value=run.oi_value * tier.weight,
                bar_ms=run.bar_ms,
            )
            long, short = run_end_state(
                buckets=share,
                edges=edges,
                params=single,
                decay=_tier_decay(run.open_time, tier.half_life_hours),
                sweep_low=run.mark_low,
                sweep_high=run.mark_high,
            )
            tier_long[i], tier_short[i] = long[0], short[0]
        return HeatmapGrid(
            timeframe=timeframe,
            params=v1,
            times=np.array([end], dtype=np.int64),
            close=run.close[-1:].copy(),
            edges=edges,
            prices=(edges[:-1] + edges[1:]) / 2,
            long=tier_long.sum(axis=0)[None, :],
            short=tier_short.sum(axis=0)[None, :],
            tier_long=tier_long,
            tier_short=tier_short,
            model_version=MODEL_V2_VERSION,
        )

    return draw
