"""The heat-map engine, models v1 and v2: pure numpy, no Django and nothing else of the project.

Arrays in, arrays out. ``inputs`` holds timeframes, model parameters and the bar aggregation,
``oi_guard`` the open-interest changes the market cannot have made, ``run`` the model's run over
buckets, ``model`` the price grid and the maps per timeframe, ``model_v2`` model v2's maps (its
parameters in ``model_v2_params``, its run of the tiers side by side in ``run_tiers``), ``derived``
what is read off a grid (liquidation map, clusters, colour scale), ``gridcodec`` the compact storage
form of a grid and ``backtest`` the walk-forward test of the clusters against what price did next.
"""

# Loaded on first use (PEP 562): every manage.py command imports this package through the apps'
# modules, and most need no more than the timeframes; the backtest alone takes longer to import
# than numpy.
from __future__ import annotations

from typing import TYPE_CHECKING

from heatmaps.lazy import lazy_exports

if TYPE_CHECKING:
    from heatmaps.engine.backtest import (
        DEFAULT_STEPS,
        LiquidationEvents,
        MagnetBacktest,
        Steps,
        backtest_magnets,
        last_column_at,
        resolve_steps,
    )
    from heatmaps.engine.derived import (
        Cluster,
        ColourScale,
        LiquidationMap,
        View,
        colour_scale,
        find_clusters,
        liquidation_map,
    )
    from heatmaps.engine.gridcodec import FLOOR_RATIO, MAX_RELATIVE_ERROR, decode_grid, encode_grid
    from heatmaps.engine.gridcodec import LEVELS as GRID_LEVELS
    from heatmaps.engine.inputs import (
        BASE_BAR_MS,
        DEFAULT_TIERS,
        MODEL_VERSION,
        TIMEFRAMES,
        BaseBars,
        Buckets,
        FloatArray,
        IntArray,
        ModelParams,
        Timeframe,
        aggregate,
        carry_open_interest,
    )
    from heatmaps.engine.model import HeatmapGrid, compute_all_timeframes, compute_heatmap, price_edges
    from heatmaps.engine.model_v2 import (
        DEFAULT_V2_TIERS,
        MODEL_V2_VERSION,
        ModelV2Params,
        TierV2,
        compute_all_timeframes_v2,
        compute_heatmap_v2,
    )
    from heatmaps.engine.oi_guard import GuardResult, guard_open_interest
    from heatmaps.engine.panels import bucket_last, bucket_sum
    from heatmaps.engine.run import MassBalance, ModelRun, run_end_state, run_model

