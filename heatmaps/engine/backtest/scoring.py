"""The figures of a backtest: counts, first reach against distance, same-distance hit rate, recorded sweeps."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from heatmaps.engine.backtest.baseline import random_walk_upper_first
from heatmaps.engine.backtest.walk import LiquidationEvents, Steps
from heatmaps.engine.inputs import (
    FloatArray,
)

MIN_FIT_STEPS = 20  # below this many resolved steps in a half, no logistic is fitted or scored
RELIABILITY_BINS = 10


def _step_counts(steps: Steps) -> dict[str, Any]:
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
    }


def _first_reach(steps: Steps, *, block: int, bootstrap: int, rng: np.random.Generator) -> dict[str, Any]:
    """Which side first, against distance alone; and does the USD ratio add to distance?

    The model is a logistic on the log USD ratio (bigger / smaller) with the distance baseline's
    logit as offset: it can only beat the baseline where the size of a cluster says something
    that its distance does not. Fitted on the first half of the resolved steps in time, scored on
    the second.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        d_up = np.log(steps.upper / steps.price)
        d_dn = np.log(steps.price / steps.lower)
    ok = np.isfinite(d_up) & np.isfinite(d_dn) & (d_up + d_dn > 0) & ((steps.first == 1) | (steps.first == -1))
    ok &= np.isfinite(steps.spread) & (steps.spread > 0)
    d_up, d_dn, first = d_up[ok], d_dn[ok], steps.first[ok]
    big_up = steps.usd_upper[ok] >= steps.usd_lower[ok]
    p_up = random_walk_upper_first(d_up, d_dn, steps.spread[ok])
    p_big = np.where(big_up, p_up, 1 - p_up)
    y = np.where(big_up, first == 1, first == -1).astype(np.float64)
    x = np.log(
        np.maximum(steps.usd_upper[ok], steps.usd_lower[ok]) / np.minimum(steps.usd_upper[ok], steps.usd_lower[ok])
    )
    n = int(y.shape[0])
    out: dict[str, Any] = {
        "resolved": n,
        "share_upper_first": _mean(first == 1),
        "baseline_share_upper_first": _mean(p_up),
        "share_bigger_first": _mean(y),
        "baseline_share_bigger_first": _mean(p_big),
        "fit_steps": 0,
        "scored_steps": 0,
        "coef": None,
        "brier_model": None,
        "brier_baseline": None,
        "brier_difference": None,
        "difference_ci95": None,
        "reliability": None,
    }
    half = n // 2
    if half < MIN_FIT_STEPS:
        return out
    offset = _logit(p_big)
    coef = _fit_logistic(x[:half], y[:half], offset[:half])
    p_model = _sigmoid(offset[half:] + coef[0] + coef[1] * x[half:])
    y2, pb2 = y[half:], p_big[half:]
    loss_model, loss_base = (p_model - y2) ** 2, (pb2 - y2) ** 2
    diff = loss_model - loss_base
    out.update(
        fit_steps=half,
        scored_steps=n - half,
        coef={"intercept": float(coef[0]), "log_usd_ratio": float(coef[1])},
        brier_model=float(loss_model.mean()),
        brier_baseline=float(loss_base.mean()),
        brier_difference=float(diff.mean()),
        difference_ci95=_block_bootstrap_ci(diff, block=block, reps=bootstrap, rng=rng),
        reliability={"model": _reliability(p_model, y2), "baseline": _reliability(pb2, y2)},
    )
    return out


def _same_distance(steps: Steps, *, block: int, bootstrap: int, rng: np.random.Generator) -> dict[str, Any]:
    """Hit rate of the largest cluster within the horizon against a level at the same log distance
    on the same side, at every step time of the backtest (the exact mean over random times)."""
    usd_up = np.nan_to_num(steps.usd_upper, nan=-np.inf)
    usd_dn = np.nan_to_num(steps.usd_lower, nan=-np.inf)
    has = np.isfinite(steps.usd_upper) | np.isfinite(steps.usd_lower)
    up_side = usd_up >= usd_dn
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(up_side, np.log(steps.upper / steps.price), np.log(steps.price / steps.lower))
    move = np.where(up_side, steps.up_move, steps.down_move)
    ok = has & np.isfinite(dist) & np.isfinite(move)
    if not ok.any():
        return {"steps": 0, "hit_rate": None, "baseline_hit_rate": None, "difference": None, "difference_ci95": None}
    ups = np.sort(steps.up_move[np.isfinite(steps.up_move)])
    downs = np.sort(steps.down_move[np.isfinite(steps.down_move)])
    hit = (move >= dist)[ok].astype(np.float64)
    d, side = dist[ok], up_side[ok]
    # Share of all step times at which price moved at least d on that side within the horizon.
    base_up = 1 - np.searchsorted(ups, d, side="left") / max(ups.shape[0], 1)
    base_dn = 1 - np.searchsorted(downs, d, side="left") / max(downs.shape[0], 1)
    base = np.where(side, base_up, base_dn)
    diff = hit - base
    return {
        "steps": int(hit.shape[0]),
        "hit_rate": float(hit.mean()),
        "baseline_hit_rate": float(base.mean()),
        "difference": float(diff.mean()),
        "difference_ci95": _block_bootstrap_ci(diff, block=block, reps=bootstrap, rng=rng),
    }


def _modelled_vs_realised(steps: Steps, events: LiquidationEvents | None) -> dict[str, Any] | None:
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


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(1 / (1 + np.exp(-z)), dtype=np.float64)


def _fit_logistic(x: FloatArray, y: FloatArray, offset: FloatArray, *, ridge: float = 1.0) -> FloatArray:
    """Newton-Raphson for ``logit p = offset + a + b x``. The small ridge keeps the coefficients
    finite when a short sample happens to be separable."""
    design = np.column_stack((np.ones_like(x), x))
    w = np.zeros(2)
    for _ in range(50):
        p = _sigmoid(offset + design @ w)
        grad = design.T @ (y - p) - ridge * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w = w + step
        if np.abs(step).max() < 1e-10:
            break
    return w


def _block_bootstrap_ci(values: FloatArray, *, block: int, reps: int, rng: np.random.Generator) -> list[float] | None:
    """95 % interval of the mean by a moving-block bootstrap: neighbouring steps share most of their
    horizon, so resampling single steps would treat overlapping outcomes as independent."""
    n = values.shape[0]
    if n < 2 or reps < 1:
        return None
    b = min(block, n)
    k = -(-n // b)
    starts = rng.integers(0, n - b + 1, size=(reps, k))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(reps, -1)[:, :n]
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [float(lo), float(hi)]


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
