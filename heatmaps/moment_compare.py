"""Two moments of one asset's map compared ("what changed since yesterday 14:00"): each side is the map
as of its moment (``at=``, or now) with its own filter and model; their windows and price grids differ,
so what is compared is the liquidation levels standing at each moment (each map's newest column),
re-binned onto one price axis spanning both (heatmaps/engine/compare.py, ``compare_moments``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from heatmaps.engine.compare import MomentComparison, compare_moments
from heatmaps.explorer import FilterError, MapFilter, filtered_map
from heatmaps.maps import StoredMap
from heatmaps.models import Asset

if TYPE_CHECKING:
    from heatmaps.engine.model_v2 import ModelV2Params


@dataclass(frozen=True)
class MomentSide:
    shown: StoredMap
    moment: datetime  # the moment asked (at=), or the newest base bar of the stored map (now), UTC
    end_time_ms: int  # the start of the map's newest column, UTC ms


@dataclass(frozen=True)
class ComparedMoments:
    a: MomentSide
    b: MomentSide
    result: MomentComparison

    def of(self, name: str) -> MomentSide:
        return self.a if name == "a" else self.b

    @property
    def earlier(self) -> str:
        """The side whose moment comes first ("a" or "b"; "a" when they are the same)."""
        return "b" if self.b.moment < self.a.moment else "a"

    @property
    def removed(self) -> list[dict[str, Any]]:
        """Clusters standing at the earlier moment and gone at the later one (swept, or faded)."""
        return self.result.only_a if self.earlier == "a" else self.result.only_b

    @property
    def added(self) -> list[dict[str, Any]]:
        """Clusters standing at the later moment that the earlier one did not have."""
        return self.result.only_b if self.earlier == "a" else self.result.only_a


def _edges(m: StoredMap) -> np.ndarray:
    return np.linspace(m.heatmap.price_lo, m.heatmap.price_hi, m.heatmap.bins + 1)


def compare_moments_of(
    *,
    asset: Asset,
    stored: StoredMap,
    a: MapFilter,
    b: MapFilter,
    side: str,
    a_params: ModelV2Params | None = None,
    b_params: ModelV2Params | None = None,
) -> ComparedMoments:
    """Both sides' maps as of their moments (cached like every filtered map) and the comparison of the
    levels standing at their ends. ``FilterError("a" | "b", ...)`` when a side has no data up to its
    moment. ``side`` (long, short, both) picks the clusters compared; the profiles keep both sides."""
    sides = []
    for name, filt, params in (("a", a, a_params), ("b", b, b_params)):
        shown = filtered_map(asset=asset, stored=stored, filt=filt, params=params)
        if shown is None:
            raise FilterError(name, f"at: {asset.symbol} has no market data up to {filt.at:%Y-%m-%d %H:%M} UTC.")
        moment = filt.at if filt.at is not None else stored.heatmap.data_end
        sides.append(MomentSide(shown=shown, moment=moment, end_time_ms=int(shown.times[-1])))

    def clusters(m: StoredMap) -> list[dict[str, Any]]:
        return [c for c in m.heatmap.clusters or [] if side in ("both", c["side"])]

    ma, mb = sides[0].shown, sides[1].shown
    result = compare_moments(
        a_edges=_edges(ma),
        a_long=ma.long[-1],
        a_short=ma.short[-1],
        b_edges=_edges(mb),
        b_long=mb.long[-1],
        b_short=mb.short[-1],
        a_clusters=clusters(ma),
        b_clusters=clusters(mb),
    )
    return ComparedMoments(a=sides[0], b=sides[1], result=result)
