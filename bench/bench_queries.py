"""Query benchmark: "last 30 days of 5m candles for one asset" at millions of rows, and index sizes.

Uses its own database (liqplatform_bench), filled once with generate_series: 10 assets × 2 years of
5m candles (2.1 M rows). Prints figures; asserts nothing.
Run: make bench  (or LIQ_TESTING=1 .venv/bin/python bench/bench_queries.py)
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import setup

setup()

from datetime import UTC, datetime, timedelta  # noqa: E402

from django.db import connection  # noqa: E402

from heatmaps.maps import load_base_bars  # noqa: E402
from heatmaps.marketdata.partitions import ensure_partitions_for_span  # noqa: E402
from heatmaps.models import Asset, Candle, Exchange  # noqa: E402

ASSETS = 10
DAYS = 730
END = datetime(2026, 1, 1, tzinfo=UTC)


def populate() -> None:
    binance = Exchange.objects.get(code="binance")
    for i in range(ASSETS):
        asset, _ = Asset.objects.get_or_create(
            symbol=f"BENCH{i}USDT",
            defaults={"display_name": f"bench {i}", "base": f"B{i}", "reference_exchange": binance},
        )
        asset.exchanges.add(binance)
    # The database is shared with the other benches (the sample, the alert bench's BENCHAL assets): fill
    # only when these assets have no candles yet, and only these.
    if Candle.objects.filter(asset__symbol__regex=r"^BENCH[0-9]+USDT$").exists():
        return
    print(f"filling {ASSETS} assets × {DAYS} days of 5m candles …", flush=True)
    started = time.perf_counter()
    # Raw SQL bypasses the upserts, which create the months' partitions before writing.
    ensure_partitions_for_span(model=Candle, first=END - timedelta(days=DAYS), last=END)
    with connection.cursor() as cursor:
        # Interleaved by time, as live ingestion writes them.
        cursor.execute(
            """
            INSERT INTO heatmaps_candle (asset_id, exchange_id, open_time, open, high, low, close, volume, taker_buy_volume)
            SELECT a.id, %s, t, 100 + sin(extract(epoch FROM t) / 9000) * 10, 112, 88, 101, 10, 5
            FROM generate_series(%s::timestamptz, %s::timestamptz - interval '5 minutes', interval '5 minutes') AS t
            CROSS JOIN (SELECT id FROM heatmaps_asset WHERE symbol ~ '^BENCH[0-9]+USDT$' ORDER BY id) AS a
            ORDER BY t, a.id
            """,
            [binance.pk, END - timedelta(days=DAYS), END],
        )
        cursor.execute("VACUUM ANALYZE heatmaps_candle")
    print(f"filled in {time.perf_counter() - started:.1f} s")


def size(name: str) -> str:
    """Of a table or index, summed over its partitions when it has any."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(sum(pg_relation_size(relid))) FROM pg_partition_tree(%s) WHERE isleaf", [name]
        )
        return str(cursor.fetchone()[0])


def timed(fn: Callable[[], None], repeat: int = 15) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return min(samples), statistics.median(samples)


def main() -> None:
    populate()
    rows = Candle.objects.count()
    asset = Asset.objects.get(symbol="BENCH3USDT")
    since = END - timedelta(days=30)

    def raw_query() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT open_time, open, high, low, close, volume, taker_buy_volume FROM heatmaps_candle "
                "WHERE asset_id = %s AND exchange_id = %s AND open_time >= %s ORDER BY open_time",
                [asset.pk, asset.reference_exchange_id, since],
            )
            assert len(cursor.fetchall()) == 8640

    def loader() -> None:
        loaded = load_base_bars(asset=asset, since=since)
        assert loaded is not None and len(loaded.bars.open_time) == 8640

    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT * FROM heatmaps_candle WHERE asset_id = %s AND exchange_id = %s AND open_time >= %s",
            [asset.pk, asset.reference_exchange_id, since],
        )
        plan = cursor.fetchone()[0]
    q_min, q_med = timed(raw_query)
    l_min, l_med = timed(loader, 5)
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX IF NOT EXISTS bench_btree_open_time ON heatmaps_candle (open_time)")
    btree_time = size("bench_btree_open_time")
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX bench_btree_open_time")

    print(f"\ncandles table: {rows:,} rows ({size('heatmaps_candle')})")
    print(f"plan: {plan}")
    print(
        f"30 days of 5m candles for one asset (8 640 rows), SQL only:      min {q_min:6.1f} ms  median {q_med:6.1f} ms"
    )
    print(f"same, loaded into numpy arrays with OI join (load_base_bars):  min {l_min:6.1f} ms  median {l_med:6.1f} ms")
    print("index sizes:")
    print(f"  primary key btree (asset, exchange, open_time): {size('heatmaps_candle_pkey')}")
    print(f"  BRIN on open_time:                              {size('heatmaps_candle_open_time_brin')}")
    print(f"  btree on open_time (for comparison, dropped):   {btree_time}")


if __name__ == "__main__":
    main()
