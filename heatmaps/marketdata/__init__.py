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

# Loaded on first use (PEP 562): a command that reads dump files needs none of the
# database modules, and the admin needs one or two.
from __future__ import annotations

from typing import TYPE_CHECKING

from heatmaps.lazy import lazy_exports

if TYPE_CHECKING:
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

_WHERE: dict[str, tuple[str, str]] = {
    "Snapshot": ("heatmaps.marketdata.aggregation", "Snapshot"),
    "market_snapshot": ("heatmaps.marketdata.aggregation", "market_snapshot"),
    "asset_add": ("heatmaps.marketdata.assets", "asset_add"),
    "split_symbol": ("heatmaps.marketdata.assets", "split_symbol"),
    "Coverage": ("heatmaps.marketdata.coverage", "Coverage"),
    "Gap": ("heatmaps.marketdata.coverage", "Gap"),
    "SpanSummary": ("heatmaps.marketdata.coverage", "SpanSummary"),
    "data_coverage": ("heatmaps.marketdata.coverage", "data_coverage"),
    "find_gaps": ("heatmaps.marketdata.coverage", "find_gaps"),
    "span_summary": ("heatmaps.marketdata.coverage", "span_summary"),
    "KlineColumns": ("heatmaps.marketdata.dumpcolumns", "KlineColumns"),
    "MetricsColumns": ("heatmaps.marketdata.dumpcolumns", "MetricsColumns"),
    "read_kline_columns": ("heatmaps.marketdata.dumpcolumns", "read_kline_columns"),
    "read_metrics_columns": ("heatmaps.marketdata.dumpcolumns", "read_metrics_columns"),
    "DumpFormatError": ("heatmaps.marketdata.dumpfiles", "DumpFormatError"),
    "ParsedFile": ("heatmaps.marketdata.dumpfiles", "ParsedFile"),
    "read_market_file": ("heatmaps.marketdata.dumpfiles", "read_market_file"),
    "map_panels": ("heatmaps.marketdata.panels", "map_panels"),
    "Created": ("heatmaps.marketdata.partitions", "Created"),
    "Partition": ("heatmaps.marketdata.partitions", "Partition"),
    "drop_expired_partitions": ("heatmaps.marketdata.partitions", "drop_expired_partitions"),
    "ensure_partitions": ("heatmaps.marketdata.partitions", "ensure_partitions"),
    "list_partitions": ("heatmaps.marketdata.partitions", "list_partitions"),
    "partitioning_active": ("heatmaps.marketdata.partitions", "partitioning_active"),
    "CandleProblem": ("heatmaps.marketdata.plausibility", "CandleProblem"),
    "Candles": ("heatmaps.marketdata.plausibility", "Candles"),
    "candle_problems": ("heatmaps.marketdata.plausibility", "candle_problems"),
    "SAMPLE_ASSETS": ("heatmaps.marketdata.sample", "SAMPLE_ASSETS"),
    "ensure_sample_assets": ("heatmaps.marketdata.sample", "ensure_sample_assets"),
    "load_sample_data": ("heatmaps.marketdata.sample", "load_sample_data"),
    "RecentBars": ("heatmaps.marketdata.series", "RecentBars"),
    "RecentMarket": ("heatmaps.marketdata.series", "RecentMarket"),
    "RecordedLiquidations": ("heatmaps.marketdata.series", "RecordedLiquidations"),
    "recent_market": ("heatmaps.marketdata.series", "recent_market"),
    "recorded_liquidations": ("heatmaps.marketdata.series", "recorded_liquidations"),
    "ImportProblem": ("heatmaps.marketdata.store", "ImportProblem"),
    "ImportResult": ("heatmaps.marketdata.store", "ImportResult"),
    "dt_to_ms": ("heatmaps.marketdata.store", "dt_to_ms"),
    "import_market_file": ("heatmaps.marketdata.store", "import_market_file"),
    "insert_liquidations": ("heatmaps.marketdata.store", "insert_liquidations"),
    "liquidation_prints": ("heatmaps.marketdata.store", "liquidation_prints"),
    "ms_to_dt": ("heatmaps.marketdata.store", "ms_to_dt"),
    "stored_candles_before": ("heatmaps.marketdata.store", "stored_candles_before"),
    "upsert_candles": ("heatmaps.marketdata.store", "upsert_candles"),
    "upsert_funding": ("heatmaps.marketdata.store", "upsert_funding"),
    "upsert_open_interest": ("heatmaps.marketdata.store", "upsert_open_interest"),
    "SUMMARY_TIMEFRAMES": ("heatmaps.marketdata.summary", "SUMMARY_TIMEFRAMES"),
    "asset_summary_refresh": ("heatmaps.marketdata.summary", "asset_summary_refresh"),
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())


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
