"""The walk-forward backtests in the product: load an asset's history → the engine → store the report."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from heatmaps import engine
from heatmaps.engine.backtest import MagnetBacktest, backtest_variants, league_table
from heatmaps.engine.backtest.league import league_row, mark_best
from heatmaps.engine.backtest.v2 import v2_bars, v2_column_at
from heatmaps.maps import MODEL, MODEL_V2, asset_params, default_v2_params, load_base_bars, newest_bar_time
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, Backtest, Liquidation

if TYPE_CHECKING:
    from heatmaps.engine.model_v2 import ModelV2Params

log = logging.getLogger(__name__)

HISTORY_DAYS = 365  # steps cover at most the last year; older data only warms the first maps up
MODELS = (MODEL, MODEL_V2)
PERSONAL_CACHE_SECONDS = 24 * 3600  # a stored backtest is replaced daily; its key changes with it
MIN_STEPS = 20  # fewer steps than this say nothing; such a run is not stored


def leverage_bands(params: engine.ModelParams) -> list[tuple[str, tuple[float, float]]]:
    """The leverage-filter bands the league table ranks, named by the tiers they hold: at most 10x,
    above 10x and below 50x, 50x and above (a band without a tier is left out)."""
    out = []
    for lo, hi in ((1.0, 10.0), (10.000001, 49.999999), (50.0, 1e9)):
        held = [lev for lev in params.leverages if lo <= lev <= hi]
        if held:
            label = f"{min(held):g}x" if len(held) == 1 else f"{min(held):g}–{max(held):g}x"
            out.append((label, (lo, hi)))
    return out


def backtest_run(
    *,
    asset: Asset,
    timeframe: str,
    every_ms: int | None = None,
    horizon_ms: int | None = None,
    days: int = HISTORY_DAYS,
    league: bool = True,
    leverages: tuple[float, float] | None = None,
    seed: int = 0,
    model: str = MODEL,
    extra: Sequence[tuple[str, ModelV2Params]] = (),
) -> dict[str, Any] | None:
    """The report of one walk-forward backtest of ``model`` (v1 or v2, the asset's parameters) over
    the last ``days`` of the stored history, or None when the asset has no candles. With ``league``,
    v1, each leverage band of v1, v2 and the ``extra`` models (name, model-v2 parameters) are scored
    on the same steps and ranked (``league``); ``leverages`` scores one band of ``model`` as the
    report itself."""
    if timeframe not in engine.TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}; choose from {', '.join(engine.TIMEFRAMES)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    tf = engine.TIMEFRAMES[timeframe]
    every_ms, horizon_ms = engine.resolve_steps(tf, every_ms, horizon_ms)
    started = time.perf_counter()
    newest = newest_bar_time(asset=asset)
    if newest is None:
        return None
    first_step = newest - timedelta(days=days)
    # A full warm-up and window before the first step, and a bucket of slack for alignment.
    loaded = load_base_bars(asset=asset, since=first_step - timedelta(milliseconds=2 * tf.window_ms + tf.bar_ms))
    if loaded is None:
        return None
    bars = loaded.bars
    params = asset_params(asset)
    v2 = default_v2_params(asset)
    events = _liquidations(asset=asset, exchanges=loaded.oi_exchanges or [loaded.candle_exchange], bars=bars)
    ranked = league and leverages is None
    bands = leverage_bands(params) if ranked else []
    common: dict[str, Any] = {
        "timeframe": tf,
        "every_ms": every_ms,
        "horizon_ms": horizon_ms,
        "start_ms": dt_to_ms(first_step),
        "liquidations": events,
        "seed": seed,
    }
    rows: list[tuple[str, MagnetBacktest]] = []
    if model == MODEL or ranked:
        results = backtest_variants(
            bars=bars,
            params=params,
            bands=[leverages if model == MODEL else None, *(band for _, band in bands)],
            **common,
        )
        rows += [(MODEL, results[0])] + [
            (f"{MODEL} {label}", r) for (label, _), r in zip(bands, results[1:], strict=True)
        ]
    if model == MODEL_V2 or ranked:
        rows.append(
            (MODEL_V2, v2_backtest(bars=bars, params=v2, leverages=leverages if model == MODEL_V2 else None, **common))
        )
    for name, extra_params in extra if ranked else ():
        rows.append((name, v2_backtest(bars=bars, params=extra_params, **common)))
    report_of = dict(rows)[model]
    name = model if leverages is None else f"{model} {leverages[0]:g}–{leverages[1]:g}x"
    table = league_table([(n, r.summary) for n, r in rows]) if ranked else None
    return {
        "asset": asset.symbol,
        "timeframe": timeframe,
        "model": name,
        "every_seconds": every_ms // 1000,
        "horizon_seconds": horizon_ms // 1000,
        "computed_at_ms": dt_to_ms(timezone.now()),
        "compute_ms": round((time.perf_counter() - started) * 1000, 1),
        "data": {
            "start_ms": int(bars.open_time[0]),
            "end_ms": int(bars.open_time[-1]),
            "bars": len(bars),
            "candle_exchange": loaded.candle_exchange,
            "oi_exchanges": loaded.oi_exchanges,
            "oi_simulated": loaded.oi_simulated,
            "liquidations": None
            if events is None
            else {"events": int(events.time_ms.shape[0]), "start_ms": events.start_ms, "end_ms": events.end_ms},
        },
        **({"params": v2.to_json()} if model == MODEL_V2 else {}),
        **report_of.summary,
        "league": table,
    }


def v2_backtest(
    *,
    bars: engine.Buckets,
    params: ModelV2Params,
    leverages: tuple[float, float] | None = None,
    **common: Any,
) -> MagnetBacktest:
    """The walk-forward backtest of model v2 with ``params`` (``common``: backtest_variants' step,
    horizon, start, liquidations and seed), on the same steps as v1's with the same arguments."""
    params = params.validate()
    return backtest_variants(
        bars=v2_bars(bars),
        params=params.v1_params(),
        column_at=v2_column_at(params),
        bands=[leverages],
        **common,
    )[0]


def personal_league(*, backtest: Backtest, models: Sequence[tuple[str, ModelV2Params]]) -> list[dict[str, Any]] | None:
    """``backtest``'s league with ``models`` (name, model-v2 parameters) added, each scored on the
    stored report's own steps (same data span, step, horizon, first step and seed) and the whole
    table ranked anew; None when the report has no league. Computed on demand, cached per stored
    report and parameters: the row depends on the parameters only, never on who asks."""
    report = backtest.report
    if not report.get("league"):
        return None
    rows = [dict(row) for row in report["league"]]
    for name, params in models:
        key = f"personal-league:{backtest.pk}:{report['computed_at_ms']}:{params.validate().cache_key()}"
        row = cache.get(key)
        if row is None:
            row = league_row("", _replayed(backtest=backtest, params=params).summary)
            cache.set(key, row, PERSONAL_CACHE_SECONDS)
        rows.append({**row, "variant": name, "personal": True})
    return mark_best(rows)


def _replayed(*, backtest: Backtest, params: ModelV2Params) -> MagnetBacktest:
    """Model v2 with ``params`` walked over exactly the history and steps ``backtest`` was run on."""
    asset, report = backtest.asset, backtest.report
    loaded = load_base_bars(asset=asset, since=backtest.data_start)
    if loaded is None:
        raise ValueError(f"{asset.symbol}: the stored history of this backtest is gone")
    end = int(np.searchsorted(loaded.bars.open_time, dt_to_ms(backtest.data_end), side="right"))
    bars = loaded.bars.slice(0, end)
    events = _liquidations(asset=asset, exchanges=backtest.oi_exchanges or [backtest.candle_exchange], bars=bars)
    return v2_backtest(
        bars=bars,
        params=params,
        timeframe=backtest.timeframe,
        every_ms=backtest.every_seconds * 1000,
        horizon_ms=backtest.horizon_seconds * 1000,
        start_ms=report["steps"]["first_ms"],
        liquidations=events,
        seed=0,
    )


def _liquidations(*, asset: Asset, exchanges: list[str], bars: engine.Buckets) -> engine.LiquidationEvents | None:
    """Recorded liquidations of the exchanges whose open interest fed the map, over the bars' span.

    The recording is taken to cover its first to its last event: a sweep outside that span has no
    realised figure, and a pause of the recorder inside it reads as no liquidations.
    """
    start, end = ms_to_dt(int(bars.open_time[0])), ms_to_dt(int(bars.open_time[-1]) + engine.BASE_BAR_MS)
    rows = list(
        Liquidation.objects.filter(asset=asset, exchange__code__in=exchanges, time__gte=start, time__lt=end)
        .order_by("time")
        .values_list("time", "side", "value")
    )
    if not rows:
        return None
    times = np.array([dt_to_ms(r[0]) for r in rows], dtype=np.int64)
    return engine.LiquidationEvents(
        time_ms=times,
        long=np.array([r[1] == Liquidation.Side.LONG for r in rows]),
        usd=np.array([r[2] for r in rows], dtype=np.float64),
        start_ms=int(times[0]),
        end_ms=int(times[-1]),
    )


def backtest_store(
    *,
    asset: Asset,
    timeframe: str,
    every_ms: int | None = None,
    horizon_ms: int | None = None,
    model: str = MODEL,
) -> Backtest | None:
    """Run and store the backtest of one asset × timeframe × model, replacing the previous one whole.

    Nothing is stored (and the previous report stays) when the history is too short for
    ``MIN_STEPS`` steps."""
    report = backtest_run(asset=asset, timeframe=timeframe, every_ms=every_ms, horizon_ms=horizon_ms, model=model)
    if report is None or report["steps"]["total"] < MIN_STEPS:
        log.info("%s %s: too little history for a backtest", asset.symbol, timeframe)
        return None
    data = report["data"]
    values: dict[str, Any] = {
        "computed_at": ms_to_dt(report["computed_at_ms"]),
        "compute_ms": report["compute_ms"],
        "every_seconds": report["every_seconds"],
        "horizon_seconds": report["horizon_seconds"],
        "steps": report["steps"]["total"],
        "data_start": ms_to_dt(data["start_ms"]),
        "data_end": ms_to_dt(data["end_ms"]),
        "candle_exchange": data["candle_exchange"],
        "oi_exchanges": data["oi_exchanges"],
        "oi_simulated": data["oi_simulated"],
        "liquidations_recorded": data["liquidations"] is not None,
        "report": report,
    }
    with transaction.atomic():
        backtest, _ = Backtest.objects.update_or_create(asset=asset, timeframe=timeframe, model=model, defaults=values)
    return backtest


def latest_backtests(*, assets: list[Asset]) -> dict[int, list[Backtest]]:
    """Per asset id, its stored backtests in the order of the timeframes."""
    order = {key: i for i, key in enumerate(engine.TIMEFRAMES)}
    out: dict[int, list[Backtest]] = {a.pk: [] for a in assets}
    for b in Backtest.objects.filter(asset__in=assets, model=MODEL):
        out[b.asset_id].append(b)
    for rows in out.values():
        rows.sort(key=lambda b: order.get(b.timeframe, len(order)))
    return out
