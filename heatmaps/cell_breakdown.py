"""What one cell of a map, and each of its clusters, is made of: USD per leverage tier and per exchange.

Both come from maps the explorer draws on request from the same bars as the map shown (and cached
there). The tiers of one run add up to the whole (the model is linear in the USD it places). The
exchanges do not, exactly: each exchange's map is the run over that exchange's open interest alone,
and a bar where one exchange adds positions while another closes some nets out in the whole map but
not in the parts. So the exchanges are given as USD each, with their share of the parts' sum, and the
answer says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from heatmaps.explorer import MapFilter, asset_exchange_codes, filtered_map
from heatmaps.maps import StoredMap
from heatmaps.models import EXCHANGE_NAMES, Asset

if TYPE_CHECKING:
    from heatmaps.engine.model_v2 import ModelV2Params

EXCHANGES_NOTE = (
    "Each exchange's figure is the model run over that exchange's open interest alone; the parts need not "
    "add up to the whole map, where one exchange's new positions and another's closes in the same bar net out."
)


class CellError(ValueError):
    """A time or price outside the map, naming the query parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Part:
    key: str  # "50" (leverage) or "binance"
    label: str  # "50x" or "Binance USDS-M"
    long_usd: float
    short_usd: float


@dataclass(frozen=True)
class CellBreakdown:
    time_ms: int  # start of the cell's column
    price_low: float  # the cell's price bin
    price_high: float
    long_usd: float  # the cell as the map shows it
    short_usd: float
    tiers: list[Part]
    exchanges: list[Part]


def _cell_index(shown: StoredMap, *, time_ms: int, price: float) -> tuple[int, int]:
    m = shown.heatmap
    bar_ms = m.bar_seconds * 1000
    col = int((time_ms - int(shown.times[0])) // bar_ms)
    if not 0 <= col < m.width:
        raise CellError("time", "The time is outside the map's window.")
    if not m.price_lo <= price < m.price_hi:
        raise CellError("price", "The price is outside the map's price range.")
    bin_ = min(int((price - m.price_lo) / (m.price_hi - m.price_lo) * m.bins), m.bins - 1)
    return col, bin_


def _tier_leverages(shown: StoredMap, filt: MapFilter) -> tuple[float, ...]:
    if filt.tiers is not None:
        return filt.tiers
    levs = (shown.heatmap.liquidation_map or {}).get("leverages") or []
    return tuple(float(lev) for lev in levs)


def _part_maps(
    *, asset: Asset, stored: StoredMap, filt: MapFilter, params: ModelV2Params | None, exchange_codes: list[str]
) -> tuple[list[tuple[float, StoredMap | None]], list[tuple[str, StoredMap | None]]]:
    """The map of each tier (under the filter's exchanges and moment) and of each exchange (under the
    filter's tiers and moment)."""
    tiers = [
        (
            lev,
            filtered_map(
                asset=asset, stored=stored, filt=dataclasses.replace(filt, tiers=(lev,), band=None), params=params
            ),
        )
        for lev in _tier_leverages(stored, filt)
    ]
    codes = list(filt.exchanges) if filt.exchanges is not None else exchange_codes
    exchanges: list[tuple[str, StoredMap | None]] = []
    if len(codes) > 1:
        exchanges = [
            (
                code,
                filtered_map(
                    asset=asset, stored=stored, filt=dataclasses.replace(filt, exchanges=(code,)), params=params
                ),
            )
            for code in codes
        ]
    return tiers, exchanges


def _at(part: StoredMap | None, col: int, bin_: int) -> tuple[float, float]:
    if part is None:
        return 0.0, 0.0
    return float(part.long[col, bin_]), float(part.short[col, bin_])


def cell_breakdown(
    *,
    asset: Asset,
    stored: StoredMap,
    shown: StoredMap,
    filt: MapFilter,
    params: ModelV2Params | None,
    time_ms: int,
    price: float,
) -> CellBreakdown:
    """The cell of ``shown`` (``stored`` drawn with ``filt`` and ``params``) at ``time_ms`` and ``price``,
    split by leverage tier and by exchange. ``CellError`` names the parameter that falls outside."""
    col, bin_ = _cell_index(shown, time_ms=time_ms, price=price)
    tiers, exchanges = _part_maps(
        asset=asset, stored=stored, filt=filt, params=params, exchange_codes=asset_exchange_codes(asset)
    )
    m = shown.heatmap
    width = (m.price_hi - m.price_lo) / m.bins
    long_usd, short_usd = _at(shown, col, bin_)
    return CellBreakdown(
        time_ms=int(shown.times[col]),
        price_low=m.price_lo + bin_ * width,
        price_high=m.price_lo + (bin_ + 1) * width,
        long_usd=long_usd,
        short_usd=short_usd,
        tiers=[Part(f"{lev:g}", f"{lev:g}x", *_at(part, col, bin_)) for lev, part in tiers],
        exchanges=[Part(code, EXCHANGE_NAMES.get(code, code), *_at(part, col, bin_)) for code, part in exchanges],
    )


def cluster_exchange_mix(
    *, asset: Asset, stored: StoredMap, shown: StoredMap, filt: MapFilter, params: ModelV2Params | None
) -> list[dict[str, Any]]:
    """Per cluster of ``shown`` (in its order): the USD each exchange's map holds on the cluster's side and
    bins at the newest column, and each one's share of their sum. Empty lists for a one-exchange asset."""
    codes = list(filt.exchanges) if filt.exchanges is not None else asset_exchange_codes(asset)
    clusters = shown.heatmap.clusters or []
    if len(codes) < 2:
        return [{"exchanges": []} for _ in clusters]
    parts = [
        (
            code,
            filtered_map(asset=asset, stored=stored, filt=dataclasses.replace(filt, exchanges=(code,)), params=params),
        )
        for code in codes
    ]
    edges = np.linspace(shown.heatmap.price_lo, shown.heatmap.price_hi, shown.heatmap.bins + 1)
    out = []
    for cluster in clusters:
        lo = int(np.searchsorted(edges, cluster["price_low"], side="left"))
        hi = int(np.searchsorted(edges, cluster["price_high"], side="left"))
        usd = []
        for code, part in parts:
            grid = None if part is None else (part.long if cluster["side"] == "long" else part.short)
            usd.append((code, 0.0 if grid is None else float(grid[-1, lo:hi].sum())))
        total = sum(v for _, v in usd)
        out.append(
            {
                "exchanges": [
                    {
                        "exchange": code,
                        "name": EXCHANGE_NAMES.get(code, code),
                        "usd": value,
                        "share": value / total if total > 0 else None,
                    }
                    for code, value in usd
                ]
            }
        )
    return out
