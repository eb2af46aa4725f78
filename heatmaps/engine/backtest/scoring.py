"""The figures of a backtest, scored on events with calendar-day block intervals.

- ``step_counts``: how many steps, how they resolved, and how many distinct events that is.
- ``first_reach``: over events, how often the bigger of the two largest clusters was reached first,
  against distance alone, each share with its 95 % interval.
- ``comparison``: a test that can go either way. Two logistic models of "the upper peak first",
  fitted on the earlier half of the events and scored on the later half: the *baseline* on the
  distance/volatility random walk's log-odds alone, the *model* on those log-odds and the log USD
  ratio of the two clusters (upper / lower). Both coefficients are free, so the size term can come
  out positive, zero or negative; the baseline gets the same recalibration, so any gain is the
  sizes'. Log-loss and Brier score with intervals, and the incremental pseudo-R² over the baseline:
  the share of a coin flip's log-loss (ln 2 per event) that the sizes remove on top of distance.
- ``regimes``: the same figures on calm and on cascade days (``regimes.py``).
- ``same_distance``: hit rate of the largest cluster against a level at the same distance (steps).
- ``modelled_vs_realised``: modelled against recorded liquidation USD per sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heatmaps.engine.backtest.baseline import random_walk_upper_first
from heatmaps.engine.backtest.events import first_of_each, group_events
from heatmaps.engine.backtest.logistic import LN2, brier, fit_logistic, log_loss, logit, sigmoid
from heatmaps.engine.backtest.regimes import DAY_MS
from heatmaps.engine.backtest.resampling import day_blocks, figure_rng, mean_interval
from heatmaps.engine.backtest.walk import LiquidationEvents, Steps
from heatmaps.engine.inputs import BASE_BAR_MS, FloatArray, IntArray

MIN_FIT_EVENTS = 10  # below this many events in the earlier half, no model is fitted or scored
MIN_REGIME_SCORED = 5  # below this many scored events in a regime, its comparison is left out
RELIABILITY_BINS = 10
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Scoring:
    """How intervals are drawn: calendar blocks of ``block_ms``, ``reps`` resamples, ``seed``."""

    block_ms: int
    reps: int
    seed: int

    def mean_ci(self, name: str, values: FloatArray, time_ms: IntArray) -> list[float] | None:
        if values.shape[0] == 0:
            return None
        blocks = day_blocks(time_ms=time_ms, block_ms=self.block_ms)
        return mean_interval(values, blocks=blocks, reps=self.reps, rng=figure_rng(self.seed, name))


@dataclass(frozen=True, slots=True)
class Events:
    """One row per distinct event, at its first step, oldest first.

    ``z`` is the random walk's log-odds of the upper peak first, ``s`` the log USD ratio upper /
    lower, ``y`` 1 where the upper peak was reached first, ``big_up`` where the upper cluster is the
    bigger one, ``cascade`` where the peak was reached on a cascade day."""

    time_ms: IntArray
    touch_ms: IntArray
    z: FloatArray
    s: FloatArray
    y: FloatArray
    big_up: BoolArray
    cascade: BoolArray
    resolved_steps: int

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    def take(self, mask: BoolArray) -> Events:
        return Events(
            self.time_ms[mask],
            self.touch_ms[mask],
            self.z[mask],
            self.s[mask],
            self.y[mask],
            self.big_up[mask],
            self.cascade[mask],
            self.resolved_steps,
        )

    @property
    def p_up(self) -> FloatArray:
        return sigmoid(self.z)

    @property
    def y_big(self) -> FloatArray:
        return np.where(self.big_up, self.y, 1 - self.y)

    def to_big(self, p_up: FloatArray) -> FloatArray:
        """A probability of the upper peak first as one of the bigger cluster first."""
        return np.where(self.big_up, p_up, 1 - p_up)


def resolved_events(steps: Steps, *, cascade_days: IntArray) -> Events:
    """The steps that reached one peak first (with both clusters, their distances and a spread),
    grouped into events (``events.py``), each kept at its first step."""
    with np.errstate(invalid="ignore", divide="ignore"):
        d_up = np.log(steps.upper / steps.price)
        d_dn = np.log(steps.price / steps.lower)
    ok = np.isfinite(d_up) & np.isfinite(d_dn) & (d_up + d_dn > 0) & ((steps.first == 1) | (steps.first == -1))
    ok &= np.isfinite(steps.spread) & (steps.spread > 0) & (steps.usd_upper > 0) & (steps.usd_lower > 0)
    idx = np.flatnonzero(ok)
    first = steps.first[idx]
    up = first == 1
    touch = np.where(up, steps.upper_at_ms[idx], steps.lower_at_ms[idx])
    peak = np.where(up, steps.upper[idx], steps.lower[idx])
    event = group_events(side=first, peak=peak, touch_ms=touch, bin_width=steps.bin_width[idx])
    keep = idx[first_of_each(event)]
    touch_keep = touch[first_of_each(event)]
    p_up = random_walk_upper_first(d_up[keep], d_dn[keep], steps.spread[keep])
    return Events(
        time_ms=steps.time_ms[keep],
        touch_ms=touch_keep,
        z=logit(p_up),
        s=np.log(steps.usd_upper[keep] / steps.usd_lower[keep]),
        y=(steps.first[keep] == 1).astype(np.float64),
        big_up=steps.usd_upper[keep] >= steps.usd_lower[keep],
        cascade=np.isin((touch_keep - BASE_BAR_MS) // DAY_MS, cascade_days),
        resolved_steps=int(idx.shape[0]),
    )


def step_counts(steps: Steps, events: Events) -> dict[str, Any]:
    two = np.isfinite(steps.upper) & np.isfinite(steps.lower)
    return {
        "total": len(steps),
        "first_ms": int(steps.time_ms[0]) if len(steps) else None,
        "last_ms": int(steps.time_ms[-1]) if len(steps) else None,
        "two_sided": int(two.sum()),
        "upper_first": int((two & (steps.first == 1)).sum()),
        "lower_first": int((two & (steps.first == -1)).sum()),
        "neither": int((two & (steps.first == 0)).sum()),
        "same_bar": int((two & (steps.first == 2)).sum()),
        "resolved": events.resolved_steps,
        "events": len(events),
    }


def first_reach(ev: Events, scoring: Scoring, *, name: str = "all") -> dict[str, Any]:
    """Shares over events, each with its 95 % interval: the upper peak first, the bigger cluster
    first, what distance alone predicts for it, and the excess (share − prediction)."""
    y_big, p_big = ev.y_big, ev.to_big(ev.p_up)
    t = ev.time_ms
    blocks = np.unique(day_blocks(time_ms=t, block_ms=scoring.block_ms)).shape[0] if len(ev) else 0
    return {
        "events": len(ev),
        "blocks": int(blocks),
        "share_upper_first": _mean(ev.y),
        "share_upper_first_ci95": scoring.mean_ci(f"{name}/upper", ev.y, t),
        "baseline_share_upper_first": _mean(ev.p_up),
        "share_bigger_first": _mean(y_big),
        "share_bigger_first_ci95": scoring.mean_ci(f"{name}/bigger", y_big, t),
        "baseline_share_bigger_first": _mean(p_big),
        "excess_bigger_first": _mean(y_big - p_big),
        "excess_bigger_first_ci95": scoring.mean_ci(f"{name}/excess", y_big - p_big, t),
    }


@dataclass(frozen=True, slots=True)
class Fitted:
    """The two logistic models fitted on the earlier half, and where the later half starts."""

    model: FloatArray  # (on the random walk's log-odds, on the log USD ratio)
    baseline: FloatArray  # (on the random walk's log-odds,)
    fit_events: int
    split: int


def fit_halves(ev: Events) -> Fitted | None:
    """Fit both models on the earlier half of the events in time; None when a half is too small.

    The prior is "the random walk is right": log-odds coefficient 1, size coefficient 0."""
    half = len(ev) // 2
    if half < MIN_FIT_EVENTS:
        return None
    y = ev.y[:half]
    model = fit_logistic(features=np.column_stack((ev.z[:half], ev.s[:half])), y=y, prior=np.array([1.0, 0.0]))
    baseline = fit_logistic(features=ev.z[:half, None], y=y, prior=np.array([1.0]))
    return Fitted(model=model, baseline=baseline, fit_events=half, split=half)


def predictions(ev: Events, fitted: Fitted) -> tuple[FloatArray, FloatArray]:
    """P(upper first) by the model and by the refitted baseline."""
    return (
        sigmoid(fitted.model[0] * ev.z + fitted.model[1] * ev.s),
        sigmoid(fitted.baseline[0] * ev.z),
    )


def scores(test: Events, fitted: Fitted, scoring: Scoring, *, name: str) -> dict[str, Any] | None:
    """Log-loss, Brier and the incremental pseudo-R² of the model over the baseline on ``test``."""
    n = len(test)
    if n == 0:
        return None
    p_model, p_base = predictions(test, fitted)
    p_raw = test.p_up
    ll_m, ll_b, ll_raw = log_loss(p_model, test.y), log_loss(p_base, test.y), log_loss(p_raw, test.y)
    br_m, br_b, br_raw = brier(p_model, test.y), brier(p_base, test.y), brier(p_raw, test.y)
    gain = (ll_b - ll_m) / LN2  # per event; its mean is the incremental pseudo-R² against a coin flip
    t = test.time_ms
    return {
        "scored_events": n,
        "log_loss": {
            "model": float(ll_m.mean()),
            "baseline": float(ll_b.mean()),
            "baseline_unfitted": float(ll_raw.mean()),
        },
        "log_loss_difference": float((ll_m - ll_b).mean()),
        "log_loss_difference_ci95": scoring.mean_ci(f"{name}/log_loss", ll_m - ll_b, t),
        "brier": {
            "model": float(br_m.mean()),
            "baseline": float(br_b.mean()),
            "baseline_unfitted": float(br_raw.mean()),
        },
        "brier_difference": float((br_m - br_b).mean()),
        "brier_difference_ci95": scoring.mean_ci(f"{name}/brier", br_m - br_b, t),
        "pseudo_r2": {
            "baseline": float(1 - ll_b.mean() / LN2),
            "model": float(1 - ll_m.mean() / LN2),
            "incremental": float(gain.mean()),
            "incremental_ci95": scoring.mean_ci(f"{name}/r2", gain, t),
        },
    }


def comparison(ev: Events, scoring: Scoring) -> tuple[dict[str, Any] | None, Fitted | None]:
    fitted = fit_halves(ev)
    if fitted is None:
        return None, None
    test = ev.take(np.arange(len(ev)) >= fitted.split)
    out = scores(test, fitted, scoring, name="all")
    assert out is not None
    p_model, p_base = predictions(test, fitted)
    out = {
        "fit_events": fitted.fit_events,
        # Events whose outcome distance alone left in doubt (10-90 %): only these can move a coefficient.
        "fit_events_in_doubt": int(((ev.p_up[: fitted.split] > 0.1) & (ev.p_up[: fitted.split] < 0.9)).sum()),
        "scored_from_ms": int(test.time_ms[0]),
        "coef": {"baseline_log_odds": float(fitted.model[0]), "log_usd_ratio": float(fitted.model[1])},
        "baseline_coef": {"baseline_log_odds": float(fitted.baseline[0])},
        **out,
        "reliability": {
            "model": _reliability(test.to_big(p_model), test.y_big),
            "baseline": _reliability(test.to_big(p_base), test.y_big),
        },
    }
    return out, fitted


def regimes(
    ev: Events,
    fitted: Fitted | None,
    scoring: Scoring,
    *,
    calm_days: int,
    cascade_days: int,
    definition: dict[str, Any],
) -> dict[str, Any]:
    """First reach and the comparison per regime. The models are the ones fitted on the earlier
    half of all events (a regime alone is too small to fit); each regime's later-half events score them."""
    out: dict[str, Any] = {"definition": definition}
    for key, mask, days in (("calm", ~ev.cascade, calm_days), ("cascade", ev.cascade, cascade_days)):
        part = ev.take(mask)
        row: dict[str, Any] = {"days": days, **first_reach(part, scoring, name=key), "comparison": None}
        if fitted is not None:
            test = ev.take(mask & (np.arange(len(ev)) >= fitted.split))
            if len(test) >= MIN_REGIME_SCORED:
                row["comparison"] = scores(test, fitted, scoring, name=key)
        out[key] = row
    return out


