"""Ingest benchmark: a 30-day backfill of 5m candles (8 640 bars) from the fake exchange server into
PostgreSQL, and the lag from "bar closed" to "heat map updated" in the local set-up.

Uses the liqplatform_bench database. Prints figures; asserts nothing.
Run: make bench  (or .venv/bin/python bench/bench_ingest.py)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import setup

setup()


from heatmaps import ingest  # noqa: E402
from heatmaps.exchanges import get_connector  # noqa: E402
from heatmaps.maps import heatmap_compute  # noqa: E402
from heatmaps.models import Asset, Candle, Exchange, Heatmap  # noqa: E402
from heatmaps.rows import BASE_BAR_MS  # noqa: E402
from heatmaps.tasks import RECOMPUTE_DEBOUNCE_SECONDS, SHORT_TIMEFRAMES  # noqa: E402
from tests.heatmaps.exchanges.fake_exchange import FakeExchange, Series  # noqa: E402

BARS = 30 * 288


def main() -> None:
    binance = Exchange.get_supported("binance")
    asset, _ = Asset.objects.get_or_create(
        symbol="INGESTUSDT", defaults={"display_name": "ingest bench", "base": "INGEST", "reference_exchange": binance}
    )
    asset.exchanges.add(binance)
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - now_ms % BASE_BAR_MS
    series = Series(start_ms=end_ms - BARS * BASE_BAR_MS, bars=BARS)
    with FakeExchange(series, now_ms=end_ms + BASE_BAR_MS, binance_symbol="INGESTUSDT") as fake:
        conn = get_connector("binance", base_url=fake.base_url, now_ms=lambda: fake.now_ms)
        figures = []
        for run in range(3):
            Candle.objects.filter(asset=asset).delete()
            started = time.perf_counter()
            (result,) = ingest.backfill(
                asset=asset, exchange=binance, kinds=["candles"], start_ms=series.start_ms, end_ms=series.end_ms,
                now_ms=fake.now_ms, connector=conn,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            assert result.rows_written == BARS, result
            figures.append(elapsed)
            print(
                f"run {run + 1}: {BARS} candles in {elapsed:.2f} s = {BARS / elapsed:,.0f} rows/s (HTTP + parse + COPY/upsert)"
            )
        started = time.perf_counter()
        (again,) = ingest.backfill(
            asset=asset, exchange=binance, kinds=["candles"], start_ms=series.start_ms, end_ms=series.end_ms,
            now_ms=fake.now_ms, connector=conn,
        )  # fmt: skip
        print(f"re-run over stored data: {again.rows_written} rows written in {time.perf_counter() - started:.2f} s")
        (oi,) = ingest.backfill(
            asset=asset, exchange=binance, kinds=["open_interest"], start_ms=series.start_ms, end_ms=series.end_ms,
            now_ms=fake.now_ms, connector=conn,
        )  # fmt: skip

        # Lag: a new bar closes; the next ingest tick fetches it, the debounced recompute refreshes the maps.
        Candle.objects.filter(
            asset=asset, open_time__gte=Candle.objects.filter(asset=asset).latest("open_time").open_time
        ).delete()
        started = time.perf_counter()
        fetched = ingest.ingest_since_last(
            asset=asset, exchange=binance, kind="candles", now_ms=fake.now_ms, connector=conn
        )
        fetch_s = time.perf_counter() - started
        started = time.perf_counter()
        heatmap_compute(asset=asset, timeframes=SHORT_TIMEFRAMES)
        short_s = time.perf_counter() - started
        started = time.perf_counter()
        heatmap_compute(asset=asset)
        all_s = time.perf_counter() - started
        conn.close()
    best = min(figures)
    print(f"\ningest throughput (best of 3): {BARS / best:,.0f} rows/s into PostgreSQL ({oi.rows_written} OI rows too)")
    print(
        f"new bar: fetch + store {1000 * fetch_s:.0f} ms ({fetched.rows_written} bar); 12h+24h maps {1000 * short_s:.0f} ms; all nine maps {1000 * all_s:.0f} ms"
    )
    print(
        f"bar closed → heat map updated: ≤ 60 s beat interval + {1000 * fetch_s:.0f} ms fetch + "
        f"{RECOMPUTE_DEBOUNCE_SECONDS} s debounce + {1000 * all_s:.0f} ms recompute "
        f"(worst ≈ {60 + RECOMPUTE_DEBOUNCE_SECONDS + fetch_s + all_s:.1f} s, typical ≈ {30 + RECOMPUTE_DEBOUNCE_SECONDS + fetch_s + all_s:.1f} s)"
    )
    print(f"maps stored for {asset.symbol}: {Heatmap.objects.filter(asset=asset).count()}")


if __name__ == "__main__":
    main()
