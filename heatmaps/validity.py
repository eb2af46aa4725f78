"""Model validity: load an asset's history → the engine's walk-forward backtest → store the report.

Like ``maps.py`` for the maps, this is the one place where the backtest meets the ORM. The report
is the ``backtest_magnets`` command's JSON (its shape is documented in docs/model.md) and is stored
whole per asset × timeframe; pages read it back and say it in words.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from heatmaps import engine
from heatmaps.engine import calibration
from heatmaps.engine.backtest import backtest_variants, league_table
from heatmaps.maps import MODEL, asset_params, load_base_bars, newest_bar_time
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, Backtest, Liquidation

log = logging.getLogger(__name__)

HISTORY_DAYS = 365  # steps cover at most the last year; older data only warms the first maps up
MIN_STEPS = 20  # fewer steps than this say nothing; such a run is not stored
NEGLIGIBLE_SHARE = 0.005  # half a point: an excess share whose interval ends closer to 0 touches it
NEGLIGIBLE_LOG_LOSS = 0.001  # nats per event; the same for log-loss
NEGLIGIBLE_BRIER = 0.001  # a Brier difference whose whole interval is smaller than this is not worth a verdict


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
) -> dict[str, Any] | None:
    """The report of one walk-forward backtest over the last ``days`` of the stored history, or None
    when the asset has no candles. With ``league``, the leverage bands are scored on the same steps
    and ranked with the whole map (``league``); ``leverages`` scores one band as the report itself."""
    if timeframe not in engine.TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}; choose from {', '.join(engine.TIMEFRAMES)}")
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
    events = _liquidations(asset=asset, exchanges=loaded.oi_exchanges or [loaded.candle_exchange], bars=bars)
    bands = leverage_bands(params) if league and leverages is None else []
    results = backtest_variants(
        bars=bars,
        timeframe=tf,
        params=params,
        every_ms=every_ms,
        horizon_ms=horizon_ms,
        start_ms=dt_to_ms(first_step),
        liquidations=events,
        bands=[leverages, *(band for _, band in bands)],
        seed=seed,
    )
    model = MODEL if leverages is None else f"{MODEL} {leverages[0]:g}–{leverages[1]:g}x"
    table = None
    if bands:
        table = league_table(
            [(MODEL, results[0].summary)]
            + [(f"{MODEL} {label}", r.summary) for (label, _), r in zip(bands, results[1:], strict=True)]
        )
    return {
        "asset": asset.symbol,
        "timeframe": timeframe,
        "model": model,
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
        **results[0].summary,
        "league": table,
    }


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
    *, asset: Asset, timeframe: str, every_ms: int | None = None, horizon_ms: int | None = None
) -> Backtest | None:
    """Run and store the backtest of one asset × timeframe, replacing the previous one whole.

    Nothing is stored (and the previous report stays) when the history is too short for
    ``MIN_STEPS`` steps."""
    report = backtest_run(asset=asset, timeframe=timeframe, every_ms=every_ms, horizon_ms=horizon_ms)
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
        backtest, _ = Backtest.objects.update_or_create(asset=asset, timeframe=timeframe, model=MODEL, defaults=values)
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


def duration_words(seconds: int) -> str:
    """4-hour, 1-day, 30-minute: the step and horizon as a reader says them."""
    for unit, label in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % unit == 0:
            return f"{seconds // unit}-{label}"
    return f"{seconds}-second"


def duration_plain(seconds: int) -> str:
    """24 hours, 2 days, 30 minutes."""
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    return f"{seconds // 60} minutes"


MIN_VERDICT_BLOCKS = 10  # fewer resampled day blocks than this: an interval is shown but carries no verdict


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _pct_ci(ci: list[float] | None) -> str:
    return "no interval" if not ci else f"95 % interval {ci[0] * 100:.0f}–{ci[1] * 100:.0f} %"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def _verdict(ci: list[float] | None, *, blocks: int, better_below: bool, negligible: float) -> str:
    """What an interval of a difference says, in words; ``better_below``: a negative difference is a gain.

    An end within ``negligible`` of 0 counts as touching it: with near-certain outcomes a percentile
    bootstrap can end a hair's breadth short of 0, and that is no evidence of a difference."""
    if not ci:
        return "no interval"
    if blocks < MIN_VERDICT_BLOCKS:
        return f"only {blocks} day blocks: too few for a verdict"
    if max(abs(ci[0]), abs(ci[1])) < negligible:
        return "no practical difference from distance alone"
    below, above = ci[1] < -negligible, ci[0] > negligible
    gain, loss = (below, above) if better_below else (above, below)
    if gain:
        return "the cluster sizes added to what distance predicts"
    if loss:
        return "worse than distance alone"
    return "not distinguishable from distance alone"


