"""The heat-map engine, model v1: pure numpy, no Django and nothing else of the project.

Arrays in, arrays out. ``inputs`` holds timeframes, model parameters and the bar aggregation,
``oi_guard`` the open-interest changes the market cannot have made, ``run`` the model's run over buckets, ``model`` the price grid and the maps per timeframe, ``derived`` what is read off a grid (liquidation map,
clusters, colour scale), ``gridcodec`` the compact storage form of a grid and ``backtest`` the
walk-forward test of the clusters against what price did next.
"""

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
from heatmaps.engine.oi_guard import GuardResult, guard_open_interest
from heatmaps.engine.panels import bucket_last, bucket_sum
from heatmaps.engine.run import MassBalance, ModelRun, run_end_state, run_model

__all__ = [
    "BASE_BAR_MS",
    "DEFAULT_STEPS",
    "DEFAULT_TIERS",
    "FLOOR_RATIO",
    "GRID_LEVELS",
    "MAX_RELATIVE_ERROR",
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
    "Steps",
    "Timeframe",
    "View",
    "aggregate",
    "backtest_magnets",
    "bucket_last",
    "bucket_sum",
    "carry_open_interest",
    "colour_scale",
    "compute_all_timeframes",
    "compute_heatmap",
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
