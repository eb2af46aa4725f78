"""Monthly partitions of the 5-minute series on PostgreSQL: create them ahead, rescue strays, drop expired.

Candles and open interest are range-partitioned by month (UTC) of their time column (migration
0007). A partition is named ``<table>_pYYYY_MM``; ``<table>_default`` catches rows of a month that
has no partition yet, so an insert never fails. Each function here is idempotent and a no-op on
SQLite (embedded mode), where the tables are plain.

Partition DDL takes a strong lock on the parent table. Every change here therefore waits at most
LOCK_TIMEOUT for it and is skipped (logged, retried next time) rather than queueing the readers
behind it; an advisory lock keeps two workers from creating the same partition at once.

Retention drops whole months of raw market data. Stored heat maps are a separate table and are
never touched, but a map whose data has been dropped cannot be recomputed as it was: the next
recompute of a long timeframe sees only what is retained.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import OperationalError, connection, models, transaction
from django.utils import timezone

from heatmaps.models import Candle, OpenInterest

log = logging.getLogger(__name__)

PARTITIONED: tuple[tuple[type[models.Model], str], ...] = ((Candle, "open_time"), (OpenInterest, "time"))
LOCK_TIMEOUT = "5s"
LOCK_NOT_AVAILABLE = "55P03"
ADVISORY_LOCK = 0x6C69_7170  # any constant shared by everyone who creates partitions


@dataclass(frozen=True)
class Partition:
    table: str  # the partitioned parent
    name: str
    month: date | None  # first day of the month it holds; None for the DEFAULT partition
    rows_estimate: int  # from the planner statistics (pg_class.reltuples), 0 before the first ANALYZE
    bytes: int  # table, indexes and TOAST


@dataclass(frozen=True)
class Created:
    name: str
    moved_rows: int  # rows of its month taken out of the DEFAULT partition


def partitioning_active() -> bool:
    return connection.vendor == "postgresql"


def month_start(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y_%m}"


def list_partitions() -> list[Partition]:
    """Every partition of the partitioned tables, months in order, DEFAULT last. Empty on SQLite."""
    if not partitioning_active():
        return []
    found = []
    with connection.cursor() as cursor:
        for model, _column in PARTITIONED:
            table = model._meta.db_table
            cursor.execute(
                """
                SELECT c.relname, GREATEST(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid)
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = %s::regclass
                """,
                [table],
            )
            pattern = _month_pattern(table)
            rows = []
            for name, estimate, size in cursor.fetchall():
                match = pattern.match(name)
                month = date(int(match[1]), int(match[2]), 1) if match else None
                rows.append(Partition(table=table, name=name, month=month, rows_estimate=estimate, bytes=size))
            rows.sort(key=lambda p: (p.month is None, p.month or date.min, p.name))
            found.extend(rows)
    return found


def ensure_partitions(*, months_ahead: int = 3, now: datetime | None = None) -> list[Created]:
    """Create the partitions of the current month and the next `months_ahead`, and of every month
    that has rows waiting in a DEFAULT partition (those rows move into it)."""
    if not partitioning_active():
        return []
    this_month = month_start(now or timezone.now())
    wanted = [add_months(this_month, n) for n in range(months_ahead + 1)]
    created = []
    for model, column in PARTITIONED:
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT date_trunc('month', \"{column}\", 'UTC') FROM \"{table}_default\"")
            stray = [month_start(row[0]) for row in cursor.fetchall()]
        created.extend(_create_months(model, column, sorted({*wanted, *stray})))
    return created


def ensure_partitions_for_span(*, model: type[models.Model], first: datetime, last: datetime) -> list[Created]:
    """Before writing rows of [first, last]: the months they fall in get their partitions, so a
    backfill of old history lands in monthly partitions rather than in DEFAULT."""
    if not partitioning_active():
        return []
    column = dict(PARTITIONED)[model]
    months = []
    month = month_start(first)
    while month <= month_start(last):
        months.append(month)
        month = add_months(month, 1)
    return _create_months(model, column, months)


def drop_expired_partitions(*, retention_months: int, now: datetime | None = None) -> list[str]:
    """Drop the monthly partitions older than the current month and the `retention_months` before
    it: at least that many whole months of raw data stay. 0 keeps everything. Never the current
    month's partition, never DEFAULT; heat maps are not touched."""
    if retention_months <= 0 or not partitioning_active():
        return []
    oldest_kept = add_months(month_start(now or timezone.now()), -retention_months)
    dropped = []
    for partition in list_partitions():
        if partition.month is None or partition.month >= oldest_kept:
            continue
        if _run_ddl([f'DROP TABLE "{partition.name}"'], what=f"drop {partition.name}") is not None:
            log.info("dropped partition %s (~%s rows)", partition.name, partition.rows_estimate)
            dropped.append(partition.name)
    return dropped


def _existing_months(table: str) -> set[date]:
    # Names only: this runs before every upsert, and sizes would stat every partition's files.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    pattern = _month_pattern(table)
    return {date(int(m[1]), int(m[2]), 1) for m in map(pattern.match, names) if m}


def _month_pattern(table: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(table)}_p(\d{{4}})_(\d{{2}})$")


def _create_months(model: type[models.Model], column: str, months: Iterable[date]) -> list[Created]:
    table = model._meta.db_table
    missing = sorted(set(months) - _existing_months(table))
    created = []
    for month in missing:
        result = _create_month(table, column, month)
        if result is not None:
            created.append(result)
    return created


def _create_month(table: str, column: str, month: date) -> Created | None:
    name = partition_name(table, month)
    lo, hi = f"{month:%Y-%m-%d} 00:00:00+00", f"{add_months(month, 1):%Y-%m-%d} 00:00:00+00"
    # Rows of this month already in DEFAULT would make CREATE ... PARTITION OF fail: park them in a
    # temporary table, create the partition, and route them back through the parent.
    statements = [
        f'CREATE TEMP TABLE "stray_{name}" (LIKE "{table}") ON COMMIT DROP',
        f'WITH moved AS (DELETE FROM "{table}_default" WHERE "{column}" >= \'{lo}\' AND "{column}" < \'{hi}\' '
        f'RETURNING *) INSERT INTO "stray_{name}" SELECT * FROM moved',
        f"CREATE TABLE \"{name}\" PARTITION OF \"{table}\" FOR VALUES FROM ('{lo}') TO ('{hi}')",
        f'INSERT INTO "{table}" SELECT * FROM "stray_{name}"',
        f'DROP TABLE "stray_{name}"',
    ]
    moved = _run_ddl(statements, what=f"create {name}", unless_exists=name, count_statement=1)
    if moved is None:
        return None
    if moved:
        log.info("partition %s created; %s rows moved out of %s_default", name, moved, table)
    return Created(name=name, moved_rows=moved)


def _run_ddl(
    statements: list[str], *, what: str, unless_exists: str | None = None, count_statement: int | None = None
) -> int | None:
    """Run `statements` in one transaction (a savepoint inside a caller's), waiting at most
    LOCK_TIMEOUT for locks. Returns the row count of statement `count_statement` (0 if none), or
    None when skipped: the lock was not granted, or `unless_exists` already exists."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
            if unless_exists:
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{unless_exists}"'])
                if cursor.fetchone()[0]:
                    return None
            count = 0
            for index, statement in enumerate(statements):
                cursor.execute(statement)
                if index == count_statement:
                    count = cursor.rowcount
            # Transaction-local, but a caller's transaction may go on after this savepoint.
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
            return count
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        log.warning("partitions: %s skipped, lock not granted within %s; the next run retries", what, LOCK_TIMEOUT)
        return None
