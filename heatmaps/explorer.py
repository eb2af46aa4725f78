"""Maps drawn on request from a stored map's run: some leverage tiers only, some exchanges' open
interest only, the map as it would have been drawn at a past moment, or the map drawn with other
model-v2 parameters (a custom model in the URL, a user's own model).

The engine draws a year's map in a few milliseconds, so none of these is stored: each is computed
from the same base bars as the stored map (up to its newest bar, or up to the moment asked for) and
cached under the stored map's own cache key, so a new version of the map is a new filtered map too.
Other parameters are cached by their hash (``ModelV2Params.cache_key()``), never by who asked: a shared
link is one cache entry.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.cache import cache

from heatmaps import engine
from heatmaps.engine import decode_grid
from heatmaps.engine.compare import Comparison, compare_maps
from heatmaps.engine.filters import BANDS, compute_tier_heatmap
from heatmaps.engine.run import MassBalance
from heatmaps.maps import CACHE_SECONDS, MODEL_V2, StoredMap, heatmap_cache_key, map_values
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.marketdata.base_bars import asset_params, load_base_bars
from heatmaps.models import EXCHANGE_NAMES, Asset, Heatmap, PublishedMap
from heatmaps.published import as_row, published_at
from heatmaps.rows import BASE_BAR_MS

if TYPE_CHECKING:
    from heatmaps.engine.model_v2 import ModelV2Params

LEVERAGE_BANDS = tuple(BANDS)


class FilterError(ValueError):
    """A filter the map cannot take, naming the query parameter it came from."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class MapFilter:
    """Which part of a stored map's run to draw. None everywhere is the stored map itself."""

    tiers: tuple[float, ...] | None = None  # leverages kept, in the model's order; None: every tier
    band: str | None = None  # the band the tiers came from (lev=), for the words
    exchanges: tuple[str, ...] | None = None  # exchange codes whose open interest is summed; None: all
    at: datetime | None = None  # draw the map as of this moment (UTC)

    @property
    def active(self) -> bool:
        return self.tiers is not None or self.exchanges is not None or self.at is not None

    def cache_part(self) -> str:
        tiers = ",".join(f"{lev:g}" for lev in self.tiers) if self.tiers is not None else "*"
        exchanges = ",".join(self.exchanges) if self.exchanges is not None else "*"
        at = str(dt_to_ms(self.at)) if self.at is not None else "-"
        return f"tiers={tiers}:ex={exchanges}:at={at}"

    def words(self) -> list[str]:
        """The filter as a title says it: "50–100x", "Binance OI", "as at 2026-01-10 12:00 UTC"."""
        out = []
        if self.tiers is not None:
            levs = "+".join(f"{lev:g}x" for lev in self.tiers)
            out.append(f"{self.band} leverage ({levs})" if self.band else f"{levs} only")
        if self.exchanges is not None:
            out.append(" + ".join(EXCHANGE_NAMES.get(c, c) for c in self.exchanges) + " open interest only")
        if self.at is not None:
            out.append(f"as at {self.at.strftime('%Y-%m-%d %H:%M')} UTC")
        return out

    def query(self) -> dict[str, str]:
        """The filter as URL parameters (a band by its name)."""
        out: dict[str, str] = {}
        if self.band:
            out["lev"] = self.band
        elif self.tiers is not None:
            out["tiers"] = ",".join(f"{lev:g}" for lev in self.tiers)
        if self.exchanges is not None:
            out["exchange"] = ",".join(self.exchanges)
        if self.at is not None:
            out["at"] = self.at.strftime("%Y-%m-%dT%H:%MZ")
        return out


def asset_exchange_codes(asset: Asset) -> list[str]:
    """The exchanges whose open interest the asset's maps sum (its enabled ones), in code order."""
    return sorted(asset.exchanges.filter(enabled=True).values_list("code", flat=True))


