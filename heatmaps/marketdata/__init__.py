"""Market data at rest: the normalised rows' tables, how rows get in and what is read back out.

``store`` writes rows (idempotent upserts) and imports dump files all-or-nothing, ``plausibility``
judges candles (OHLC consistency, jumps against recent volatility) before they are stored, ``dumpfiles`` and
``dumpcolumns`` read Binance dump files (row by row, or columnar straight into numpy),
``base_bars`` loads an asset's 5-minute bars as the engine takes them,
``coverage`` reports spans and gaps, ``aggregation`` sums the latest figures over exchanges,
``sample`` loads the bundled sample set, ``series`` reads an asset's recent bars, open interest and
funding as arrays, ``panels`` puts OI, funding and volume on a map's columns and ``summary`` keeps
the overview's one row per asset, and
``partitions`` keeps the monthly partitions of the 5-minute series (PostgreSQL): created ahead,
strays rescued from DEFAULT, expired months dropped.
"""

from heatmaps.marketdata.aggregation import Snapshot, market_snapshot
from heatmaps.marketdata.assets import asset_add, split_symbol
from heatmaps.marketdata.coverage import Coverage, Gap, SpanSummary, data_coverage, find_gaps, span_summary
from heatmaps.marketdata.dumpcolumns import KlineColumns, MetricsColumns, read_kline_columns, read_metrics_columns
from heatmaps.marketdata.dumpfiles import DumpFormatError, ParsedFile, read_market_file
from heatmaps.marketdata.panels import map_panels
from heatmaps.marketdata.partitions import (
    Created,
    Partition,
    drop_expired_partitions,
    ensure_partitions,
    list_partitions,
    partitioning_active,
)
from heatmaps.marketdata.plausibility import CandleProblem, Candles, candle_problems
from heatmaps.marketdata.sample import SAMPLE_ASSETS, ensure_sample_assets, load_sample_data
from heatmaps.marketdata.series import (
    RecentBars,
    RecentMarket,
    RecordedLiquidations,
    recent_market,
    recorded_liquidations,
)
from heatmaps.marketdata.store import (
    ImportProblem,
    ImportResult,
    dt_to_ms,
    import_market_file,
    insert_liquidations,
    liquidation_prints,
    ms_to_dt,
    stored_candles_before,
    upsert_candles,
    upsert_funding,
    upsert_open_interest,
)
from heatmaps.marketdata.summary import SUMMARY_TIMEFRAMES, asset_summary_refresh

__all__ = [
    "SAMPLE_ASSETS",
    "SUMMARY_TIMEFRAMES",
    "CandleProblem",
    "Candles",
    "Coverage",
    "Created",
    "DumpFormatError",
    "Gap",
    "ImportProblem",
    "ImportResult",
    "KlineColumns",
    "MetricsColumns",
    "ParsedFile",
    "Partition",
    "RecentBars",
    "RecentMarket",
    "RecordedLiquidations",
    "Snapshot",
    "SpanSummary",
    "asset_add",
    "asset_summary_refresh",
    "candle_problems",
    "data_coverage",
    "drop_expired_partitions",
    "dt_to_ms",
    "ensure_partitions",
    "ensure_sample_assets",
    "find_gaps",
    "import_market_file",
    "insert_liquidations",
    "liquidation_prints",
    "list_partitions",
    "load_sample_data",
    "map_panels",
    "market_snapshot",
    "ms_to_dt",
    "partitioning_active",
    "read_kline_columns",
    "read_market_file",
    "read_metrics_columns",
    "recent_market",
    "recorded_liquidations",
    "span_summary",
    "split_symbol",
    "stored_candles_before",
    "upsert_candles",
    "upsert_funding",
    "upsert_open_interest",
]
