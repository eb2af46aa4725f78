"""Times as epoch milliseconds, and the few pieces of raw SQL that read time series straight into numpy
(PostgreSQL and SQLite).

Times come back as epoch milliseconds from the database: converting 200 000 datetimes in Python would
cost more than the whole engine run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_dt(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def dt_to_ms(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


def epoch_ms(column: str) -> str:
    """SQL for a timestamp column as whole milliseconds since the epoch."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM {column}) * 1000)::bigint"
    return f"CAST(ROUND((julianday({column}) - 2440587.5) * 86400000) AS INTEGER)"


def db_time(value: datetime) -> Any:
    """A datetime as the backend stores it: raw SQL on SQLite compares text, and an aware value's
    "+00:00" suffix would make an equal stored time compare as smaller."""
    return connection.ops.adapt_datetimefield_value(value)


def fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
