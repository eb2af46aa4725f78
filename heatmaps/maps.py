"""Heat maps in and out of the database: load base bars → engine → store quantised; read for pages/API.

These are the only functions that touch both the ORM and numpy.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from heatmaps import engine
from heatmaps.engine import decode_grid, encode_grid
from heatmaps.engine.provenance import cluster_provenance
from heatmaps.live import publishers as live
from heatmaps.marketdata import asset_summary_refresh, dt_to_ms, map_panels, ms_to_dt
from heatmaps.marketdata.base_bars import LoadedBars, asset_params, load_base_bars
from heatmaps.marketdata.risk_limits import asset_v2_params
from heatmaps.models import Asset, Candle, Heatmap, OpenInterest
from heatmaps.published import publish
from heatmaps.rows import BASE_BAR_MS

if TYPE_CHECKING:
    from heatmaps.engine.model_v2 import ModelV2Params

log = logging.getLogger(__name__)
MODEL = "v1"
MODEL_V2 = "v2"
# Short-lived: the 12h/24h maps get a new version every minute, and old versions must not pile up in
# the Redis that is also the Celery broker. float32 halves the size (display precision is ample).
CACHE_SECONDS = 10 * 60


def _bucket_candles(loaded: LoadedBars, times: np.ndarray, bar_ms: int) -> list[list[float | None] | None]:
    """OHLCV per output column from the base bars; None for a bucket with no base bar."""
    t = loaded.bars.open_time
    bucket = (t // bar_ms) * bar_ms
    out: list[list[float | None] | None] = []
    starts = np.searchsorted(bucket, times, side="left")
    ends = np.searchsorted(bucket, times, side="right")
    for b, s, e in zip(times, starts, ends, strict=True):
        if s == e:
            out.append(None)
            continue
        vol = loaded.bars.volume[s:e]
        out.append(
            [
                int(b),
                float(loaded.open[s]),
                float(loaded.bars.high[s:e].max()),
                float(loaded.bars.low[s:e].min()),
                float(loaded.bars.close[e - 1]),
                None if np.isnan(vol).all() else float(np.nansum(vol)),
            ]
        )
    return out


def newest_bar_time(*, asset: Asset) -> datetime | None:
    """Open time of the newest stored candle of the asset's reference exchange (the map's last bar)."""
    return (
        Candle.objects.filter(asset=asset, exchange=asset.reference_exchange)
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )


def default_v2_params(asset: Asset) -> ModelV2Params:
    """The asset's model-v2 parameters: the engine's default tiers with its venues' maintenance margin and
    maximum leverage (heatmaps/marketdata/risk_limits.py), on the asset's grid (bins, padding)."""
    return asset_v2_params(asset)


def trailing_v2_timeframes(*, asset: Asset) -> list[str]:
    """Timeframes whose v2 map trails its v1 map: never computed, or computed before v1's last store.
    v2 follows v1 one low-priority follow-up behind, at v1's own cadence."""
    v1 = dict(Heatmap.objects.filter(asset=asset, model=MODEL).values_list("timeframe", "computed_at"))
    v2 = dict(Heatmap.objects.filter(asset=asset, model=MODEL_V2).values_list("timeframe", "computed_at"))
    return [key for key in engine.TIMEFRAMES if key in v1 and (key not in v2 or v2[key] < v1[key])]