_WHERE: dict[str, tuple[str, str]] = {
    "DEFAULT_STEPS": ("heatmaps.engine.backtest", "DEFAULT_STEPS"),
    "LiquidationEvents": ("heatmaps.engine.backtest", "LiquidationEvents"),
    "MagnetBacktest": ("heatmaps.engine.backtest", "MagnetBacktest"),
    "Steps": ("heatmaps.engine.backtest", "Steps"),
    "backtest_magnets": ("heatmaps.engine.backtest", "backtest_magnets"),
    "last_column_at": ("heatmaps.engine.backtest", "last_column_at"),
    "resolve_steps": ("heatmaps.engine.backtest", "resolve_steps"),
    "Cluster": ("heatmaps.engine.derived", "Cluster"),
    "ColourScale": ("heatmaps.engine.derived", "ColourScale"),
    "LiquidationMap": ("heatmaps.engine.derived", "LiquidationMap"),
    "View": ("heatmaps.engine.derived", "View"),
    "colour_scale": ("heatmaps.engine.derived", "colour_scale"),
    "find_clusters": ("heatmaps.engine.derived", "find_clusters"),
    "liquidation_map": ("heatmaps.engine.derived", "liquidation_map"),
    "FLOOR_RATIO": ("heatmaps.engine.gridcodec", "FLOOR_RATIO"),
    "MAX_RELATIVE_ERROR": ("heatmaps.engine.gridcodec", "MAX_RELATIVE_ERROR"),
    "decode_grid": ("heatmaps.engine.gridcodec", "decode_grid"),
    "encode_grid": ("heatmaps.engine.gridcodec", "encode_grid"),
    "GRID_LEVELS": ("heatmaps.engine.gridcodec", "LEVELS"),
    "BASE_BAR_MS": ("heatmaps.engine.inputs", "BASE_BAR_MS"),
    "DEFAULT_TIERS": ("heatmaps.engine.inputs", "DEFAULT_TIERS"),
    "MODEL_VERSION": ("heatmaps.engine.inputs", "MODEL_VERSION"),
    "TIMEFRAMES": ("heatmaps.engine.inputs", "TIMEFRAMES"),
    "BaseBars": ("heatmaps.engine.inputs", "BaseBars"),
    "Buckets": ("heatmaps.engine.inputs", "Buckets"),
    "FloatArray": ("heatmaps.engine.inputs", "FloatArray"),
    "IntArray": ("heatmaps.engine.inputs", "IntArray"),
    "ModelParams": ("heatmaps.engine.inputs", "ModelParams"),
    "Timeframe": ("heatmaps.engine.inputs", "Timeframe"),
    "aggregate": ("heatmaps.engine.inputs", "aggregate"),
    "carry_open_interest": ("heatmaps.engine.inputs", "carry_open_interest"),
    "HeatmapGrid": ("heatmaps.engine.model", "HeatmapGrid"),
    "compute_all_timeframes": ("heatmaps.engine.model", "compute_all_timeframes"),
    "compute_heatmap": ("heatmaps.engine.model", "compute_heatmap"),
    "price_edges": ("heatmaps.engine.model", "price_edges"),
    "DEFAULT_V2_TIERS": ("heatmaps.engine.model_v2", "DEFAULT_V2_TIERS"),
    "MODEL_V2_VERSION": ("heatmaps.engine.model_v2", "MODEL_V2_VERSION"),
    "ModelV2Params": ("heatmaps.engine.model_v2", "ModelV2Params"),
    "TierV2": ("heatmaps.engine.model_v2", "TierV2"),
    "compute_all_timeframes_v2": ("heatmaps.engine.model_v2", "compute_all_timeframes_v2"),
    "compute_heatmap_v2": ("heatmaps.engine.model_v2", "compute_heatmap_v2"),
    "GuardResult": ("heatmaps.engine.oi_guard", "GuardResult"),
    "guard_open_interest": ("heatmaps.engine.oi_guard", "guard_open_interest"),
    "bucket_last": ("heatmaps.engine.panels", "bucket_last"),
    "bucket_sum": ("heatmaps.engine.panels", "bucket_sum"),
    "MassBalance": ("heatmaps.engine.run", "MassBalance"),
    "ModelRun": ("heatmaps.engine.run", "ModelRun"),
    "run_end_state": ("heatmaps.engine.run", "run_end_state"),
    "run_model": ("heatmaps.engine.run", "run_model"),
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())


__all__ = [
    "BASE_BAR_MS",
    "DEFAULT_STEPS",
    "DEFAULT_TIERS",
    "DEFAULT_V2_TIERS",
    "FLOOR_RATIO",
    "GRID_LEVELS",
    "MAX_RELATIVE_ERROR",
    "MODEL_V2_VERSION",
    "MODEL_VERSION",
    "TIMEFRAMES",
    "BaseBars",
    "Buckets",
    "Cluster",
    "ColourScale",
    "FloatArray",
    "GuardResult",
    "HeatmapGrid",
    "IntArray",
    "LiquidationEvents",
    "LiquidationMap",
    "MagnetBacktest",
    "MassBalance",
    "ModelParams",
    "ModelRun",
    "ModelV2Params",
    "Steps",
    "TierV2",
    "Timeframe",
    "View",
    "aggregate",
    "backtest_magnets",
    "bucket_last",
    "bucket_sum",
    "carry_open_interest",
    "colour_scale",
    "compute_all_timeframes",
    "compute_all_timeframes_v2",
    "compute_heatmap",
    "compute_heatmap_v2",
    "decode_grid",
    "encode_grid",
    "find_clusters",
    "guard_open_interest",
    "last_column_at",
    "liquidation_map",
    "price_edges",
    "resolve_steps",
    "run_end_state",
    "run_model",
]
