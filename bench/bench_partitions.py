"""PostgreSQL at scale: the monthly-partitioned candle and open-interest tables at (up to) 100 assets ×
3 exchanges × 2 years of 5m bars, generated and written with binary COPY.

Measures: write rate, table and index sizes, "the last 30 days of one asset on its reference exchange"
(load_base_bars and its candle SQL; first run in a fresh connection, then the median of several),
the partitions the plan touches, the same read on an unpartitioned copy, and dropping a month's
partition against DELETEing the same month's rows. Prints figures; asserts nothing.

Uses its own database (liqplatform_bench_partitions), dropped at the end unless --keep.

    make bench                                         # small: 10 assets × 3 exchanges × 60 days
    nice .venv/bin/python bench/bench_partitions.py --full   # 100 × 3 × 730 days: 63 M rows per table,
                                                       # ~40 GB of disk while it runs, tens of minutes
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DB = "liqplatform_bench_partitions"
BAR = timedelta(minutes=5)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
FULL = {"assets": 100, "rows_per_series": 730 * 288}
MIN_FREE_GB_FULL = 30


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=10, help="assets, each on 3 exchanges (default 10)")
    parser.add_argument(
        "--rows-per-series", type=int, default=60 * 288, help="5m bars per asset × exchange (default 60 days)"
    )
    parser.add_argument("--full", action="store_true", help="100 assets × 2 years (63 M rows per table)")
    parser.add_argument("--no-flat", action="store_true", help="skip the unpartitioned copy for comparison")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    if args.full:
        args.assets, args.rows_per_series = FULL["assets"], FULL["rows_per_series"]
    return args


ARGS = parse_args()
os.environ["LIQ_BENCH_DATABASE_URL"] = os.environ.get(
    "LIQ_BENCH_PARTITIONS_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import setup  # noqa: E402

setup()

from django.db import connection, transaction  # noqa: E402

from heatmaps.maps import load_base_bars  # noqa: E402
from heatmaps.marketdata.partitions import (  # noqa: E402
    add_months,
    drop_expired_partitions,
    ensure_partitions_for_span,
    list_partitions,
    month_start,
)
from heatmaps.models import Asset, Candle, Exchange, OpenInterest  # noqa: E402

CANDLE_COLUMNS = "asset_id, exchange_id, open_time, open, high, low, close, volume, taker_buy_volume, quote_volume"
OI_COLUMNS = "asset_id, exchange_id, time, oi_base, oi_value, simulated"


def _binary_rows(fields: list[tuple[str, str]], n: int) -> np.ndarray:
    """A fixed-width PostgreSQL binary COPY tuple per row: field count, then length + value per field."""
    dtype: list[tuple[str, str]] = [("count", ">i2")]
    for name, kind in fields:
        dtype.append((f"{name}_len", ">i4"))
        if kind != "null":
            dtype.append((name, kind))
    rows = np.zeros(n, dtype=dtype)
    rows["count"] = len(fields)
    for name, kind in fields:
        rows[f"{name}_len"] = -1 if kind == "null" else np.dtype(kind).itemsize
    return rows


def _copy(cursor: object, table: str, columns: str, rows: np.ndarray) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:  # type: ignore[attr-defined]
        copy.write(COPY_HEADER + rows.tobytes() + COPY_TRAILER)


def free_gb() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        directory = cursor.fetchone()[0]
    try:
        return shutil.disk_usage(directory).free / 1e9
    except OSError:
        return shutil.disk_usage("/").free / 1e9


def generate(assets: list[Asset], exchanges: list[Exchange], start: datetime, bars: int) -> tuple[int, float]:
    """Interleaved by time, as live ingestion writes: a week of every series per COPY."""
    series = [(a.pk, e.pk) for a in assets for e in exchanges]
    s = len(series)
    asset_ids = np.array([a for a, _ in series], dtype=np.int64)
    exchange_ids = np.array([e for _, e in series], dtype=np.int64)
    rng = np.random.default_rng(7)
    price = 10 ** rng.uniform(0, 5, len(assets)).repeat(len(exchanges))  # 1 … 100 000 USD
    oi = 1e6 / price  # contracts, about a million USD per series
    start_us = int((start - PG_EPOCH).total_seconds() * 1e6)
    bar_us = int(BAR.total_seconds() * 1e6)
    written, started, chunk = 0, time.perf_counter(), 2016
    candle_fields = [("a", ">i8"), ("e", ">i8"), ("t", ">i8")] + [(c, ">f8") for c in "ohlcvb"] + [("q", "null")]
    oi_fields = [("a", ">i8"), ("e", ">i8"), ("t", ">i8"), ("base", ">f8"), ("value", ">f8"), ("sim", ">i1")]
    with connection.cursor() as cursor:
        for first in range(0, bars, chunk):
            t = min(chunk, bars - first)
            steps = rng.normal(0, 0.002, (t, s))
            close = price * np.exp(np.cumsum(steps, axis=0))
            open_ = np.vstack([price[None, :], close[:-1]])
            wiggle = np.abs(rng.normal(0, 0.001, (t, s)))
            times = start_us + (first + np.arange(t, dtype=np.int64))[:, None] * bar_us + np.zeros(s, dtype=np.int64)
            rows = _binary_rows(candle_fields, t * s)
            rows["a"], rows["e"], rows["t"] = np.tile(asset_ids, t), np.tile(exchange_ids, t), times.ravel()
            rows["o"], rows["c"] = open_.ravel(), close.ravel()
            rows["h"] = (np.maximum(open_, close) * (1 + wiggle)).ravel()
            rows["l"] = (np.minimum(open_, close) * (1 - wiggle)).ravel()
            volume = rng.gamma(2.0, 50.0, (t, s))
            rows["v"], rows["b"] = volume.ravel(), (volume * rng.uniform(0.3, 0.7, (t, s))).ravel()
            _copy(cursor, Candle._meta.db_table, CANDLE_COLUMNS, rows)
            oi_now = oi * np.exp(np.cumsum(rng.normal(0, 0.001, (t, s)), axis=0))
            oi_rows = _binary_rows(oi_fields, t * s)
            oi_rows["a"], oi_rows["e"] = rows["a"], rows["e"]
            oi_rows["t"] = rows["t"] + bar_us  # stamped at the bar's close
            oi_rows["base"], oi_rows["value"], oi_rows["sim"] = oi_now.ravel(), (oi_now * close).ravel(), 1
            _copy(cursor, OpenInterest._meta.db_table, OI_COLUMNS, oi_rows)
            price, oi = close[-1], oi_now[-1]
            written += t * s
            if (first // chunk) % 10 == 0:
                rate = written / (time.perf_counter() - started)
                print(
                    f"  {written:>12,} rows per table ({100 * written / (bars * s):5.1f} %), {rate:,.0f} rows/s",
                    flush=True,
                )
    return written, time.perf_counter() - started


def size(relation: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [relation])
        return int(cursor.fetchone()[0])


def tree_size(table: str) -> tuple[int, int, int]:
    """Heap and index bytes over a partitioned table's partitions, and their number."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(pg_table_size(relid)), sum(pg_indexes_size(relid)), count(*) "
            "FROM pg_partition_tree(%s) WHERE isleaf",
            [table],
        )
        heap, indexes, n = cursor.fetchone()
    return int(heap), int(indexes), int(n)


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return min(samples), statistics.median(samples)