def _comparison_words(c: dict[str, Any], *, blocks: int, label: str = "") -> str:
    ll, br, r2 = c["log_loss"], c["brier"], c["pseudo_r2"]
    lci, bci, rci = c["log_loss_difference_ci95"], c["brier_difference_ci95"], r2["incremental_ci95"]
    fmt = lambda ci: "no interval" if not ci else f"{ci[0]:+.4f} to {ci[1]:+.4f}"  # noqa: E731
    return (
        f"{label}Log-loss over the last {c['scored_events']} events: {ll['model']:.4f} with the cluster sizes, "
        f"{ll['baseline']:.4f} with distance alone (difference {c['log_loss_difference']:+.4f}, 95 % interval "
        f"{fmt(lci)}: {_verdict(lci, blocks=blocks, better_below=True, negligible=NEGLIGIBLE_LOG_LOSS)}); Brier score {br['model']:.4f} against "
        f"{br['baseline']:.4f} (difference {c['brier_difference']:+.4f}, 95 % interval {fmt(bci)}: "
        f"{_verdict(bci, blocks=blocks, better_below=True, negligible=NEGLIGIBLE_BRIER)}; lower is better). "
        f"Incremental pseudo-R² of the sizes over distance: {r2['incremental']:+.4f} (95 % interval {fmt(rci)}; "
        "the published figure for liquidation maps is about +0.005)."
    )


