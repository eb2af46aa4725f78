"""The measured Hyperliquid layer against the model, and merged into it.

The v1 model's map of Hyperliquid's open interest alone is compared with the positions the sweep measured
at their real liquidation prices (correlation per price bin, USD within ±1 % and ±5 % of the price), and the
measured USD can replace the measured share of the model's Hyperliquid part (engine/measured_merge.py).
These are Hyperliquid's figures, not the market's: its leverage mix is its own (most of its open interest
at 3–7×).

The modelled map of Hyperliquid alone is the map explorer's (heatmaps.explorer), which sits beside this
package; callers pass it in as ``model_of_hyperliquid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import Count, Max

from heatmaps.engine.layer_compare import BANDS_PCT, SideComparison, compare_layers
from heatmaps.engine.measured_merge import merge_measured
from heatmaps.exchanges.hyperliquid_accounts import MeasuredLayer
from heatmaps.ingest.hyperliquid_sweep import asset_coin, measured_for_asset
from heatmaps.maps import StoredMap, read_heatmap
from heatmaps.models import Asset, MeasuredPosition

ModelOfHyperliquid = Callable[[Asset, StoredMap], StoredMap | None]
LEVERAGE_CAVEAT = (
    "Hyperliquid's figure, not the market's: its leverage mix is its own (most of its open interest at 3–7×)."
)


def side_usd(stored: StoredMap) -> tuple[np.ndarray, np.ndarray]:
    """The map's liquidation map (its newest column) per side: USD per bin, all leverage tiers summed."""
    m = stored.heatmap
    lmap = m.liquidation_map or {}
    zero = [np.zeros(m.bins)]
    return (
        np.sum(np.asarray(lmap.get("tier_long") or zero, dtype=float), axis=0),
        np.sum(np.asarray(lmap.get("tier_short") or zero, dtype=float), axis=0),
    )


def _same_axis(a: StoredMap, b: StoredMap) -> bool:
    return (a.heatmap.price_lo, a.heatmap.price_hi, a.heatmap.bins) == (
        b.heatmap.price_lo,
        b.heatmap.price_hi,
        b.heatmap.bins,
    )


def hyperliquid_part(stored: StoredMap, modelled: StoredMap | None) -> StoredMap | None:
    """The modelled map of Hyperliquid alone when it is on the stored map's price axis (else bins would not
    line up) and has a price; None otherwise."""
    if modelled is None or not _same_axis(stored, modelled):
        return None
    if not (modelled.heatmap.liquidation_map or {}).get("price"):
        return None
    return modelled


def model_comparison(*, modelled: StoredMap, layer: MeasuredLayer) -> dict[str, SideComparison]:
    """Hyperliquid's modelled map against the measured one, side by side (shape, and USD near the price)."""
    m = modelled.heatmap
    model_long, model_short = side_usd(modelled)
    return compare_layers(
        edges=np.linspace(m.price_lo, m.price_hi, m.bins + 1), price=float(m.liquidation_map["price"]),
        model_long=model_long, model_short=model_short,
        measured_long=layer.long_usd, measured_short=layer.short_usd,
    )  # fmt: skip


def merged_layer(*, stored: StoredMap, modelled: StoredMap, layer: MeasuredLayer) -> dict[str, Any] | None:
    """The stored map's newest column with the measured share of Hyperliquid's modelled part replaced by the
    measured USD (per side: model_all − coverage × model_hl + measured), and each bin's measured share. None
    without the venue's open interest (no coverage, so no share of the model to replace)."""
    long_cov, short_cov = layer.side_coverage("long"), layer.side_coverage("short")
    if long_cov is None or short_cov is None:
        return None
    all_long, all_short = side_usd(stored)
    hl_long, hl_short = side_usd(modelled)
    sides = merge_measured(
        model_all_long=all_long, model_all_short=all_short, model_hl_long=hl_long, model_hl_short=hl_short,
        measured_long=layer.long_usd, measured_short=layer.short_usd,
        long_coverage=long_cov, short_coverage=short_cov,
    )  # fmt: skip
    return {
        "long_usd": [round(float(v), 2) for v in sides["long"].usd],
        "short_usd": [round(float(v), 2) for v in sides["short"].usd],
        "long_measured_share": [round(float(v), 4) for v in sides["long"].measured_share],
        "short_measured_share": [round(float(v), 4) for v in sides["short"].measured_share],
        "long_coverage": sides["long"].coverage,
        "short_coverage": sides["short"].coverage,
    }


