"""Model v2 (docs/model.md, "Model v2"): model v1's flow and placement with per-asset margin limits,
per-tier decay and sweeps on the mark price.

What changes against v1: every tier uses the asset's maintenance margin rate ``mmr``; tiers above the
asset's maximum leverage are dropped and the rest renormalised; each tier's positions fade with a
half-life of their own (shorter for higher leverage); and positions are swept by the mark price where
its candles are stored. The model is still linear in the USD it places, so a v2 map is the sum of one
run per tier, each on its own share of the open interest with its own decay (``run_model``'s ``decay``);
v1's run is reused untouched, and with no decay, no dropped tier and no mark candles v2 is v1.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    DEFAULT_TIERS,
    TIMEFRAMES,
    Buckets,
    FloatArray,
    IntArray,
    ModelParams,
    Timeframe,
    aggregate,
    carry_open_interest,
)
from heatmaps.engine.model import HeatmapGrid, _resolve, price_edges
from heatmaps.engine.run import MassBalance, run_model

MODEL_V2_VERSION = "v2"

_HOUR_MS = 3_600_000
MIN_HALF_LIFE_HOURS = 1.0
MAX_HALF_LIFE_HOURS = 3650 * 24.0
MAX_LEVERAGE = 200.0
MAX_MMR = 0.05


@dataclass(frozen=True, slots=True)
class TierV2:
    leverage: float
    weight: float
    half_life_hours: float  # math.inf = positions of this tier never decay


# Half-lives: 8 h x (100 / leverage) ** 1.5, rounded to a whole number of funding intervals or days
# (docs/model.md, "Model v2", says why); assumptions until fitted to recorded liquidations.
DEFAULT_HALF_LIVES_HOURS: dict[float, float] = {5.0: 720.0, 10.0: 240.0, 25.0: 64.0, 50.0: 24.0, 100.0: 8.0}
DEFAULT_V2_TIERS: tuple[TierV2, ...] = tuple(TierV2(lev, w, DEFAULT_HALF_LIVES_HOURS[lev]) for lev, w in DEFAULT_TIERS)


@dataclass(frozen=True, slots=True)
class ModelV2Params:
    """Parameters of model v2. Construct freely; call ``validate()`` before trusting user input."""

    tiers: tuple[TierV2, ...] = DEFAULT_V2_TIERS
    mmr: float = 0.004
    max_leverage: float | None = None  # tiers above it are dropped and the rest renormalised to sum 1
    n_bins: int = 400
    pad: float = 0.10

    def validate(self) -> ModelV2Params:
        """Raise ``ValueError`` naming the first problem; return ``self`` so it can be chained."""
        if not isinstance(self.tiers, tuple) or not self.tiers:
            raise ValueError("tiers: at least one leverage tier is required")
        seen: set[float] = set()
        for tier in self.tiers:
            if not isinstance(tier, TierV2):
                raise ValueError(f"tiers: {tier!r} is not a TierV2")
            lev, weight, half_life = tier.leverage, tier.weight, tier.half_life_hours
            if not (_is_number(lev) and math.isfinite(lev) and 1 < lev <= MAX_LEVERAGE):
                raise ValueError(f"leverage {lev!r} must be above 1 and at most {MAX_LEVERAGE:g}")
            if lev in seen:
                raise ValueError(f"leverage {lev:g}x is listed twice")
            seen.add(lev)
            if not (_is_number(weight) and math.isfinite(weight) and 0 <= weight <= 1):
                raise ValueError(f"weight {weight!r} of {lev:g}x must be between 0 and 1")
            if not (
                _is_number(half_life)
                and (half_life == math.inf or MIN_HALF_LIFE_HOURS <= half_life <= MAX_HALF_LIFE_HOURS)
            ):
                raise ValueError(
                    f"half_life_hours {half_life!r} of {lev:g}x must be between {MIN_HALF_LIFE_HOURS:g} and "
                    f"{MAX_HALF_LIFE_HOURS:g} hours (3650 days), or inf (never decays)"
                )
        total = math.fsum(t.weight for t in self.tiers)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"tier weights must sum to 1 (they sum to {total:.12g})")
        if not (_is_number(self.mmr) and math.isfinite(self.mmr) and 0 <= self.mmr <= MAX_MMR):
            raise ValueError(f"mmr {self.mmr!r} must be between 0 and {MAX_MMR:g}")
        kept = self.tiers
        if self.max_leverage is not None:
            cap = self.max_leverage
            if not (_is_number(cap) and math.isfinite(cap) and 1 < cap <= MAX_LEVERAGE):
                raise ValueError(f"max_leverage {cap!r} must be above 1 and at most {MAX_LEVERAGE:g}")
            kept = tuple(t for t in self.tiers if t.leverage <= cap)
            if not kept:
                raise ValueError(f"max_leverage {cap:g} leaves no tier (the lowest is {min(seen):g}x)")
            if math.fsum(t.weight for t in kept) <= 0:
                raise ValueError(f"max_leverage {cap:g} leaves only tiers of weight 0")
        worst = max(t.leverage for t in kept)
        if self.mmr * worst >= 1:
            # Initial margin 1/lev at or below maintenance: liquidated on opening.
            raise ValueError(f"mmr {self.mmr:g} makes {worst:g}x impossible (mmr x leverage must be below 1)")
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int | np.integer):
            raise ValueError(f"n_bins {self.n_bins!r} must be an integer")
        if not 50 <= self.n_bins <= 2000:
            raise ValueError(f"n_bins {self.n_bins} must be between 50 and 2000")
        if not (_is_number(self.pad) and math.isfinite(self.pad) and 0 <= self.pad <= 0.5):
            raise ValueError(f"pad {self.pad!r} must be between 0 and 0.5")
        return self

    def effective(self) -> ModelV2Params:
        """The parameters the model runs with: tiers above ``max_leverage`` dropped, the rest's
        weights renormalised to sum 1, and ``max_leverage`` None."""
        if self.max_leverage is None:
            return self
        cap = self.max_leverage
        kept = [t for t in self.tiers if t.leverage <= cap]
        total = math.fsum(t.weight for t in kept)
        if not kept or total <= 0:
            self.validate()  # raises, naming the problem
        return ModelV2Params(
            tiers=tuple(TierV2(t.leverage, t.weight / total, t.half_life_hours) for t in kept),
            mmr=self.mmr,
            max_leverage=None,
            n_bins=self.n_bins,
            pad=self.pad,
        )

    def v1_params(self) -> ModelParams:
        """The effective tiers (leverage, weight), ``mmr`` and grid as model v1's parameters: what a
        v2 grid carries, so every view derived from a grid reads it unchanged."""
        eff = self.effective()
        return ModelParams(
            tiers=tuple((t.leverage, t.weight) for t in eff.tiers), mmr=eff.mmr, n_bins=eff.n_bins, pad=eff.pad
        )

    def to_json(self) -> dict[str, Any]:
        """Canonical JSON form (an infinite half-life is ``null``); ``from_json`` reads it back equal."""
        return {
            "model": MODEL_V2_VERSION,
            "tiers": [
                {
                    "leverage": float(t.leverage),
                    "weight": float(t.weight),
                    "half_life_hours": None if t.half_life_hours == math.inf else float(t.half_life_hours),
                }
                for t in self.tiers
            ],
            "mmr": float(self.mmr),
            "max_leverage": None if self.max_leverage is None else float(self.max_leverage),
            "n_bins": int(self.n_bins),
            "pad": float(self.pad),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelV2Params:
        """Parse and validate ``to_json``'s form; a missing key takes its default, an unknown one is refused."""
        if not isinstance(data, Mapping):
            raise ValueError("model parameters must be a JSON object")
        known = {"model", *(f.name for f in fields(cls))}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model parameter {unknown[0]!r}")
        if data.get("model", MODEL_V2_VERSION) != MODEL_V2_VERSION:
            raise ValueError(f"model {data.get('model')!r} is not {MODEL_V2_VERSION!r}")
        defaults = cls()
        kwargs: dict[str, Any] = {}
        if "tiers" in data:
            raw = data["tiers"]
            if not isinstance(raw, list) or not raw:
                raise ValueError("tiers must be a non-empty list")
            kwargs["tiers"] = tuple(_tier_from_json(i, t) for i, t in enumerate(raw))
        for name in ("mmr", "pad"):
            if name in data:
                kwargs[name] = _number(data[name], name)
        if "max_leverage" in data:
            kwargs["max_leverage"] = (
                None if data["max_leverage"] is None else _number(data["max_leverage"], "max_leverage")
            )
        if "n_bins" in data:
            n_bins = data["n_bins"]
            if isinstance(n_bins, bool) or not isinstance(n_bins, int):
                raise ValueError(f"n_bins {n_bins!r} must be an integer")
            kwargs["n_bins"] = n_bins
        return cls(**{f.name: kwargs.get(f.name, getattr(defaults, f.name)) for f in fields(cls)}).validate()

    def cache_key(self) -> str:
        """A short stable hash of the canonical JSON: equal parameters, equal key."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _number(value: object, name: str) -> float:
    if not _is_number(value):
        raise ValueError(f"{name} {value!r} must be a number")
    return float(value)  # type: ignore[arg-type]


def _tier_from_json(i: int, raw: object) -> TierV2:
    if not isinstance(raw, Mapping):
        raise ValueError(f"tiers[{i}] must be an object with leverage, weight and half_life_hours")
    unknown = sorted(set(raw) - {"leverage", "weight", "half_life_hours"})
    if unknown:
        raise ValueError(f"tiers[{i}]: unknown key {unknown[0]!r}")
    for key in ("leverage", "weight", "half_life_hours"):
        if key not in raw:
            raise ValueError(f"tiers[{i}]: {key} is missing")
    half_life = raw["half_life_hours"]
    return TierV2(
        leverage=_number(raw["leverage"], f"tiers[{i}].leverage"),
        weight=_number(raw["weight"], f"tiers[{i}].weight"),
        half_life_hours=math.inf if half_life is None else _number(half_life, f"tiers[{i}].half_life_hours"),
    )


# ---------------------------------------------------------------------------------------------
# The maps


@dataclass(frozen=True, slots=True)
class _MarkCoverage:
    """Which base bars had a mark-price candle, as a running count, to label each window."""

    open_time: IntArray
    known_before: IntArray  # known_before[j] = bars with a mark candle among the first j

    def label(self, window_start: int) -> str:
        first = int(np.searchsorted(self.open_time, window_start, side="left"))
        total = self.open_time.shape[0] - first
        known = int(self.known_before[-1] - self.known_before[first])
        if total and known == total:
            return "mark"
        return "last" if known == 0 else "mixed"


def _sweep_series(base: Buckets) -> tuple[Buckets, _MarkCoverage | None]:
    """Base bars whose ``mark_high``/``mark_low`` are the prices that sweep: the mark candle's where
    known, the last-price candle's where not. Filled per 5-minute bar before aggregation, so a bucket
    with some mark candles missing still sweeps on every bar's own extreme."""
    if base.mark_high is None or base.mark_low is None:
        return base, None
    known = ~np.isnan(base.mark_low)
    swept = Buckets._trusted(
        open_time=base.open_time,
        high=base.high,
        low=base.low,
        close=base.close,
        volume=base.volume,
        taker_buy=base.taker_buy,
        oi_value=base.oi_value,
        bar_ms=base.bar_ms,
        mark_high=np.where(known, base.mark_high, base.high),
        mark_low=np.where(known, base.mark_low, base.low),
    )
    counts = np.concatenate(([0], np.cumsum(known, dtype=np.int64)))
    return swept, _MarkCoverage(open_time=base.open_time, known_before=counts)


