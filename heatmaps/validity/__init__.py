"""Model validity: load an asset's history → the engine's walk-forward backtest → store the report.

Like ``maps.py`` for the maps, this is the one place where the backtest meets the ORM. The report
is the ``backtest_magnets`` command's JSON (its shape is documented in docs/model.md) and is stored
whole per asset × timeframe; pages read it back and say it in words. ``backtests`` loads, runs and
stores; ``words`` says a report in sentences; ``calibration`` fits the tier weights to recorded
liquidations.
"""

from heatmaps.validity.backtests import (
    HISTORY_DAYS,
    MIN_STEPS,
    backtest_run,
    backtest_store,
    latest_backtests,
    leverage_bands,
    personal_league,
)
from heatmaps.validity.calibration import CALIBRATION_DAYS, calibration_run, calibration_words
from heatmaps.validity.words import (
    MIN_VERDICT_BLOCKS,
    NEGLIGIBLE_BRIER,
    NEGLIGIBLE_LOG_LOSS,
    NEGLIGIBLE_SHARE,
    duration_plain,
    duration_words,
    league_words,
    plain_words,
    signed,
)

__all__ = [
    "CALIBRATION_DAYS",
    "HISTORY_DAYS",
    "MIN_STEPS",
    "MIN_VERDICT_BLOCKS",
    "NEGLIGIBLE_BRIER",
    "NEGLIGIBLE_LOG_LOSS",
    "NEGLIGIBLE_SHARE",
    "backtest_run",
    "backtest_store",
    "calibration_run",
    "calibration_words",
    "duration_plain",
    "duration_words",
    "latest_backtests",
    "league_words",
    "leverage_bands",
    "personal_league",
    "plain_words",
    "signed",
]
