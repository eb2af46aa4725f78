"""Map explorer benchmark: maps drawn on request from a stored map's run (heatmaps/explorer.py).

Prints, asserts nothing:
- the engine alone on ~2 years of synthetic 5-minute bars: the whole 1w and 1y maps against the same
  maps of one leverage band (the run with only those tiers' positions);
- the map API on the sample set with a filter (a band, one tier, one exchange's open interest, a past
  moment), p50/p95 cold (base bars loaded, engine run, grids through the codec, JSON built: the first
  request of a filter after a map's new version) and warm (the body cached under its ETag).
Run: make bench  (or LIQ_TESTING=1 .venv/bin/python bench/bench_explorer.py)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LIQ_API_ANON_RATE", "1000000/min")
os.environ.setdefault("LIQ_API_USER_RATE", "1000000/min")
from bench_db import setup

setup()

from bench_engine import synthetic_bars  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from heatmaps import engine  # noqa: E402
from heatmaps.engine.filters import band_leverages, compute_tier_heatmap  # noqa: E402
from heatmaps.explorer import filtered_map, resolve_filter  # noqa: E402
from heatmaps.maps import heatmap_cache_key, heatmap_compute, read_heatmap  # noqa: E402
from heatmaps.marketdata import load_sample_data  # noqa: E402
from heatmaps.models import Asset, PublishedMap  # noqa: E402
from heatmaps.serializers import UtcInstantField  # noqa: E402

RUNS = 25
URL = "/api/v1/assets/BTCUSDT/heatmap/?cells=packed&timeframe="


def best_ms(fn: object, repeat: int = 7) -> float:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return min(out)


def engine_figures() -> None:
    bars = engine.BaseBars(**{k: getattr(synthetic_bars(), k) for k in engine.BaseBars.__dataclass_fields__})
    params = engine.ModelParams()
    high = band_leverages(params=params, band="high")
    print("engine, ~2 years of synthetic 5-minute bars (best of 7):")
    print(f"  {'map':<6} {'whole ms':>9} {'high band ms':>13}")
    for tf in ("1w", "1y"):
        whole = best_ms(lambda tf=tf: engine.compute_heatmap(bars=bars, timeframe=tf, params=params))
        band = best_ms(lambda tf=tf: compute_tier_heatmap(bars=bars, timeframe=tf, params=params, leverages=high))
        print(f"  {tf:<6} {whole:9.1f} {band:13.1f}")


def api_figures() -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["1w", "1y"])
    client = Client(HTTP_ACCEPT_ENCODING="gzip", HTTP_HOST="127.0.0.1")
    print("map API on the sample set (33 days of bars), in-process:")
    print(f"  {'map and filter':<30} {'compute':>9} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9}  ms")
    for tf in ("1w", "1y"):
        stored = read_heatmap(asset=btc, timeframe=tf)
        assert stored is not None
        at = (stored.heatmap.data_end - timedelta(days=1)).strftime("%Y-%m-%dT%H:%MZ")
        for label, query in (
            ("lev=high", "lev=high"),
            ("tiers=50", "tiers=50"),
            ("exchange=binance, lev=mid", "exchange=binance&lev=mid"),
            ("at= a day back", f"at={at}"),
        ):
            url = f"{URL}{tf}&{query}"
            params = dict(part.split("=") for part in query.split("&"))
            moment = UtcInstantField().to_internal_value(params["at"]) if "at" in params else None
            filt = resolve_filter(
                asset=btc, tiers=params.get("tiers"), lev=params.get("lev"), exchange=params.get("exchange"), at=moment
            )
            cold = []
            for _ in range(RUNS):
                etag = client.get(url)["ETag"].removeprefix("W/")  # gzip weakens the tag the body is kept under
                # Forget the filtered map and its body: the next request computes both.
                cache.delete(f"{heatmap_cache_key(stored.heatmap)}:filtered:{filt.cache_part()}")
                cache.delete_many([f"heatmap-json:{etag}"])
                started = time.perf_counter()
                response = client.get(url)
                response.getvalue()
                cold.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            warm = []
            for _ in range(RUNS):
                started = time.perf_counter()
                client.get(url).getvalue()
                warm.append((time.perf_counter() - started) * 1000)
            compute = []
            for _ in range(RUNS):  # the filtered map alone: load, engine, codec, clusters, panels
                cache.delete(f"{heatmap_cache_key(stored.heatmap)}:filtered:{filt.cache_part()}")
                started = time.perf_counter()
                filtered_map(asset=btc, stored=stored, filt=filt)
                compute.append((time.perf_counter() - started) * 1000)
            cold.sort()
            print(
                f"  {tf + ' ' + label:<30} {statistics.median(compute):9.1f} {statistics.median(cold):9.1f} {cold[int(RUNS * 0.95)]:9.1f}"
                f" {statistics.median(warm):9.1f}"
            )


def compare_figures() -> None:
    """Two bands of the 1y map compared (both filtered maps cold, then cached)."""
    btc = Asset.objects.get(symbol="BTCUSDT")
    client = Client(HTTP_ACCEPT_ENCODING="gzip", HTTP_HOST="127.0.0.1")
    url = "/api/v1/assets/BTCUSDT/heatmap/compare/?timeframe=1y&a=lev%3Dhigh&b=lev%3Dlow"
    stored = read_heatmap(asset=btc, timeframe="1y")
    assert stored is not None
    keys = [
        f"{heatmap_cache_key(stored.heatmap)}:filtered:{resolve_filter(asset=btc, lev=band).cache_part()}"
        for band in ("high", "low")
    ]
    cold, warm = [], []
    for _ in range(RUNS):
        cache.delete_many(keys)
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        cold.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        client.get(url).getvalue()
        warm.append((time.perf_counter() - started) * 1000)
    cold.sort()
    print(
        f"  {'1y compare lev=high vs low':<30} {'':>9} {statistics.median(cold):9.1f} {cold[int(RUNS * 0.95)]:9.1f}"
        f" {statistics.median(warm):9.1f}"
    )


def archive_figures() -> None:
    """The published maps' size on disk per asset per month: one copy per hour of each timeframe (one
    a day of the 1y map), each as large as its row in the archive (grids in the stored codec, candles,
    clusters and panels as JSON, PostgreSQL's own compression included)."""
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=list(engine.TIMEFRAMES))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT timeframe, pg_column_size(long_grid) + pg_column_size(short_grid) + pg_column_size(fields) "
            f"FROM {PublishedMap._meta.db_table} WHERE asset_id = %s ORDER BY slot DESC",
            [btc.pk],
        )
        sizes: dict[str, int] = {}
        for timeframe, size in cursor.fetchall():
            sizes.setdefault(timeframe, size)  # the newest copy of each
    per_month = sum(size * (30 if tf == "1y" else 30 * 24) for tf, size in sizes.items())
    print("archive of published maps (sample set, one copy per hour; 1y one per day):")
    print("  " + ", ".join(f"{tf} {sizes[tf] / 1024:.0f} KB" for tf in engine.TIMEFRAMES if tf in sizes))
    print(f"  per asset per month: {per_month / 1024**2:.0f} MB")


def main() -> None:
    engine_figures()
    api_figures()
    compare_figures()
    archive_figures()


if __name__ == "__main__":
    main()
