"""The measured Hyperliquid layer merged into the modelled liquidation map (pure numpy).

Per side and per price bin (docs/model.md, "The measured Hyperliquid layer"):

    merged = max(model_all − coverage × model_hl, 0) + measured

``model_all`` is the modelled map of every venue's open interest, ``model_hl`` the modelled map of
Hyperliquid's open interest alone (the same run, same price axis), ``measured`` the swept accounts' USD at
their real liquidation prices, and ``coverage`` the side's observed notional ÷ Hyperliquid's open interest.
The measured accounts are that share of Hyperliquid's positions; which of the modelled positions they are
is unknown, so the model's Hyperliquid part is taken off in proportion, wherever it lies, and the measured
USD is put where it really is. The rest of Hyperliquid (1 − coverage) and every other venue stay modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MergedSide:
    usd: np.ndarray  # merged USD per bin
    measured_share: np.ndarray  # measured ÷ merged per bin, in [0, 1]; 0 where the bin holds nothing
    coverage: float  # the side's coverage the merge used, clipped to [0, 1]


def merge_side(*, model_all: np.ndarray, model_hl: np.ndarray, measured: np.ndarray, coverage: float) -> MergedSide:
    """One side's merged USD per bin and each bin's measured share."""
    model_all = np.asarray(model_all, dtype=np.float64)
    model_hl = np.asarray(model_hl, dtype=np.float64)
    measured = np.asarray(measured, dtype=np.float64)
    if not model_all.shape == model_hl.shape == measured.shape:
        raise ValueError(
            f"bins differ: model {model_all.shape}, Hyperliquid {model_hl.shape}, measured {measured.shape}"
        )
    if not np.isfinite(coverage):
        raise ValueError(f"coverage {coverage} is not a number")
    # Coverage above 1 is possible for a moment (the venue's open interest is read at another time than
    # the accounts); more than all of Hyperliquid cannot be taken off.
    c = min(max(float(coverage), 0.0), 1.0)
    # The Hyperliquid-only run is not an exact part of the all-venue run bin by bin (each venue's open
    # interest changes are placed on their own), so a bin could go a little below zero: it holds nothing.
    rest = np.maximum(model_all - c * model_hl, 0.0)
    usd = rest + measured
    share = np.divide(measured, usd, out=np.zeros_like(usd), where=usd > 0)
    return MergedSide(usd=usd, measured_share=np.clip(share, 0.0, 1.0), coverage=c)


def merge_measured(
    *, model_all_long: np.ndarray, model_all_short: np.ndarray, model_hl_long: np.ndarray,
    model_hl_short: np.ndarray, measured_long: np.ndarray, measured_short: np.ndarray,
    long_coverage: float, short_coverage: float,
) -> dict[str, MergedSide]:  # fmt: skip
    """Both sides merged: longs with the longs' coverage, shorts with the shorts'."""
    return {
        "long": merge_side(
            model_all=model_all_long, model_hl=model_hl_long, measured=measured_long, coverage=long_coverage
        ),
        "short": merge_side(
            model_all=model_all_short, model_hl=model_hl_short, measured=measured_short, coverage=short_coverage
        ),
    }