def _tier_decay(open_time: IntArray, half_life_hours: float) -> FloatArray | None:
    """Per bucket, the factor a tier's positions keep since the previous bucket of the run (the first
    keeps all): 0.5 ** (hours elapsed / half-life), so a gap decays as much as the time it spans.
    None for a tier that never decays, which runs model v1's code path exactly."""
    if half_life_hours == math.inf:
        return None
    elapsed_h = np.zeros(open_time.shape[0])
    if elapsed_h.size > 1:
        elapsed_h[1:] = np.diff(open_time) / _HOUR_MS
    decay: FloatArray = 0.5 ** (elapsed_h / half_life_hours)
    return decay


def _v2_from_buckets(
    *,
    buckets: Buckets,
    timeframe: Timeframe,
    params: ModelV2Params,
    coverage: _MarkCoverage | None,
    out: FloatArray | None = None,
    scratch: FloatArray | None = None,
) -> HeatmapGrid:
    """Window, warm-up and grid as v1's (spec §2-3) on buckets at ``timeframe.bar_ms``; one run per
    effective tier on its share of the open interest, summed. ``params`` must be effective."""
    if len(buckets) == 0:
        raise ValueError("no bars to build a heat map from")
    v1 = params.v1_params()
    bar = timeframe.bar_ms
    w = timeframe.columns
    end = int(buckets.open_time[-1])
    window_start = end - (w - 1) * bar
    run = buckets.since(window_start - w * bar)
    win_from = int(np.searchsorted(run.open_time, window_start, side="left"))
    edges = price_edges(low=float(run.low[win_from:].min()), high=float(run.high[win_from:].max()), params=v1)
    shape = (2, w, params.n_bins)
    if out is None:
        out = np.empty(shape)
    if scratch is None:
        scratch = np.empty(shape)
    n_tiers = len(params.tiers)
    tier_long = np.zeros((n_tiers, params.n_bins))
    tier_short = np.zeros((n_tiers, params.n_bins))
    books = dict.fromkeys((f.name for f in fields(MassBalance)), 0.0)
    first = True
    for i, tier in enumerate(params.tiers):
        if tier.weight == 0:
            continue  # places nothing: its rows stay zero
        # The tier's share of the open interest: its flow is the weight times the whole flow, and a
        # fall closes the same fraction of it.
        share = Buckets._trusted(
            open_time=run.open_time,
            high=run.high,
            low=run.low,
            close=run.close,
            volume=run.volume,
            taker_buy=run.taker_buy,
            oi_value=run.oi_value * tier.weight,
            bar_ms=run.bar_ms,
        )
        result = run_model(
            buckets=share,
            edges=edges,
            params=ModelParams(tiers=((tier.leverage, 1.0),), mmr=params.mmr, n_bins=params.n_bins, pad=params.pad),
            start_ms=window_start,
            columns=w,
            out=out if first else scratch,
            decay=_tier_decay(run.open_time, tier.half_life_hours),
            sweep_low=run.mark_low,
            sweep_high=run.mark_high,
        )
        if not first:
            out += scratch
        first = False
        tier_long[i] = result.tier_long[0]
        tier_short[i] = result.tier_short[0]
        for name in books:
            books[name] += getattr(result.balance, name)
    if first:  # validated parameters always leave a tier of positive weight; be safe anyway
        out[...] = 0.0
    times = window_start + bar * np.arange(w, dtype=np.int64)
    close = np.full(w, np.nan)
    close[(run.open_time[win_from:] - window_start) // bar] = run.close[win_from:]
    return HeatmapGrid(
        timeframe=timeframe,
        params=v1,
        times=times,
        close=close,
        edges=edges,
        prices=(edges[:-1] + edges[1:]) / 2,
        long=out[0],
        short=out[1],
        tier_long=tier_long,
        tier_short=tier_short,
        balance=MassBalance(**books),
        model_version=MODEL_V2_VERSION,
        sweep_price="last" if coverage is None else coverage.label(window_start),
    )


def _base_bars(bars: Buckets, params: ModelV2Params | None, caller: str) -> ModelV2Params:
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError(f"{caller} expects 5-minute base bars")
    if len(bars) == 0:
        raise ValueError("no bars to build a heat map from")
    return (params or ModelV2Params()).validate().effective()


def compute_heatmap_v2(
    *, bars: Buckets, timeframe: Timeframe | str, params: ModelV2Params | None = None
) -> HeatmapGrid:
    """Model v2's heat map of one timeframe from 5-minute base bars (mark candles used where present)."""
    tf = _resolve(timeframe)
    eff = _base_bars(bars, params, "compute_heatmap_v2")
    end = int(bars.open_time[-1]) // tf.bar_ms * tf.bar_ms
    base, coverage = _sweep_series(carry_open_interest(bars))
    buckets = aggregate(base.since(end - (2 * tf.columns - 1) * tf.bar_ms), tf.bar_ms)
    return _v2_from_buckets(buckets=buckets, timeframe=tf, params=eff, coverage=coverage)


def compute_all_timeframes_v2(
    *,
    bars: Buckets,
    params: ModelV2Params | None = None,
    timeframes: Iterable[Timeframe | str] | None = None,
) -> dict[str, HeatmapGrid]:
    """Model v2's maps of several timeframes (default: all nine); equal to ``compute_heatmap_v2`` for
    each, sharing validation, the OI carry-forward, the sweep prices and aggregations of equal size."""
    tfs = [_resolve(t) for t in (TIMEFRAMES.values() if timeframes is None else timeframes)]
    eff = _base_bars(bars, params, "compute_all_timeframes_v2")
    last = int(bars.open_time[-1])
    run_start = {tf.key: last // tf.bar_ms * tf.bar_ms - (2 * tf.columns - 1) * tf.bar_ms for tf in tfs}
    base, coverage = _sweep_series(carry_open_interest(bars))
    levels: dict[int, Buckets] = {}
    for tf in tfs:
        if tf.bar_ms not in levels:
            start = min(run_start[t.key] for t in tfs if t.bar_ms == tf.bar_ms)
            levels[tf.bar_ms] = aggregate(base.since(start), tf.bar_ms)
    sizes = [2 * tf.columns * eff.n_bins for tf in tfs]
    block = np.empty(sum(sizes))
    offsets = np.cumsum([0, *sizes]).tolist()
    scratch = np.empty(max(sizes, default=0))  # one tier's run at a time, added into its map
    return {
        tf.key: _v2_from_buckets(
            buckets=levels[tf.bar_ms],
            timeframe=tf,
            params=eff,
            coverage=coverage,
            out=block[offsets[i] : offsets[i + 1]].reshape(2, tf.columns, eff.n_bins),
            scratch=scratch[: sizes[i]].reshape(2, tf.columns, eff.n_bins),
        )
        for i, tf in enumerate(tfs)
    }