# --------------------------------------------------------------------------- the model page


@dataclass(frozen=True)
class BandRow:
    side: str  # "longs" | "shorts"
    band: str  # "±1 %"
    modelled_usd: float  # the model's USD of all of Hyperliquid's open interest within the band
    modelled_covered_usd: float  # … times the side's coverage: what the measured accounts would hold
    measured_usd: float
    modelled_share: float | None  # of the side's modelled USD
    measured_share: float | None


@dataclass(frozen=True)
class MeasuredCheck:
    """One asset's measured Hyperliquid positions against the model's map of Hyperliquid's open interest."""

    asset: Asset
    coin: str
    timeframe: str
    correlation: dict[str, float | None]  # "long" / "short": Pearson over the side's price bins
    bands: list[BandRow]
    coverage: float | None
    long_coverage: float | None
    short_coverage: float | None
    accounts: int
    positions: int
    measured_at: datetime | None  # newest sweep of these positions (UTC)
    compared: bool  # False: no modelled map of Hyperliquid alone on this axis (only the measured side shown)


def _bands(sides: dict[str, SideComparison], layer: MeasuredLayer) -> list[BandRow]:
    rows = []
    for side, label in (("long", "longs"), ("short", "shorts")):
        cov = layer.side_coverage(side) or 0.0  # type: ignore[arg-type]
        c = sides[side]
        for band in BANDS_PCT:
            key = f"{band:g}"
            rows.append(
                BandRow(
                    side=label, band=f"±{key} %", modelled_usd=c.model_usd_within[key],
                    modelled_covered_usd=c.model_usd_within[key] * min(cov, 1.0),
                    measured_usd=c.measured_usd_within[key], modelled_share=c.model_share_within[key],
                    measured_share=c.measured_share_within[key],
                )
            )  # fmt: skip
    return rows


def measured_against_model(
    *, model_of_hyperliquid: ModelOfHyperliquid, assets: list[Asset] | None = None, timeframe: str = "24h"
) -> list[MeasuredCheck]:
    """Every enabled asset on Hyperliquid with measured positions and a stored map: the comparison."""
    candidates = Asset.objects.filter(enabled=True, exchanges__code="hyperliquid").order_by("symbol").distinct()
    if assets is not None:
        candidates = candidates.filter(pk__in=[a.pk for a in assets])
    out = []
    for asset in candidates:
        coin = asset_coin(asset)
        held = MeasuredPosition.objects.filter(coin=coin, account__enabled=True).aggregate(
            positions=Count("id"), accounts=Count("account", distinct=True), newest=Max("swept_at")
        )
        if not held["positions"]:
            continue
        stored = read_heatmap(asset=asset, timeframe=timeframe)
        if stored is None:
            continue
        m = stored.heatmap
        layer = measured_for_asset(asset, edges=np.linspace(m.price_lo, m.price_hi, m.bins + 1))
        modelled = hyperliquid_part(stored, model_of_hyperliquid(asset, stored))
        sides = model_comparison(modelled=modelled, layer=layer) if modelled is not None else None
        out.append(
            MeasuredCheck(
                asset=asset, coin=coin, timeframe=timeframe,
                correlation={s: c.correlation for s, c in sides.items()} if sides else {"long": None, "short": None},
                bands=_bands(sides, layer) if sides else [], coverage=layer.coverage,
                long_coverage=layer.side_coverage("long"), short_coverage=layer.side_coverage("short"),
                accounts=held["accounts"], positions=held["positions"], measured_at=held["newest"],
                compared=sides is not None,
            )
        )  # fmt: skip
    return out


def comparison_json(sides: dict[str, SideComparison] | None) -> dict[str, Any] | None:
    return {side: asdict(c) for side, c in sides.items()} if sides is not None else None
