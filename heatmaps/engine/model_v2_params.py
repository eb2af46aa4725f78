"""Model v2's parameters (docs/model.md, "Model v2"): leverage tiers with a half-life each, the asset's
maintenance margin rate and maximum leverage, the grid; their bounds, effective form, JSON and cache key.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from heatmaps.engine.inputs import DEFAULT_TIERS, ModelParams

MODEL_V2_VERSION = "v2"

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
        if not isinstance(self.tiers, tuple):
            raise ValueError(f"tiers must be a tuple of TierV2, not {type(self.tiers).__name__}")
        if not self.tiers:
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
