"""Monthly partitions of candles and open interest on real PostgreSQL: routing, idempotent upserts,
rows rescued from DEFAULT, retention, lock time-outs, and the migration with data in the tables."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import (
    drop_expired_partitions,
    dt_to_ms,
    ensure_partitions,
    list_partitions,
    upsert_candles,
    upsert_open_interest,
)
from heatmaps.marketdata import partitions as partitions_module
from heatmaps.marketdata.partitions import add_months, month_start
from heatmaps.models import Asset, Candle, Exchange, Heatmap, OpenInterest
from heatmaps.rows import BASE_BAR_MS, CandleRow, OpenInterestRow

pytestmark = pytest.mark.django_db

BAR = timedelta(milliseconds=BASE_BAR_MS)


def candles(start: datetime, n: int) -> list[CandleRow]:
    return [CandleRow(dt_to_ms(start + i * BAR), 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 2.0) for i in range(n)]


def homes(table: str, column: str) -> dict[datetime, str]:
    """Where each row is stored: time → partition name."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}", tableoid::regclass::text FROM {table} ORDER BY 1')
        return dict(cursor.fetchall())


def check_foreign_keys_now() -> None:
    """The test's transaction still holds the deferred foreign-key checks of its inserts, and
    PostgreSQL won't drop a table with checks pending; a worker's maintenance run has none."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def month_names(table: str) -> set[str]:
    return {p.name for p in list_partitions() if p.table == table and p.month is not None}


def test_rows_land_in_their_months_partition_even_for_months_never_seen(btc: Asset, binance: Exchange) -> None:
    # The last three bars of May 2024 and the first three of June: neither month existed before.
    start = datetime(2024, 5, 31, 23, 45, tzinfo=UTC)
    assert "heatmaps_candle_p2024_05" not in month_names("heatmaps_candle")
    assert upsert_candles(asset=btc, exchange=binance, rows=candles(start, 6)) == 6
    upsert_open_interest(
        asset=btc,
        exchange=binance,
        rows=[OpenInterestRow(dt_to_ms(start + (i + 1) * BAR), 10.0, 1000.0) for i in range(6)],
    )
    where = homes("heatmaps_candle", "open_time")
    assert [where[start + i * BAR] for i in range(6)] == ["heatmaps_candle_p2024_05"] * 3 + [
        "heatmaps_candle_p2024_06"
    ] * 3
    oi = homes("heatmaps_openinterest", "time")
    # OI is stamped at the bar's close: 23:50, 23:55 in May; 00:00 onwards in June.
    assert sorted(oi.values()).count("heatmaps_openinterest_p2024_05") == 2
    assert sorted(oi.values()).count("heatmaps_openinterest_p2024_06") == 4
    assert not [name for name in where.values() if name.endswith("_default")]


def test_upserts_across_a_month_boundary_stay_idempotent(btc: Asset, binance: Exchange) -> None:
    rows = candles(datetime(2025, 2, 28, 22, 0, tzinfo=UTC), 48)  # four hours over the boundary
    assert upsert_candles(asset=btc, exchange=binance, rows=rows) == 48
    with connection.cursor() as cursor:
        cursor.execute("SELECT open_time, ctid::text, tableoid::regclass::text FROM heatmaps_candle ORDER BY 1")
        before = cursor.fetchall()
    assert upsert_candles(asset=btc, exchange=binance, rows=rows) == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT open_time, ctid::text, tableoid::regclass::text FROM heatmaps_candle ORDER BY 1")
        assert cursor.fetchall() == before  # not one row rewritten or moved
    changed = [dataclasses.replace(rows[0], close=1.0), dataclasses.replace(rows[-1], close=2.0)]
    assert upsert_candles(asset=btc, exchange=binance, rows=changed) == 2
    assert Candle.objects.filter(asset=btc).count() == 48
    first, last = Candle.objects.order_by("open_time")[0], Candle.objects.order_by("-open_time")[0]
    assert (first.close, last.close) == (1.0, 2.0)
    assert first.pk == (btc.pk, binance.pk, first.open_time)  # the natural key is the primary key


def test_rows_in_default_move_into_their_month_when_it_is_created(btc: Asset, binance: Exchange) -> None:
    # The ORM writes straight through, as any client would: no partition for July 2023, so DEFAULT.
    stray_times = [datetime(2023, 7, 1, tzinfo=UTC) + i * BAR for i in range(3)]
    for i, t in enumerate(stray_times):
        Candle.objects.create(asset=btc, exchange=binance, open_time=t, open=1, high=2 + i, low=0.5, close=1.5)
    OpenInterest.objects.create(asset=btc, exchange=binance, time=stray_times[0], oi_base=3.0, oi_value=30.0)
    assert set(homes("heatmaps_candle", "open_time").values()) == {"heatmaps_candle_default"}

    created = ensure_partitions(months_ahead=0)

    names = {c.name: c.moved_rows for c in created}
    assert names["heatmaps_candle_p2023_07"] == 3
    assert names["heatmaps_openinterest_p2023_07"] == 1
    assert set(homes("heatmaps_candle", "open_time").values()) == {"heatmaps_candle_p2023_07"}
    assert set(homes("heatmaps_openinterest", "time").values()) == {"heatmaps_openinterest_p2023_07"}
    assert list(Candle.objects.order_by("open_time").values_list("open_time", "high")) == [
        (t, 2.0 + i) for i, t in enumerate(stray_times)
    ]
    assert ensure_partitions(months_ahead=0) == []  # idempotent


def test_ensure_creates_the_coming_months() -> None:
    now = datetime(2031, 11, 20, tzinfo=UTC)
    created = ensure_partitions(months_ahead=3, now=now)
    assert {c.name for c in created} >= {f"heatmaps_candle_p{m}" for m in ("2031_11", "2031_12", "2032_01", "2032_02")}
    assert all(c.moved_rows == 0 for c in created)
    assert "heatmaps_candle_p2032_03" not in month_names("heatmaps_candle")
    assert ensure_partitions(months_ahead=3, now=now) == []


def test_drop_expired_drops_only_whole_months_past_the_retention(btc: Asset, binance: Exchange) -> None:
    now = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
    for month in (date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1), date(2026, 6, 1), date(2026, 12, 1)):
        start = datetime(month.year, month.month, 1, tzinfo=UTC)
        upsert_candles(asset=btc, exchange=binance, rows=candles(start, 2))
    # A row stranded in DEFAULT is never dropped by retention, however old.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO heatmaps_candle_default (asset_id, exchange_id, open_time, open, high, low, close) "
            "VALUES (%s, %s, '2019-03-01 00:00:00+00', 1, 1, 1, 1)",
            [btc.pk, binance.pk],
        )

    check_foreign_keys_now()
    assert drop_expired_partitions(retention_months=0, now=now) == []
    dropped = drop_expired_partitions(retention_months=12, now=now)

    assert "heatmaps_candle_p2025_10" in dropped and "heatmaps_candle_p2025_11" in dropped
    assert all(name < "heatmaps_candle_p2025_12" for name in dropped if name.startswith("heatmaps_candle_p"))
    kept = {t.date().replace(day=1) for t in Candle.objects.values_list("open_time", flat=True)}
    assert kept == {date(2019, 3, 1), date(2025, 12, 1), date(2026, 6, 1), date(2026, 12, 1)}
    names = month_names("heatmaps_candle")
    assert {"heatmaps_candle_p2025_12", "heatmaps_candle_p2026_12"} <= names
    assert not any(name < "heatmaps_candle_p2025_12" for name in names)
    assert any(p.name == "heatmaps_candle_default" for p in list_partitions())
    assert drop_expired_partitions(retention_months=12, now=now) == []


def test_retention_keeps_stored_heat_maps(btc: Asset, binance: Exchange) -> None:
    start = datetime(2024, 1, 10, tzinfo=UTC)
    upsert_candles(asset=btc, exchange=binance, rows=candles(start, 3 * 288))
    upsert_open_interest(
        asset=btc,
        exchange=binance,
        rows=[OpenInterestRow(dt_to_ms(start + (i + 1) * BAR), 10.0 + i % 7, None) for i in range(3 * 288)],
    )
    [stored] = heatmap_compute(asset=btc, timeframes=["12h"])
    check_foreign_keys_now()

    dropped = drop_expired_partitions(retention_months=6)

    assert "heatmaps_candle_p2024_01" in dropped and "heatmaps_openinterest_p2024_01" in dropped
    assert not Candle.objects.filter(asset=btc).exists()
    kept = Heatmap.objects.get(pk=stored.pk)
    assert (kept.version, kept.data_end, bytes(kept.long_grid)) == (
        stored.version,
        stored.data_end,
        bytes(stored.long_grid),
    )


def test_the_daily_task_creates_ahead_then_applies_retention(btc: Asset, binance: Exchange, settings: Any) -> None:
    from heatmaps.tasks import maintain_partitions
    from liqplatform.celery import app

    assert settings.CELERY_BEAT_SCHEDULE["maintain-partitions"]["task"] == maintain_partitions.name
    assert "heatmaps.maintain_partitions" in app.tasks
    upsert_candles(asset=btc, exchange=binance, rows=candles(datetime(2020, 1, 5, tzinfo=UTC), 3))
    this_month = month_start(datetime.now(UTC))
    upsert_candles(asset=btc, exchange=binance, rows=candles(datetime.combine(this_month, datetime.min.time(), UTC), 3))
    check_foreign_keys_now()

    settings.LIQ_RETENTION_MONTHS = 0
    assert "heatmaps_candle_p2020_01" not in maintain_partitions()["dropped"]
    settings.LIQ_RETENTION_MONTHS = 24
    result = maintain_partitions()

    assert "heatmaps_candle_p2020_01" in result["dropped"]
    ahead = {partitions_module.partition_name("heatmaps_candle", add_months(this_month, n)) for n in range(4)}
    assert ahead <= month_names("heatmaps_candle")
    assert Candle.objects.count() == 3
    assert maintain_partitions() == {"created": [], "dropped": []}


@pytest.fixture
def other_connection() -> Iterator[psycopg.Connection]:
    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    with psycopg.connect(**{k: params[k] for k in keys if params.get(k)}, autocommit=True) as conn:
        yield conn


@pytest.fixture
def drop_new_partitions() -> Iterator[None]:
    """Transactional tests commit their DDL: remove the partitions they created, for the tests after."""
    before = {p.name for p in list_partitions()}
    yield
    with connection.cursor() as cursor:
        for p in list_partitions():
            if p.name not in before:
                cursor.execute(f'DROP TABLE "{p.name}"')


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drop_new_partitions")
def test_a_partition_change_gives_way_to_a_long_reader(
    other_connection: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions_module, "LOCK_TIMEOUT", "300ms")
    # A long report holding the table open: creating a partition must not queue every reader behind it.
    other_connection.execute("BEGIN")
    other_connection.execute("SELECT count(*) FROM heatmaps_candle")
    try:
        created = ensure_partitions(months_ahead=0, now=datetime(2033, 5, 1, tzinfo=UTC))
        assert [c.name for c in created] == ["heatmaps_openinterest_p2033_05"]  # candles' skipped, not failed
        assert "heatmaps_candle_p2033_05" not in month_names("heatmaps_candle")
    finally:
        other_connection.execute("ROLLBACK")
    created = ensure_partitions(months_ahead=0, now=datetime(2033, 5, 1, tzinfo=UTC))
    assert "heatmaps_candle_p2033_05" in {c.name for c in created}
    call_command("partitions", "--list")  # the list reads sizes of every partition without locking them


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drop_new_partitions")
def test_two_workers_creating_the_same_month_do_not_collide(btc: Asset, binance: Exchange) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            upsert_candles(asset=btc, exchange=binance, rows=candles(datetime(2022, 2, 1, tzinfo=UTC), 3))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(homes("heatmaps_candle", "open_time").values()) == {"heatmaps_candle_p2022_02"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drop_new_partitions")
def test_migration_partitions_existing_rows_and_reverses(btc: Asset, binance: Exchange) -> None:
    executor = MigrationExecutor(connection)
    # Every app's leaves: going back to heatmaps 0007 also unapplies other apps' migrations that depend on
    # later heatmaps ones (accounts' alert destinations), and the way forward must restore those too.
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([("heatmaps", "0007_asset_summary_and_panels")])
    try:
        old = executor.loader.project_state([("heatmaps", "0007_asset_summary_and_panels")]).apps
        OldCandle = old.get_model("heatmaps", "Candle")
        OldOpenInterest = old.get_model("heatmaps", "OpenInterest")
        times = [datetime(2025, 8, 31, 23, 55, tzinfo=UTC) + i * BAR for i in range(4)]
        for i, t in enumerate(times):
            OldCandle.objects.create(
                asset_id=btc.pk, exchange_id=binance.pk, open_time=t, open=1, high=2, low=0.5, close=1 + i, volume=3
            )
            OldOpenInterest.objects.create(asset_id=btc.pk, exchange_id=binance.pk, time=t, oi_base=i, oi_value=10 * i)
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'heatmaps_candle'")
            assert cursor.fetchone()[0] == "r"  # a plain table before

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)

        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'heatmaps_candle'")
            assert cursor.fetchone()[0] == "p"  # partitioned after
        assert list(Candle.objects.order_by("open_time").values_list("open_time", "close", "volume")) == [
            (t, 1.0 + i, 3.0) for i, t in enumerate(times)
        ]
        where = homes("heatmaps_candle", "open_time")
        assert [where[t] for t in times] == ["heatmaps_candle_p2025_08"] + ["heatmaps_candle_p2025_09"] * 3
        assert OpenInterest.objects.count() == 4
        this_month = datetime.now(UTC).date().replace(day=1)
        assert partitions_module.partition_name("heatmaps_candle", this_month) in month_names("heatmaps_candle")
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'heatmaps_candle' ORDER BY indexname")
            indexes = [row[0] for row in cursor.fetchall()]
        assert any(
            d.startswith("CREATE UNIQUE INDEX heatmaps_candle_pkey") and "(asset_id, exchange_id, open_time)" in d
            for d in indexes
        )
        assert any("USING brin (open_time)" in d for d in indexes)

        # And back: the plain tables of 0005 with the same rows and fresh ids.
        executor = MigrationExecutor(connection)
        executor.migrate([("heatmaps", "0007_asset_summary_and_panels")])
        old = executor.loader.project_state([("heatmaps", "0007_asset_summary_and_panels")]).apps
        back = list(old.get_model("heatmaps", "Candle").objects.order_by("open_time").values_list("id", "close"))
        assert [close for _, close in back] == [1.0 + i for i in range(4)]
        assert len({pk for pk, _ in back}) == 4
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)


def test_embedded_sqlite_migrates_both_ways_with_rows(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LIQ_TESTING")}
    env.update(LIQ_EMBEDDED="1", DEBUG="1", LIQ_VAR_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:1/0")

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def rows() -> list[tuple[Any, ...]]:
        with sqlite3.connect(tmp_path / "liqplatform.sqlite3") as db:
            return db.execute("SELECT open_time, close FROM heatmaps_candle ORDER BY open_time").fetchall()

    def primary_key() -> list[str]:
        with sqlite3.connect(tmp_path / "liqplatform.sqlite3") as db:
            info = db.execute("PRAGMA table_info(heatmaps_candle)").fetchall()
        return [name for _cid, name, _type, _notnull, _default, pk in sorted(info, key=lambda c: c[5]) if pk]

    manage("migrate", "-v", "0")
    assert primary_key() == ["asset_id", "exchange_id", "open_time"]
    manage("add_asset", "BTCUSDT", "--exchanges", "binance")
    csv = tmp_path / "BTCUSDT-5m.csv"
    csv.write_text(
        "open_time_ms,open_time_utc,open,high,low,close,volume\n"
        + "".join(f"{1_767_225_600_000 + i * 300_000},x,1,2,0.5,{1 + i / 10},10\n" for i in range(5))
    )
    assert "5 new or changed" in manage("import_market_data", str(csv), "--asset", "BTCUSDT")
    stored = rows()
    assert len(stored) == 5

    manage("migrate", "heatmaps", "0005", "-v", "0")
    assert primary_key() == ["id"] and rows() == stored
    manage("migrate", "-v", "0")
    assert primary_key() == ["asset_id", "exchange_id", "open_time"] and rows() == stored
    assert "0 new or changed" in manage("import_market_data", str(csv), "--asset", "BTCUSDT")
    assert "no partitions" in manage("partitions", "--ensure", "--drop-expired")
