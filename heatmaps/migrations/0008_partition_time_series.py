"""Monthly range partitions for the 5-minute series: candles (open_time) and open interest (time).

At 100 assets × 3 exchanges × 2 years each of these tables holds ~63 M rows. Partitioned by month,
"the last 30 days of one asset" touches one or two partitions, and retention drops a whole month
(a file unlink) instead of deleting tens of millions of rows and vacuuming after them.

A partitioned table's primary key must contain the partition key, so the natural key
(asset, exchange, time) becomes the primary key (Django's CompositePrimaryKey) and the surrogate
``id`` goes: one btree per partition instead of two, 8 bytes less per row, and the upserts'
ON CONFLICT target is unchanged. Liquidations stay unpartitioned: their natural key
(exchange, dedupe_key) has no time in it, and they are small. Funding rates are tiny.

PostgreSQL gets raw SQL: the old table is renamed, the partitioned table created with its foreign
keys, the BRIN index on time, a DEFAULT partition (so an insert outside every month never fails)
and one partition per month from the oldest stored row to three months ahead; the rows are copied
and the old table dropped. heatmaps/marketdata/partitions.py keeps the months coming afterwards.
SQLite (embedded mode) gets the same table without partitions, rebuilt the way Django rebuilds
SQLite tables, so both databases match the state below.

Backwards: each vendor gets the plain table of 0005 back (Django's own DDL for the old model),
rows copied in time order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django.db.models.deletion
from django.db import migrations, models

MONTHS_AHEAD = 3

# model name, table, time column, the other columns in table order, PostgreSQL FK constraint names
# (Django's own, so a later AlterField finds them).
SERIES = [
    (
        "Candle",
        "heatmaps_candle",
        "open_time",
        ["open", "high", "low", "close", "volume", "taker_buy_volume", "quote_volume"],
        (
            "heatmaps_candle_asset_id_82d3a972_fk_heatmaps_asset_id",
            "heatmaps_candle_exchange_id_096dfbe2_fk_heatmaps_exchange_id",
        ),
    ),
    (
        "OpenInterest",
        "heatmaps_openinterest",
        "time",
        ["oi_base", "oi_value", "simulated"],
        (
            "heatmaps_openinterest_asset_id_90d49804_fk_heatmaps_asset_id",
            "heatmaps_openinteres_exchange_id_09f1074a_fk_heatmaps_",
        ),
    ),
]

PG_COLUMNS = {
    "heatmaps_candle": """
        "asset_id" bigint NOT NULL, "exchange_id" bigint NOT NULL, "open_time" timestamp with time zone NOT NULL,
        "open" double precision NOT NULL, "high" double precision NOT NULL, "low" double precision NOT NULL,
        "close" double precision NOT NULL, "volume" double precision NULL, "taker_buy_volume" double precision NULL,
        "quote_volume" double precision NULL""",
    "heatmaps_openinterest": """
        "asset_id" bigint NOT NULL, "exchange_id" bigint NOT NULL, "time" timestamp with time zone NOT NULL,
        "oi_base" double precision NULL, "oi_value" double precision NULL, "simulated" boolean NOT NULL""",
}

SQLITE_COLUMNS = {
    "heatmaps_candle": """
        "asset_id" bigint NOT NULL REFERENCES "heatmaps_asset" ("id") DEFERRABLE INITIALLY DEFERRED,
        "exchange_id" bigint NOT NULL REFERENCES "heatmaps_exchange" ("id") DEFERRABLE INITIALLY DEFERRED,
        "open_time" datetime NOT NULL, "open" real NOT NULL, "high" real NOT NULL, "low" real NOT NULL,
        "close" real NOT NULL, "volume" real NULL, "taker_buy_volume" real NULL, "quote_volume" real NULL""",
    "heatmaps_openinterest": """
        "asset_id" bigint NOT NULL REFERENCES "heatmaps_asset" ("id") DEFERRABLE INITIALLY DEFERRED,
        "exchange_id" bigint NOT NULL REFERENCES "heatmaps_exchange" ("id") DEFERRABLE INITIALLY DEFERRED,
        "time" datetime NOT NULL, "oi_base" real NULL, "oi_value" real NULL, "simulated" bool NOT NULL""",
}


def _month_starts(first: datetime, last: datetime) -> list[datetime]:
    month = datetime(first.year, first.month, 1, tzinfo=UTC)
    months = []
    while month <= last:
        months.append(month)
        month = _next_month(month)
    return months


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def _add_months(month: datetime, n: int) -> datetime:
    for _ in range(n):
        month = _next_month(month)
    return month


def _partition_postgresql(schema_editor: Any, table: str, column: str, others: list[str], fks: tuple[str, str]) -> None:
    old = f"{table}_unpartitioned"
    columns = ", ".join(f'"{c}"' for c in ["asset_id", "exchange_id", column, *others])
    run = schema_editor.execute
    run(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    run(f'ALTER TABLE "{old}" RENAME CONSTRAINT "{table}_pkey" TO "{old}_pkey"')
    run(f'DROP INDEX IF EXISTS "{table}_{column}_brin"')
    run(
        f'CREATE TABLE "{table}" ({PG_COLUMNS[table]}, PRIMARY KEY ("asset_id", "exchange_id", "{column}")) '
        f'PARTITION BY RANGE ("{column}")'
    )
    asset_fk, exchange_fk = fks
    run(
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{asset_fk}" FOREIGN KEY ("asset_id") '
        'REFERENCES "heatmaps_asset" ("id") DEFERRABLE INITIALLY DEFERRED'
    )
    run(
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{exchange_fk}" FOREIGN KEY ("exchange_id") '
        'REFERENCES "heatmaps_exchange" ("id") DEFERRABLE INITIALLY DEFERRED'
    )
    # Rows arrive in time order, so BRIN on time stays a few pages per partition (see 0002).
    run(f'CREATE INDEX "{table}_{column}_brin" ON "{table}" USING brin ("{column}")')
    run(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'SELECT min("{column}"), max("{column}") FROM "{old}"')
        first, last = cursor.fetchone()
    now = datetime.now(UTC)
    first = min(first or now, now)
    last = _add_months(max(last or now, now), MONTHS_AHEAD)
    for month in _month_starts(first, last):
        run(
            f'CREATE TABLE "{table}_p{month:%Y_%m}" PARTITION OF "{table}" '
            f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{_next_month(month):%Y-%m-%d} 00:00:00+00')"
        )
    run(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{old}"')
    run(f'DROP TABLE "{old}"')
    run(f'ANALYZE "{table}"')


def _rebuild_sqlite(schema_editor: Any, table: str, column: str, others: list[str]) -> None:
    new = f"{table}__new"
    columns = ", ".join(f'"{c}"' for c in ["asset_id", "exchange_id", column, *others])
    run = schema_editor.execute
    run(f'CREATE TABLE "{new}" ({SQLITE_COLUMNS[table]}, PRIMARY KEY ("asset_id", "exchange_id", "{column}"))')
    run(f'INSERT INTO "{new}" ({columns}) SELECT {columns} FROM "{table}"')
    run(f'DROP TABLE "{table}"')
    run(f'ALTER TABLE "{new}" RENAME TO "{table}"')


def forwards(apps: Any, schema_editor: Any) -> None:
    for _model, table, column, others, fks in SERIES:
        if schema_editor.connection.vendor == "postgresql":
            _partition_postgresql(schema_editor, table, column, others, fks)
        else:
            _rebuild_sqlite(schema_editor, table, column, others)


def backwards(apps: Any, schema_editor: Any) -> None:
    # The database operations of SeparateDatabaseAndState leave the state alone, so `apps` holds the
    # models of 0005 here: Django writes the plain tables itself.
    postgresql = schema_editor.connection.vendor == "postgresql"
    for model_name, table, column, others, _fks in SERIES:
        moved = f"{table}_partitioned"
        columns = ", ".join(f'"{c}"' for c in ["asset_id", "exchange_id", column, *others])
        schema_editor.execute(f'ALTER TABLE "{table}" RENAME TO "{moved}"')
        if postgresql:
            schema_editor.execute(f'ALTER TABLE "{moved}" RENAME CONSTRAINT "{table}_pkey" TO "{moved}_pkey"')
            schema_editor.execute(f'DROP INDEX IF EXISTS "{table}_{column}_brin"')
        schema_editor.create_model(apps.get_model("heatmaps", model_name))
        schema_editor.execute(
            f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{moved}" ORDER BY "{column}", "asset_id"'
        )
        schema_editor.execute(f'DROP TABLE "{moved}"')  # its partitions go with it
        if postgresql:
            schema_editor.execute(f'CREATE INDEX "{table}_{column}_brin" ON "{table}" USING brin ("{column}")')


def _fk(model: str, *, to: str) -> migrations.AlterField:
    return migrations.AlterField(
        model_name=model,
        name=to,
        field=models.ForeignKey(
            db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=f"heatmaps.{to}"
        ),
    )


class Migration(migrations.Migration):
    # Runs in one transaction on PostgreSQL: the copy is all or nothing.
    dependencies = [("heatmaps", "0007_asset_summary_and_panels")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveConstraint(model_name="candle", name="candle_natural_key"),
                migrations.RemoveConstraint(model_name="openinterest", name="oi_natural_key"),
                migrations.AddField(
                    model_name="candle",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "asset", "exchange", "open_time", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                migrations.AddField(
                    model_name="openinterest",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "asset", "exchange", "time", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                _fk("candle", to="asset"),
                _fk("candle", to="exchange"),
                _fk("openinterest", to="asset"),
                _fk("openinterest", to="exchange"),
                migrations.RemoveField(model_name="candle", name="id"),
                migrations.RemoveField(model_name="openinterest", name="id"),
            ],
        ),
    ]