def stale_timeframes(*, asset: Asset, now: datetime | None = None) -> list[str]:
    """Timeframes worth recomputing after new data: those never computed, and those whose data (candles
    or open interest) is behind what is stored and whose last computation is older than a twelfth of
    their bar (one minute at least). So the 1y map refreshes every two hours, instead of re-reading two
    years of bars every minute, while the 12h/24h maps (one column per base bar, two days of bars to
    read) follow every new bar and snapshot the moment it is stored, however recent their last run."""
    now = now or timezone.now()
    newest = newest_bar_time(asset=asset)
    if newest is None:
        return []
    newest_oi = (
        OpenInterest.objects.filter(asset=asset, exchange__in=asset.exchanges.filter(enabled=True))
        .order_by("-time")
        .values_list("time", flat=True)
        .first()
    )
    stored = {
        m.timeframe: m
        for m in Heatmap.objects.filter(asset=asset, model=MODEL).only("timeframe", "data_end", "oi_end", "computed_at")
    }
    # OI is stamped at a bar's close, so only snapshots up to the newest bar's close can be used.
    usable_oi = min(newest_oi, newest + timedelta(milliseconds=BASE_BAR_MS)) if newest_oi else None
    stale = []
    for key, tf in engine.TIMEFRAMES.items():
        m = stored.get(key)
        refresh_every = timedelta(seconds=0 if tf.bar_ms == BASE_BAR_MS else max(60, tf.bar_ms // 12_000))
        if m is None:
            stale.append(key)
            continue
        behind = m.data_end < newest or (usable_oi is not None and (m.oi_end is None or m.oi_end < usable_oi))
        if behind and now - m.computed_at >= refresh_every:
            stale.append(key)
    return stale


def heatmap_compute(
    *, asset: Asset, timeframes: list[str] | None = None, summary: bool = True, model: str = MODEL
) -> list[Heatmap]:
    """Compute and store the requested timeframes of one asset from one load of its base bars.

    Each map is written in its own transaction that replaces the previous one whole; if computing
    fails nothing is written and the previous map stays. ``summary=False`` leaves the overview's row to
    the caller (the coalesced compute after a bar refreshes it later, off the path to the short maps).
    ``model="v2"`` stores model v2's maps, with the asset's v2 parameters; the overview reads v1 only.
    """
    if model not in (MODEL, MODEL_V2):
        raise ValueError(f"unknown model {model!r}; choose {MODEL} or {MODEL_V2}")
    keys = timeframes or list(engine.TIMEFRAMES)
    unknown = [k for k in keys if k not in engine.TIMEFRAMES]
    if unknown:
        raise ValueError(f"unknown timeframe(s) {', '.join(unknown)}; choose from {', '.join(engine.TIMEFRAMES)}")
    params = asset_params(asset)
    newest = newest_bar_time(asset=asset)
    if newest is None:
        return []
    # warm-up + window of the longest timeframe requested, plus one bucket of slack for alignment
    reach = max(2 * engine.TIMEFRAMES[k].window_ms + engine.TIMEFRAMES[k].bar_ms for k in keys)
    loaded = load_base_bars(asset=asset, since=newest - timedelta(milliseconds=reach))
    if loaded is None:
        return []
    started = time.perf_counter()
    params_json: dict[str, Any] | None = None
    if model == MODEL_V2:
        from heatmaps.engine.model_v2 import compute_all_timeframes_v2

        v2 = default_v2_params(asset).validate()
        grids = compute_all_timeframes_v2(bars=loaded.bars, params=v2, timeframes=keys)
        params_json = v2.to_json()
    else:
        grids = engine.compute_all_timeframes(bars=loaded.bars, params=params, timeframes=keys)
    engine_ms = (time.perf_counter() - started) * 1000
    stored = []
    for key in keys:
        stored.append(
            _store(
                asset=asset,
                key=key,
                grid=grids[key],
                loaded=loaded,
                params=grids[key].params,
                engine_ms=engine_ms / len(keys),
                model=model,
                params_json=params_json,
            )
        )
    if summary and model == MODEL:
        # The overview's row reads the new clusters; after commit, so it never shows a map that was rolled back.
        transaction.on_commit(partial(asset_summary_refresh, asset=asset))
    return stored


def map_values(
    *,
    asset: Asset,
    key: str,
    grid: engine.HeatmapGrid,
    loaded: LoadedBars,
    params: engine.ModelParams,
    engine_ms: float,
    series: bool = True,
    params_json: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A computed grid as the fields of its Heatmap row: the stored map's, and an on-request filtered
    map's (heatmaps/explorer.py), which is shown through the same code. Without ``series`` the candles
    and panels are left out: a map of some tiers only has the stored map's, and skips their cost.
    ``params_json`` is model v2's parameters (``ModelV2Params.to_json()``); the row's params then hold
    them with ``model`` and ``sweep_price`` (which price swept the positions: last, mark or mixed)."""
    tf = engine.TIMEFRAMES[key]
    long_blob, long_scale = encode_grid(grid.long)
    short_blob, short_scale = encode_grid(grid.short)
    lmap = engine.liquidation_map(grid)
    clusters = engine.find_clusters(grid, limit=20)
    warm_start = int(grid.times[0]) - tf.window_ms
    first_used = max(int(loaded.bars.open_time[0]), warm_start)
    values: dict[str, Any] = {
        "computed_at": timezone.now(),
        "compute_ms": engine_ms,
        "data_start": ms_to_dt(first_used),
        "data_end": ms_to_dt(int(loaded.bars.open_time[-1])),
        "oi_end": ms_to_dt(loaded.oi_end_ms) if loaded.oi_end_ms is not None else None,
        "candle_exchange": loaded.candle_exchange,
        "oi_exchanges": loaded.oi_exchanges,
        "oi_simulated": loaded.oi_simulated,
        "held_back": loaded.held_back_counts(first_used, int(loaded.bars.open_time[-1])),
        "params": (
            {"tiers": asset.tiers, "mmr": params.mmr, "bins": params.n_bins, "pad": params.pad}
            if params_json is None
            else {**params_json, "model": "v2", "sweep_price": getattr(grid, "sweep_price", "last")}
        ),
        "width": int(grid.long.shape[0]),
        "bins": int(grid.long.shape[1]),
        "first_bucket": ms_to_dt(int(grid.times[0])),
        "bar_seconds": tf.bar_ms // 1000,
        "price_lo": float(grid.edges[0]),
        "price_hi": float(grid.edges[-1]),
        "long_grid": long_blob,
        "short_grid": short_blob,
        "long_scale": long_scale,
        "short_scale": short_scale,
        # Each cluster with when it formed and its leverage mix (engine/provenance.py).
        "clusters": [
            {**_jsonable(c), **_jsonable(p)} for c, p in zip(clusters, cluster_provenance(grid, clusters), strict=True)
        ],
        "liquidation_map": _jsonable(
            {
                "price": lmap.price,
                "leverages": lmap.leverages,
                "cum_long": lmap.cum_long,
                "cum_short": lmap.cum_short,
                "tier_long": lmap.tier_long,
                "tier_short": lmap.tier_short,
                "total_long": lmap.total_long,
                "total_short": lmap.total_short,
            }
        ),
        "colour_scale_usd": engine.colour_scale(grid).full_usd,
        "current_price": float(lmap.price) if np.isfinite(lmap.price) else None,
    }
    if series:
        values["candles"] = _bucket_candles(loaded, grid.times, tf.bar_ms)
        values["panels"] = map_panels(
            asset=asset,
            open_time=loaded.bars.open_time,
            close=loaded.bars.close,
            volume=loaded.bars.volume,
            taker_buy=loaded.bars.taker_buy,
            oi_by_exchange=loaded.oi_by_exchange or {},
            times=grid.times,
            bar_ms=tf.bar_ms,
        )
    return values


def _store(
    *,
    asset: Asset,
    key: str,
    grid: engine.HeatmapGrid,
    loaded: LoadedBars,
    params: engine.ModelParams,
    engine_ms: float,
    model: str = MODEL,
    params_json: dict[str, Any] | None = None,
) -> Heatmap:
    values = map_values(
        asset=asset, key=key, grid=grid, loaded=loaded, params=params, engine_ms=engine_ms, params_json=params_json
    )
    long_blob, short_blob = values["long_grid"], values["short_grid"]
    with transaction.atomic():
        heatmap, created = Heatmap.objects.select_for_update().get_or_create(
            asset=asset, timeframe=key, model=model, defaults=values
        )
        if not created:
            if heatmap.data_end > values["data_end"]:
                # Two computations overlapped and a newer one already stored its map: keep it.
                log.info("%s %s: kept the newer stored map (data to %s)", asset.symbol, key, heatmap.data_end)
                return heatmap
            unchanged = (
                heatmap.data_end == values["data_end"]
                and heatmap.oi_end == values["oi_end"]
                and heatmap.params == values["params"]
                and bytes(heatmap.long_grid) == long_blob
                and bytes(heatmap.short_grid) == short_blob
                and heatmap.candles == values["candles"]
                and heatmap.panels == values["panels"]
                and heatmap.held_back == values["held_back"]
            )
            if unchanged:
                # Same data, same result: the stored map (its version, computed_at, caches) stands, and is
                # what is on show this hour too.
                publish(heatmap, now=timezone.now())
                return heatmap
            for name, value in values.items():
                setattr(heatmap, name, value)
            heatmap.version = F("version") + 1
            heatmap.save()
            heatmap.refresh_from_db(fields=["version"])
        publish(heatmap, now=timezone.now())  # the first version of each hour kept as shown: `at=` never repaints
    # Before the map event: a client that refetches on it must get the new tag, not a cached one.
    transaction.on_commit(partial(heatmap_generation_bump, symbol=asset.symbol))
    if model == MODEL:  # the event carries v1's tag; a v2 page refetches on it as well, a follow-up later
        live.map_stored(heatmap)  # a new map or a new version: open asset pages refetch it
    return heatmap


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: _jsonable(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, np.ndarray):
        # Whole arrays at C speed: the liquidation map's tiers × bins would otherwise be tens of thousands
        # of calls per stored map (a fifth of a short map's compute).
        if obj.dtype.kind == "f":
            values = obj.astype(object)
            values[~np.isfinite(obj)] = None
            return values.tolist()
        if obj.dtype.kind in "iub":
            return obj.tolist()
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def shared_cache_key(prefix: str, *parts: object) -> str:
    """A short cache key for what several requests share, from whatever identifies it (URLs and query
    values a client chose, hashed so any length or character makes a valid key)."""
    return f"{prefix}:{hashlib.sha256(repr(parts).encode()).hexdigest()[:40]}"


def heatmap_generation(symbol: str) -> int:
    """A counter per asset, bumped whenever one of its maps gets a new version: caches keyed by it (the
    map API's tag per URL) are fresh the moment a map changes, and still cost no database query."""
    return int(cache.get(_generation_key(symbol)) or 0)


def heatmap_generation_bump(*, symbol: str) -> None:
    key = _generation_key(symbol)
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between the two calls: any new value differs from the cached ones
        cache.set(key, time.time_ns(), timeout=None)


def _generation_key(symbol: str) -> str:
    return f"heatmap-gen:{symbol.upper()}"


def heatmap_cache_key(heatmap: Heatmap) -> str:
    # computed_at as well as the version: a restored or recreated database reuses ids and versions.
    return f"heatmap:{heatmap.pk}:v{heatmap.version}:{heatmap.computed_at.timestamp():.6f}"


@dataclass
class StoredMap:
    heatmap: Heatmap
    times: np.ndarray
    prices: np.ndarray
    long: np.ndarray
    short: np.ndarray


def read_heatmap(*, asset: Asset, timeframe: str, model: str = MODEL) -> StoredMap | None:
    """One indexed query for the row; the decoded grids are cached in Redis by the map's version."""
    heatmap = Heatmap.objects.filter(asset=asset, timeframe=timeframe, model=model).first()
    if heatmap is None:
        return None
    key = heatmap_cache_key(heatmap)
    grids = cache.get(key)
    if grids is None:
        shape = (heatmap.width, heatmap.bins)
        grids = (
            decode_grid(bytes(heatmap.long_grid), heatmap.long_scale, shape).astype(np.float32),
            decode_grid(bytes(heatmap.short_grid), heatmap.short_scale, shape).astype(np.float32),
        )
        cache.set(key, grids, CACHE_SECONDS)
    edges = np.linspace(heatmap.price_lo, heatmap.price_hi, heatmap.bins + 1)
    times = dt_to_ms(heatmap.first_bucket) + np.arange(heatmap.width, dtype=np.int64) * heatmap.bar_seconds * 1000
    return StoredMap(heatmap=heatmap, times=times, prices=(edges[:-1] + edges[1:]) / 2, long=grids[0], short=grids[1])


@dataclass(frozen=True)
class StoredClusters:
    """A stored map's clusters (largest first, the engine's shape) and the exclusive end of the data
    it was computed from: the open time of its newest base bar + 5 minutes."""

    timeframe: str
    version: int
    through_ms: int
    clusters: list[dict[str, Any]]


def stored_clusters(*, asset: Asset, model: str = MODEL) -> dict[str, StoredClusters]:
    """Every stored timeframe's clusters of one asset, in one query that leaves the grids unread."""
    rows = Heatmap.objects.filter(asset=asset, model=model).values_list("timeframe", "version", "data_end", "clusters")
    return {
        timeframe: StoredClusters(timeframe, version, dt_to_ms(data_end) + BASE_BAR_MS, clusters or [])
        for timeframe, version, data_end, clusters in rows
    }