def same_distance(steps: Steps, scoring: Scoring) -> dict[str, Any]:
    """Hit rate of the largest cluster within the horizon against a level at the same log distance
    on the same side, at every step time of the backtest (the exact mean over random times).

    Over steps, not events (a miss has no touch to group by); the day blocks carry the overlap."""
    usd_up = np.nan_to_num(steps.usd_upper, nan=-np.inf)
    usd_dn = np.nan_to_num(steps.usd_lower, nan=-np.inf)
    has = np.isfinite(steps.usd_upper) | np.isfinite(steps.usd_lower)
    up_side = usd_up >= usd_dn
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(up_side, np.log(steps.upper / steps.price), np.log(steps.price / steps.lower))
    move = np.where(up_side, steps.up_move, steps.down_move)
    ok = has & np.isfinite(dist) & np.isfinite(move)
    if not ok.any():
        return {
            "steps": 0, "hit_rate": None, "hit_rate_ci95": None, "baseline_hit_rate": None,
            "difference": None, "difference_ci95": None,
        }  # fmt: skip
    ups = np.sort(steps.up_move[np.isfinite(steps.up_move)])
    downs = np.sort(steps.down_move[np.isfinite(steps.down_move)])
    hit = (move >= dist)[ok].astype(np.float64)
    d, side, t = dist[ok], up_side[ok], steps.time_ms[ok]
    # Share of all step times at which price moved at least d on that side within the horizon.
    base_up = 1 - np.searchsorted(ups, d, side="left") / max(ups.shape[0], 1)
    base_dn = 1 - np.searchsorted(downs, d, side="left") / max(downs.shape[0], 1)
    base = np.where(side, base_up, base_dn)
    diff = hit - base
    return {
        "steps": int(hit.shape[0]),
        "hit_rate": float(hit.mean()),
        "hit_rate_ci95": scoring.mean_ci("same/hit", hit, t),
        "baseline_hit_rate": float(base.mean()),
        "difference": float(diff.mean()),
        "difference_ci95": scoring.mean_ci("same/difference", diff, t),
    }