def plain_words(report: dict[str, Any]) -> list[str]:
    """The report as a few sentences a trader can read; every figure with its unit and, where it is a
    share or a difference, its 95 % interval."""
    steps, first, same = report["steps"], report["first_reach"], report["same_distance"]
    every = duration_words(report["every_seconds"])
    horizon_plain = duration_plain(report["horizon_seconds"])
    if "comparison" not in report:
        return [
            f"Over {steps['total']} {every} steps of the {report['timeframe']} map (a report stored before "
            "events and day-block intervals were introduced; it is replaced at the next daily run)."
        ]
    blocks = first["blocks"]
    out = []
    if first["events"]:
        excess, eci = first["excess_bigger_first"], first["excess_bigger_first_ci95"]
        out.append(
            f"Over {steps['total']} {every} steps of the {report['timeframe']} map, price reached one of the two "
            f"largest clusters (above and below) within {horizon_plain} at {steps['resolved']} steps; counting "
            f"steps that aimed at the same wall and were resolved by the same touch once, that is "
            f"{first['events']} distinct events over {blocks} day blocks."
        )
        out.append(
            f"Price reached the bigger cluster first in {_pct(first['share_bigger_first'])} of events "
            f"({_pct_ci(first['share_bigger_first_ci95'])}); distance alone predicts "
            f"{_pct(first['baseline_share_bigger_first'])}. The excess is {_points(excess)} points"
            + (
                f" (95 % interval {_points(eci[0])} to {_points(eci[1])}: "
                f"{_verdict(eci, blocks=blocks, better_below=False, negligible=NEGLIGIBLE_SHARE)})."
                if eci
                else "."
            )
        )
    else:
        out.append(
            f"Over {steps['total']} {every} steps of the {report['timeframe']} map, price never reached either of "
            f"the two largest clusters within {horizon_plain}."
        )
    compared = report["comparison"]
    if compared is not None:
        out.append(
            f"A model free to weigh the cluster sizes (fitted on the first {compared['fit_events']} events, of which "
            f"distance alone left {compared['fit_events_in_doubt']} in doubt between 10 and 90 %; size coefficient "
            f"{compared['coef']['log_usd_ratio']:+.2f}) against distance alone, refitted the same way. "
            + _comparison_words(compared, blocks=blocks)
        )
    elif first["events"]:
        out.append(
            f"Too few events to weigh the cluster sizes against distance ({first['events']}; at least "
            f"{2 * engine.backtest.MIN_FIT_EVENTS} needed)."
        )
    regimes = report["regimes"]
    for key, label in (("calm", "Calm days"), ("cascade", "Cascade days")):
        row = regimes[key]
        text = f"{label} ({row['days']}): {row['events']} events"
        if row["events"]:
            text += (
                f", the bigger cluster first in {_pct(row['share_bigger_first'])} "
                f"({_pct_ci(row['share_bigger_first_ci95'])}), distance alone {_pct(row['baseline_share_bigger_first'])}"
            )
        c = row.get("comparison")
        if c is not None:
            r2 = c["pseudo_r2"]
            ci = r2["incremental_ci95"]
            text += f"; incremental pseudo-R² {r2['incremental']:+.4f}" + (
                f" ({ci[0]:+.4f} to {ci[1]:+.4f}) over {c['scored_events']} scored events" if ci else ""
            )
        out.append(text + ".")
    sci = same.get("difference_ci95")
    if same.get("hit_rate") is not None and sci:
        out.append(
            f"The largest cluster was reached within {horizon_plain} at {_pct(same['hit_rate'])} of steps "
            f"({_pct_ci(same.get('hit_rate_ci95'))}); a level at the same distance on the same side was reached at "
            f"{_pct(same['baseline_hit_rate'])} of step times (difference {_points(same['difference'])} points, "
            f"95 % interval {_points(sci[0])} to {_points(sci[1])})."
        )
    mvr = report.get("modelled_vs_realised")
    if mvr is None or not mvr["sweeps"]:
        out.append(
            "No liquidation events were recorded while clusters were reached, so modelled and recorded USD are not compared."
        )
    else:
        ratio = "–" if mvr["ratio"] is None else f"{mvr['ratio']:.2f}"
        corr = "–" if mvr["correlation"] is None else f"{mvr['correlation']:.2f}"
        out.append(
            f"Over {mvr['sweeps']} sweeps with recorded liquidations, the recorded USD was {ratio} × the modelled USD "
            f"(median per sweep {mvr['median_ratio']:.2f}, correlation {corr})."
            if mvr["median_ratio"] is not None
            else f"Over {mvr['sweeps']} sweeps the model had no USD between the price and the cluster."
        )
    return out


def league_words(report: dict[str, Any]) -> list[str]:
    """The league table as lines: each variant's events and incremental pseudo-R² with its interval."""
    table = report.get("league")
    if not table:
        return []
    out = [
        "Variants on the same steps, ranked by the incremental pseudo-R² of the cluster sizes over distance "
        "(95 % interval; the best is marked only where its interval lies above every other's by more than 0.001):"
    ]
    for row in table:
        r2, ci = row["incremental_pseudo_r2"], row["incremental_pseudo_r2_ci95"]
        figure = (
            "too few events to score"
            if r2 is None
            else f"{r2:+.4f}" + (f" ({ci[0]:+.4f} to {ci[1]:+.4f})" if ci else "")
        )
        mark = "  ← best" if row["best"] else ""
        out.append(
            f"  {row['variant']}: {row['events']} events, bigger first {_pct(row['share_bigger_first'])} "
            f"({_pct_ci(row['share_bigger_first_ci95'])}), pseudo-R² {figure}{mark}"
        )
    if not any(row["best"] for row in table):
        out.append("  No variant stands out: the intervals overlap.")
    return out


CALIBRATION_DAYS = 365


