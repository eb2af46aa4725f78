"""A stored backtest report in words: the sentences the command prints and the pages show."""

from __future__ import annotations

from typing import Any

from heatmaps import engine

NEGLIGIBLE_SHARE = 0.005  # half a point: an excess share whose interval ends closer to 0 touches it
NEGLIGIBLE_LOG_LOSS = 0.001  # nats per event; the same for log-loss
NEGLIGIBLE_BRIER = 0.001  # a Brier difference whose whole interval is smaller than this is not worth a verdict
MIN_VERDICT_BLOCKS = 10  # fewer resampled day blocks than this: an interval is shown but carries no verdict


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


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _pct_ci(ci: list[float] | None) -> str:
    return "no interval" if not ci else f"95 % interval {ci[0] * 100:.0f}–{ci[1] * 100:.0f} %"


def signed(value: float, digits: int = 4) -> str:
    """``+0.0123``; a value that rounds to zero is ``0.0000``, without a sign that would mislead."""
    text = f"{value:+.{digits}f}"
    return f"{0:.{digits}f}" if float(text) == 0 else text


def _points(value: float) -> str:
    return signed(value * 100, 1)


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
    fmt = lambda ci: "no interval" if not ci else f"{signed(ci[0])} to {signed(ci[1])}"  # noqa: E731
    return (
        f"{label}Log-loss over the last {c['scored_events']} events: {ll['model']:.4f} with the cluster sizes, "
        f"{ll['baseline']:.4f} with distance alone (difference {signed(c['log_loss_difference'])}, 95 % interval "
        f"{fmt(lci)}: {_verdict(lci, blocks=blocks, better_below=True, negligible=NEGLIGIBLE_LOG_LOSS)}); Brier score {br['model']:.4f} against "
        f"{br['baseline']:.4f} (difference {signed(c['brier_difference'])}, 95 % interval {fmt(bci)}: "
        f"{_verdict(bci, blocks=blocks, better_below=True, negligible=NEGLIGIBLE_BRIER)}; lower is better). "
        f"Incremental pseudo-R² of the sizes over distance: {signed(r2['incremental'])} (95 % interval {fmt(rci)}; "
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
            text += f"; incremental pseudo-R² {signed(r2['incremental'])}" + (
                f" ({signed(ci[0])} to {signed(ci[1])}) over {c['scored_events']} scored events" if ci else ""
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
            else f"{signed(r2)}" + (f" ({signed(ci[0])} to {signed(ci[1])})" if ci else "")
        )
        mark = "  ← best" if row["best"] else ""
        out.append(
            f"  {row['variant']}: {row['events']} events, bigger first {_pct(row['share_bigger_first'])} "
            f"({_pct_ci(row['share_bigger_first_ci95'])}), pseudo-R² {figure}{mark}"
        )
    if not any(row["best"] for row in table):
        out.append("  No variant stands out: the intervals overlap.")
    return out