def _split(values: str | Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def resolve_filter(
    *,
    asset: Asset,
    tiers: str | Iterable[str] | None = None,
    lev: str | None = None,
    exchange: str | Iterable[str] | None = None,
    at: datetime | None = None,
    exchange_codes: list[str] | None = None,
    model_params: ModelV2Params | None = None,
) -> MapFilter:
    """Check a filter against the asset's model and exchanges; ``FilterError`` names the parameter.
    A filter that keeps everything is no filter: the stored map answers it. ``model_params``: the tiers
    are model v2's (these parameters') instead of the asset's v1 tiers."""
    leverages = (
        asset_params(asset).leverages
        if model_params is None
        else tuple(tier.leverage for tier in model_params.effective().tiers)
    )
    kept: tuple[float, ...] | None = None
    band = None
    tier_parts = _split(tiers)
    if tier_parts and lev:
        raise FilterError("lev", "Give tiers or lev, not both.")
    if tier_parts:
        wanted = set()
        for part in tier_parts:
            try:
                value = float(part.lower().rstrip("x"))
            except ValueError:
                value = float("nan")
            if value not in leverages:
                known = ", ".join(f"{v:g}" for v in leverages)
                raise FilterError("tiers", f"The model has no {part[:20]!r} tier; its tiers are {known}.")
            wanted.add(value)
        kept = tuple(v for v in leverages if v in wanted)
    elif lev:
        band = lev.strip().lower()
        if band not in BANDS:
            raise FilterError("lev", f"Unknown leverage band {lev[:20]!r}; choose {', '.join(BANDS)}.")
        lo, hi = BANDS[band]
        kept = tuple(v for v in leverages if lo <= v <= hi)
        if not kept:
            raise FilterError("lev", f"The model has no tier in the {band} band.")
    if kept is not None and len(kept) == len(leverages):
        kept, band = None, None
    codes = exchange_codes if exchange_codes is not None else asset_exchange_codes(asset)
    chosen: tuple[str, ...] | None = None
    exchange_parts = [p.lower() for p in _split(exchange)]
    if exchange_parts:
        unknown = [p for p in exchange_parts if p not in codes]
        if unknown:
            raise FilterError(
                "exchange", f"{asset.symbol} has no exchange {unknown[0][:20]!r}; choose from {', '.join(codes)}."
            )
        chosen = tuple(c for c in codes if c in exchange_parts)
        if set(chosen) == set(codes):
            chosen = None
    return MapFilter(tiers=kept, band=band, exchanges=chosen, at=at)


def filtered_map(
    *, asset: Asset, stored: StoredMap, filt: MapFilter, params: ModelV2Params | None = None
) -> StoredMap | None:
    """The stored map's run drawn with the filter, shaped like the stored map (a Heatmap row that is
    never saved, and its grids). None when there is no data up to ``filt.at``. ``params``: draw with
    these model-v2 parameters instead of the stored map's, from the same bars."""
    if not filt.active and params is None:
        return stored
    row = stored.heatmap
    if params is None and filt.at is not None and filt.tiers is None and filt.exchanges is None:
        kept = published_at(heatmap=row, at=filt.at)
        if kept is not None:  # the map as it was shown then: never recomputed
            return _published_map(kept, row=row, filt=filt)
    model_part = f":model=v2:{params.cache_key()}" if params is not None else ""
    key = f"{heatmap_cache_key(row)}{model_part}:filtered:{filt.cache_part()}"
    found = cache.get(key)
    if found is None:
        found = _compute(asset=asset, row=row, filt=filt, params=params) or {"empty": True}
        cache.set(key, found, CACHE_SECONDS)
    if found.get("empty"):
        return None
    view = copy.copy(row)
    for name, value in found["fields"].items():
        setattr(view, name, value)
    view.explorer_filter = filt  # type: ignore[attr-defined]  # read by the titles and provenance
    view.explorer_source = "rebuilt" if filt.at is not None else "computed"  # type: ignore[attr-defined]
    edges = np.linspace(view.price_lo, view.price_hi, view.bins + 1)
    times = dt_to_ms(view.first_bucket) + np.arange(view.width, dtype=np.int64) * view.bar_seconds * 1000
    return StoredMap(
        heatmap=view, times=times, prices=(edges[:-1] + edges[1:]) / 2, long=found["long"], short=found["short"]
    )


def _published_map(kept: PublishedMap, *, row: Heatmap, filt: MapFilter) -> StoredMap:
    view = as_row(kept, row)
    view.explorer_filter = filt  # type: ignore[attr-defined]
    view.explorer_source = "archive"  # type: ignore[attr-defined]
    key = f"published:{kept.pk}"  # immutable: its grids are cached by the copy alone
    grids = cache.get(key)
    if grids is None:
        shape = (view.width, view.bins)
        grids = (
            decode_grid(bytes(view.long_grid), view.long_scale, shape).astype(np.float32),
            decode_grid(bytes(view.short_grid), view.short_scale, shape).astype(np.float32),
        )
        cache.set(key, grids, CACHE_SECONDS)
    edges = np.linspace(view.price_lo, view.price_hi, view.bins + 1)
    times = dt_to_ms(view.first_bucket) + np.arange(view.width, dtype=np.int64) * view.bar_seconds * 1000
    return StoredMap(heatmap=view, times=times, prices=(edges[:-1] + edges[1:]) / 2, long=grids[0], short=grids[1])


def _row_params(row: Heatmap, asset: Asset) -> engine.ModelParams:
    """The parameters the stored map was computed with (the asset's may have been edited since)."""
    p = row.params or {}
    if not p.get("tiers"):
        return asset_params(asset)
    return engine.ModelParams(
        tiers=engine.ModelParams.parse_tiers(p["tiers"]), mmr=p["mmr"], n_bins=p["bins"], pad=p["pad"]
    ).validate()


def row_v2_params(row: Heatmap) -> ModelV2Params:
    """The model-v2 parameters a stored v2 map was computed with (its params less what the store added)."""
    from heatmaps.engine.model_v2 import ModelV2Params

    return ModelV2Params.from_json({k: v for k, v in (row.params or {}).items() if k not in ("model", "sweep_price")})


def _v2_tier_heatmap(
    *, bars: engine.Buckets, timeframe: engine.Timeframe, params: ModelV2Params, leverages: tuple[float, ...] | None
) -> engine.HeatmapGrid:
    """Model v2's map of some tiers only: as for v1 (engine/filters.py) the run is linear in the USD it
    places, so it is the run of the kept tiers renormalised, scaled back by their share (not renormalised)."""
    from heatmaps.engine.model_v2 import compute_heatmap_v2

    params = params.effective()  # the tiers a filter names are those the model runs with
    keep = set(leverages) if leverages is not None else None
    if keep is None or keep >= {t.leverage for t in params.tiers}:
        return compute_heatmap_v2(bars=bars, timeframe=timeframe, params=params)
    kept = [t for t in params.tiers if t.leverage in keep]
    total = math.fsum(t.weight for t in kept)
    tiers = tuple(dataclasses.replace(t, weight=(t.weight / total) if total > 0 else 1 / len(kept)) for t in kept)
    grid = compute_heatmap_v2(bars=bars, timeframe=timeframe, params=dataclasses.replace(params, tiers=tiers))
    return dataclasses.replace(
        grid,
        long=grid.long * total,
        short=grid.short * total,
        tier_long=grid.tier_long * total,
        tier_short=grid.tier_short * total,
        balance=MassBalance(**{f.name: getattr(grid.balance, f.name) * total for f in dataclasses.fields(MassBalance)}),
    )


def _compute(
    *, asset: Asset, row: Heatmap, filt: MapFilter, params: ModelV2Params | None = None
) -> dict[str, Any] | None:
    tf = engine.TIMEFRAMES[row.timeframe]
    end = row.data_end
    if filt.at is not None:
        # The bars that had closed by then: a bar opening at T closes at T + 5 min.
        closed = dt_to_ms(filt.at) - BASE_BAR_MS
        end = min(end, ms_to_dt(closed // BASE_BAR_MS * BASE_BAR_MS))
    reach = timedelta(milliseconds=2 * tf.window_ms + tf.bar_ms)
    loaded = load_base_bars(asset=asset, since=end - reach, until=end, exchanges=filt.exchanges)
    if loaded is None:
        return None
    v2 = params if params is not None else (row_v2_params(row) if row.model == MODEL_V2 else None)
    started = time.perf_counter()
    params_json = None
    if v2 is not None:
        grid = _v2_tier_heatmap(bars=loaded.bars, timeframe=tf, params=v2, leverages=filt.tiers)
        v1_params = grid.params
        params_json = v2.to_json()
    else:
        v1_params = _row_params(row, asset)
        try:
            grid = compute_tier_heatmap(bars=loaded.bars, timeframe=tf, params=v1_params, leverages=filt.tiers)
        except ValueError as exc:  # the asset's tiers changed since the map was stored
            raise FilterError("tiers", str(exc)) from None
    engine_ms = (time.perf_counter() - started) * 1000
    # Some tiers of the stored run: its candles and panels stand (and cost nothing to keep).
    same_series = filt.exchanges is None and filt.at is None
    values = map_values(
        asset=asset,
        key=row.timeframe,
        grid=grid,
        loaded=loaded,
        params=v1_params,
        engine_ms=engine_ms,
        series=not same_series,
        params_json=params_json,
    )
    if params is None:
        values["params"] = row.params  # the stored map's own run
    else:
        values["model"] = MODEL_V2
    if filt.at is None:
        values["computed_at"] = row.computed_at  # the same run as the stored map
    shape = (values["width"], values["bins"])
    # The grids as the stored map's are served: through the codec, so every representation agrees.
    long = decode_grid(values["long_grid"], values["long_scale"], shape).astype(np.float32)
    short = decode_grid(values["short_grid"], values["short_scale"], shape).astype(np.float32)
    return {"fields": values, "long": long, "short": short}


@dataclass(frozen=True)
class ComparedMaps:
    """Two filters of one stored map's run, compared on one scale (heatmaps/engine/compare.py)."""

    a: StoredMap
    b: StoredMap
    grid_a: np.ndarray  # the side shown, USD per cell
    grid_b: np.ndarray
    result: Comparison


def compare_filters(
    *,
    asset: Asset,
    stored: StoredMap,
    a: MapFilter,
    b: MapFilter,
    side: str,
    a_params: ModelV2Params | None = None,
    b_params: ModelV2Params | None = None,
) -> ComparedMaps:
    """Both filtered maps (cached like any other) and their comparison, cell for cell. Moments are refused
    here: two moments' maps have different windows and grids, so their cells do not line up; they are
    compared by the levels standing at their ends instead (heatmaps/moment_compare.py). ``a_params``/``b_params``: a
    side drawn with model-v2 parameters, from the same run of bars as ``stored`` (so a v2 side lines up
    with a v1 side cell for cell even while the stored v2 map trails)."""
    if a.at is not None or b.at is not None:
        raise FilterError("at", "Maps of two moments have different windows; compare filters of one moment.")
    maps = []
    for filt, params in ((a, a_params), (b, b_params)):
        shown = filtered_map(asset=asset, stored=stored, filt=filt, params=params)
        assert shown is not None  # no moment: the stored run always has its data
        maps.append(shown)

    def grid(m: StoredMap) -> np.ndarray:
        if side == "long":
            return m.long.astype(np.float64)
        if side == "short":
            return m.short.astype(np.float64)
        return m.long.astype(np.float64) + m.short

    def clusters(m: StoredMap) -> list[dict[str, Any]]:
        return [c for c in m.heatmap.clusters if side in ("both", c["side"])]

    grid_a, grid_b = grid(maps[0]), grid(maps[1])
    result = compare_maps(a=grid_a, b=grid_b, a_clusters=clusters(maps[0]), b_clusters=clusters(maps[1]))
    return ComparedMaps(a=maps[0], b=maps[1], grid_a=grid_a, grid_b=grid_b, result=result)


def hyperliquid_model_map(asset: Asset, stored: StoredMap) -> StoredMap | None:
    """The stored map's run with Hyperliquid's open interest alone (what the measured layer is compared
    with and merged into), or None when the asset's maps have no Hyperliquid open interest."""
    try:
        filt = resolve_filter(asset=asset, exchange="hyperliquid")
    except FilterError:
        return None
    return filtered_map(asset=asset, stored=stored, filt=filt)