def candle_sql(table: str) -> str:
    # The candle query of heatmaps.maps.load_base_bars, with the table as a parameter.
    return (
        "SELECT (EXTRACT(EPOCH FROM open_time) * 1000)::bigint, open, high, low, close, volume, taker_buy_volume "
        f"FROM {table} WHERE asset_id = %s AND exchange_id = %s AND open_time >= %s ORDER BY open_time"
    )


def main() -> None:
    rows_per_series, n_assets = ARGS.rows_per_series, ARGS.assets
    total = rows_per_series * n_assets * 3
    print(
        f"partitioned market tables: {n_assets} assets × 3 exchanges × {rows_per_series:,} 5m bars "
        f"({rows_per_series / 288:.0f} days) = {total:,} rows per table"
    )
    estimate_gb = total * 2 * 150 / 1e9 * (1 if ARGS.no_flat else 1.5)
    free = free_gb()
    print(f"disk: {free:.0f} GB free where PostgreSQL writes; this run needs ≈ {estimate_gb:.1f} GB")
    if (ARGS.full and free < MIN_FREE_GB_FULL) or free < estimate_gb * 1.5:
        print("not enough free disk for this size; skipped")
        return
    now = datetime.now(UTC)
    end = now - (now - PG_EPOCH) % BAR  # up to the current bar, so the last 30 days span two months
    start = end - rows_per_series * BAR
    exchanges = [Exchange.get_supported(code) for code in ("binance", "bybit", "okx")]
    assets = []
    for i in range(n_assets):
        asset, _ = Asset.objects.get_or_create(
            symbol=f"PART{i:03d}USDT",
            defaults={"display_name": f"partition bench {i}", "base": f"P{i:03d}", "reference_exchange": exchanges[0]},
        )
        asset.exchanges.set(exchanges)
        assets.append(asset)
    if not Candle.objects.exists():
        ensure_partitions_for_span(model=Candle, first=start, last=end)
        ensure_partitions_for_span(model=OpenInterest, first=start, last=end + BAR)
        print("writing with binary COPY (candles and open interest) …", flush=True)
        written, seconds = generate(assets, exchanges, start, rows_per_series)
        print(f"written: 2 × {written:,} rows in {seconds:.0f} s ({2 * written / seconds:,.0f} rows/s)")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE heatmaps_candle")
            cursor.execute("VACUUM ANALYZE heatmaps_openinterest")
        print(f"VACUUM ANALYZE: {time.perf_counter() - started:.0f} s")

    heap, indexes, n_parts = tree_size("heatmaps_candle")
    oi_heap, oi_indexes, _ = tree_size("heatmaps_openinterest")
    print(f"\ncandles: {gb(heap)} heap + {gb(indexes)} indexes in {n_parts} partitions "
          f"({(heap + indexes) / max(total, 1):.0f} bytes a row)")  # fmt: skip
    print(f"open interest: {gb(oi_heap)} heap + {gb(oi_indexes)} indexes")

    asset = assets[n_assets // 2]
    since = end - timedelta(days=30)
    sql = candle_sql("heatmaps_candle")
    params = [asset.pk, asset.reference_exchange_id, since]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    partitions = [p for p in list_partitions() if p.table == "heatmaps_candle"]
    in_plan = {line.split(" on ")[1].split()[0] for line in plan if " on heatmaps_candle_" in line}
    scanned = [p for p in partitions if p.name in in_plan]
    with_rows = [p.name for p in scanned if p.rows_estimate > 0]
    n_all = len(partitions)
    print(
        f"\nlast 30 days of {asset.symbol} on its reference exchange: {len(scanned)} of {n_all} partitions in the "
        f"plan, {len(with_rows)} of them with rows ({', '.join(with_rows)}); the others are the empty months "
        "ahead and DEFAULT"
    )
    for line in plan:
        print(f"    {line}")

    connection.close()  # a fresh connection: no cached plan or catalogue

    def read() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            assert len(cursor.fetchall()) == 8640

    def load() -> None:
        loaded = load_base_bars(asset=asset, since=since)
        assert loaded is not None and len(loaded.bars.open_time) == 8640

    first_ms, _ = timed(read, 1)
    read_min, read_med = timed(read, 15)
    load_first, _ = timed(lambda: load_base_bars(asset=assets[n_assets // 2 + 1], since=since), 1)
    load_min, load_med = timed(load, 7)
    print(f"  candle SQL (8 640 rows):            first {first_ms:6.1f} ms, then min {read_min:6.1f} / median {read_med:6.1f} ms")  # fmt: skip
    print(f"  load_base_bars (with OI of 3 exch.): first {load_first:6.1f} ms, then min {load_min:6.1f} / median {load_med:6.1f} ms")  # fmt: skip

    if not ARGS.no_flat:
        print("\nunpartitioned copy for comparison (same columns and keys) …", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("DROP TABLE IF EXISTS bench_candle_flat")
            cursor.execute("CREATE TABLE bench_candle_flat AS SELECT * FROM heatmaps_candle")
            cursor.execute("ALTER TABLE bench_candle_flat ADD PRIMARY KEY (asset_id, exchange_id, open_time)")
            cursor.execute("CREATE INDEX bench_candle_flat_brin ON bench_candle_flat USING brin (open_time)")
            cursor.execute("VACUUM ANALYZE bench_candle_flat")
        print(f"  built in {time.perf_counter() - started:.0f} s: {gb(size('bench_candle_flat'))}")
        flat_sql = candle_sql("bench_candle_flat")
        other = [assets[n_assets // 2 - 1].pk, asset.reference_exchange_id, since]
        connection.close()

        def read_flat(p: list[Any] = params) -> None:
            with connection.cursor() as cursor:
                cursor.execute(flat_sql, p)
                assert len(cursor.fetchall()) == 8640

        flat_first, _ = timed(lambda: read_flat(other), 1)
        # Alternating, so a neighbour's load on the shared server weighs on both alike.
        both: dict[str, list[float]] = {"partitioned": [], "unpartitioned": []}
        for _ in range(15):
            for name, fn in (("partitioned", read), ("unpartitioned", read_flat)):
                both[name].append(timed(fn, 1)[0])
        print(f"  candle SQL, unpartitioned:          first {flat_first:6.1f} ms")
        for name, samples in both.items():
            print(f"  alternating, {name:<13}:         min {min(samples):6.1f} / median {statistics.median(samples):6.1f} ms")  # fmt: skip

    # Retention: one month's rows by DELETE (rolled back) against dropping its partition.
    months = [p for p in list_partitions() if p.table == "heatmaps_candle" and p.month is not None]
    month = month_start(start)  # the oldest month
    lo = datetime.combine(month, datetime.min.time(), tzinfo=UTC)
    hi = datetime.combine(add_months(month, 1), datetime.min.time(), tzinfo=UTC)
    table = "bench_candle_flat" if not ARGS.no_flat else "heatmaps_candle"
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(f"DELETE FROM {table} WHERE open_time >= %s AND open_time < %s", [lo, hi])
        deleted, delete_s = cursor.rowcount, time.perf_counter() - started
        transaction.set_rollback(True)  # measured, not kept
    this_month = month_start(datetime.now(UTC))
    retention = (this_month.year - month.year) * 12 + this_month.month - month.month - 1
    started = time.perf_counter()
    dropped = drop_expired_partitions(retention_months=retention)
    drop_s = time.perf_counter() - started
    print(f"\none month ({month:%Y-%m}, {deleted:,} candle rows) out of {len(months)} monthly partitions:")
    print(f"  DELETE on the {'unpartitioned copy' if table != 'heatmaps_candle' else 'partitioned table'}: "
          f"{delete_s:.2f} s, and VACUUM still has to reclaim the space")  # fmt: skip
    print(f"  drop_expired_partitions: {drop_s * 1000:.0f} ms for {len(dropped)} partitions ({', '.join(dropped)})")

    connection.close()
    if not ARGS.keep:
        from django.conf import settings

        name = settings.DATABASES["default"]["NAME"]
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        print(f"\n{name} dropped")


if __name__ == "__main__":
    main()