def calibration_run(*, asset: Asset, days: int = CALIBRATION_DAYS) -> dict[str, Any]:
    """Fit the tier weights of ``asset`` to its recorded liquidations over the last ``days``
    (heatmaps/engine/calibration.py). Raises ValueError, with the reason in words, when the fit is
    refused: no history, simulated open interest, or too few recorded liquidations."""
    started = time.perf_counter()
    newest = newest_bar_time(asset=asset)
    if newest is None:
        raise ValueError(f"{asset.symbol}: no stored candles")
    since = newest - timedelta(days=days)
    loaded = load_base_bars(asset=asset, since=since)
    if loaded is None:
        raise ValueError(f"{asset.symbol}: no stored candles")
    if loaded.oi_simulated:
        raise ValueError(
            f"{asset.symbol}: refused — its open interest is simulated; a model card fitted beside a synthetic "
            "series would describe that series, not the market. Import real open interest first (docs/model.md)."
        )
    bars = loaded.bars
    start, end = ms_to_dt(int(bars.open_time[0])), ms_to_dt(int(bars.open_time[-1]) + engine.BASE_BAR_MS)
    rows = list(
        Liquidation.objects.filter(asset=asset, time__gte=start, time__lt=end)
        .order_by("time")
        .values_list("time", "side", "price", "value", "exchange__code")
    )
    feeds: dict[str, int] = {}
    for row in rows:
        feeds[row[4]] = feeds.get(row[4], 0) + 1
    if len(rows) < calibration.MIN_EVENTS:
        raise ValueError(
            f"{asset.symbol}: refused — {len(rows)} recorded liquidations in the last {days} days; at least "
            f"{calibration.MIN_EVENTS} are needed (run stream_liquidations to record them)."
        )
    params = asset_params(asset)
    fit = calibration.calibrate_tiers(
        time_ms=np.array([dt_to_ms(r[0]) for r in rows], dtype=np.int64),
        price=np.array([r[2] for r in rows], dtype=np.float64),
        long=np.array([r[1] == Liquidation.Side.LONG for r in rows]),
        usd=np.array([r[3] for r in rows], dtype=np.float64),
        bar_open_time=bars.open_time,
        bar_high=bars.high,
        bar_low=bars.low,
        bar_close=bars.close,
        params=params,
    )
    if fit is None:
        raise ValueError(
            f"{asset.symbol}: refused — fewer than {calibration.MIN_EVENTS} recorded liquidations imply a leverage "
            "(the rest lay beyond the trailing extreme or had no history before them)."
        )
    return {
        "asset": asset.symbol,
        "computed_at_ms": dt_to_ms(timezone.now()),
        "compute_ms": round((time.perf_counter() - started) * 1000, 1),
        "data": {"start_ms": int(bars.open_time[0]), "end_ms": int(bars.open_time[-1]), "bars": len(bars)},
        "liquidation_feeds": feeds,
        "fit": {
            "leverages": list(fit.leverages),
            "current": list(fit.current),
            "liquidated_mix": list(fit.liquidated_mix),
            "resting_mix": list(fit.resting_mix),
            "fitted": list(fit.fitted),
            "shrink": fit.shrink,
            "held_out_current": fit.held_out_current,
            "held_out_fitted": fit.held_out_fitted,
            "adopt": fit.adopt,
            "events": fit.events,
            "skipped": fit.skipped,
            "fit_events": fit.fit_events,
            "scored_events": fit.scored_events,
        },
    }


def calibration_words(report: dict[str, Any]) -> list[str]:
    fit = report["fit"]
    feeds = ", ".join(f"{code} {n}" for code, n in sorted(report["liquidation_feeds"].items()))
    tiers = lambda mix: ", ".join(f"{lev:g}x {w * 100:.0f} %" for lev, w in zip(fit["leverages"], mix, strict=True))  # noqa: E731
    out = [
        f"{report['asset']}: {fit['events']} recorded liquidations imply a leverage ({fit['skipped']} did not); feeds: "
        f"{feeds}. Binance publishes at most one liquidation per symbol per second, so its feed is sampled and "
        "Bybit's and OKX's carry the volumes.",
        f"As liquidated: {tiers(fit['liquidated_mix'])}.",
        f"At rest, de-biased by the chance of price reaching each tier (earlier {fit['fit_events']} events): "
        f"{tiers(fit['resting_mix'])}.",
        f"Current weights: {tiers(fit['current'])}; fitted ({fit['shrink']:.1f} of the way to the estimate): "
        f"{tiers(fit['fitted'])}.",
        f"Held-out score over the later {fit['scored_events']} events (mean log-likelihood per event, higher is "
        f"better): current {fit['held_out_current']:.3f}, fitted {fit['held_out_fitted']:.3f} — "
        + (
            "adopt the fit (it beats the current weights by more than 0.01)."
            if fit["adopt"]
            else "keep the current weights."
        ),
    ]
    return out