def modelled_vs_realised(steps: Steps, events: LiquidationEvents | None) -> dict[str, Any] | None:
    """Per sweep (a peak reached within the horizon, inside the recorded span): the USD the map had
    between the price and the peak, and the USD of that side's recorded liquidations from the step
    to the bar that reached it."""
    if events is None or events.time_ms.shape[0] == 0:
        return None
    order = np.argsort(events.time_ms, kind="stable")
    t_ev, long_ev, usd_ev = events.time_ms[order], events.long[order], events.usd[order]
    modelled: list[FloatArray] = []
    realised: list[FloatArray] = []
    for at, mod, is_long in (
        (steps.upper_at_ms, steps.modelled_upper, False),
        (steps.lower_at_ms, steps.modelled_lower, True),
    ):
        swept = (at >= 0) & (steps.time_ms >= events.start_ms) & (at <= events.end_ms) & np.isfinite(mod)
        cum = np.concatenate(([0.0], np.cumsum(np.where(long_ev == is_long, usd_ev, 0.0))))
        lo = np.searchsorted(t_ev, steps.time_ms[swept], side="left")
        hi = np.searchsorted(t_ev, at[swept], side="left")
        modelled.append(mod[swept])
        realised.append(cum[hi] - cum[lo])
    m, r = np.concatenate(modelled), np.concatenate(realised)
    n = int(m.shape[0])
    positive = m > 0
    corr = None
    if n >= 3 and np.std(m) > 0 and np.std(r) > 0:
        corr = float(np.corrcoef(m, r)[0, 1])
    return {
        "sweeps": n,
        "modelled_usd": float(m.sum()),
        "realised_usd": float(r.sum()),
        "ratio": float(r.sum() / m.sum()) if m.sum() > 0 else None,
        "median_ratio": float(np.median(r[positive] / m[positive])) if positive.any() else None,
        "correlation": corr,
    }


def _mean(values: NDArray[Any]) -> float | None:
    return float(np.mean(values)) if values.size else None


def _reliability(pred: FloatArray, y: FloatArray) -> list[dict[str, Any]]:
    which = np.minimum((pred * RELIABILITY_BINS).astype(np.int64), RELIABILITY_BINS - 1)
    rows = []
    for k in range(RELIABILITY_BINS):
        mine = which == k
        count = int(mine.sum())
        rows.append(
            {
                "lo": k / RELIABILITY_BINS,
                "hi": (k + 1) / RELIABILITY_BINS,
                "n": count,
                "predicted": float(pred[mine].mean()) if count else None,
                "realised": float(y[mine].mean()) if count else None,
            }
        )
    return rows
