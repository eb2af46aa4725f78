"""A modelled liquidation map against a measured one on the same price bins (pure numpy).

The measured layer covers only part of the venue's open interest, so the comparison is of shape, not
size: the correlation of USD per bin on each side of the price, and the share of each side's USD lying
within ±1 % and ±5 % of the price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANDS_PCT = (1.0, 5.0)


@dataclass(frozen=True)
class SideComparison:
    correlation: float | None  # Pearson over the side's bins; None when either side is flat
    model_share_within: dict[str, float | None]  # "1": share of the side's modelled USD within ±1 %
    measured_share_within: dict[str, float | None]
    model_usd_within: dict[str, float]  # "1": the side's modelled USD within ±1 % of the price
    measured_usd_within: dict[str, float]


def _share(values: np.ndarray, near: np.ndarray) -> float | None:
    total = float(values.sum())
    return float(values[near].sum() / total) if total > 0 else None


def _side(model: np.ndarray, measured: np.ndarray, mask: np.ndarray, distance_pct: np.ndarray) -> SideComparison:
    a, b = model[mask], measured[mask]
    corr = None
    if a.size > 1 and a.std() > 0 and b.std() > 0:
        corr = float(np.corrcoef(a, b)[0, 1])
    within_model: dict[str, float | None] = {}
    within_measured: dict[str, float | None] = {}
    usd_model: dict[str, float] = {}
    usd_measured: dict[str, float] = {}
    for band in BANDS_PCT:
        near = distance_pct[mask] <= band
        within_model[f"{band:g}"] = _share(a, near)
        within_measured[f"{band:g}"] = _share(b, near)
        usd_model[f"{band:g}"] = float(a[near].sum())
        usd_measured[f"{band:g}"] = float(b[near].sum())
    return SideComparison(corr, within_model, within_measured, usd_model, usd_measured)


def compare_layers(
    *, edges: np.ndarray, price: float, model_long: np.ndarray, model_short: np.ndarray,
    measured_long: np.ndarray, measured_short: np.ndarray,
) -> dict[str, SideComparison]:  # fmt: skip
    """Longs below the price and shorts above it, each compared bin by bin."""
    centres = (edges[:-1] + edges[1:]) / 2
    distance_pct = np.abs(centres - price) / price * 100
    return {
        "long": _side(model_long, measured_long, centres < price, distance_pct),
        "short": _side(model_short, measured_short, centres > price, distance_pct),
    }
