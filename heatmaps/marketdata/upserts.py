"""Bulk upsert on natural keys.

PostgreSQL: COPY into a temporary staging table, then one INSERT ... ON CONFLICT DO UPDATE from it.
SQLite (embedded mode): the same upsert statement through executemany. Either way a row whose values
are unchanged is not rewritten, and the return value counts rows inserted or changed, so loading the
same data twice reports 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models, transaction

CHUNK = 20_000


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field.column


def upsert_rows(
    model: type[models.Model],
    *,
    key_fields: Sequence[str],
    value_fields: Sequence[str],
    records: Sequence[Sequence[Any]],
    insert_only_fields: Sequence[str] = (),
    only_if_greater: str | None = None,
) -> int:
    """Insert or update `records`, tuples in key_fields + value_fields + insert_only_fields order.

    On a key conflict the value_fields are updated (if they differ); insert_only_fields never are. With
    `only_if_greater` (one of the value_fields) a stored row is updated only when the new value of that
    field is larger, so replaying older data never shrinks it. The records must not repeat a key.
    Returns the number of rows inserted or changed.
    """
    if not records:
        return 0
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    columns = [_column(model, name) for name in (*key_fields, *value_fields, *insert_only_fields)]
    keys = [_column(model, name) for name in key_fields]
    values = [_column(model, name) for name in value_fields]
    q = connection.ops.quote_name
    col_sql = ", ".join(q(c) for c in columns)
    conflict = ", ".join(q(c) for c in keys)
    if values:
        set_sql = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in values)
        distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
        changed = " OR ".join(f"{table}.{q(c)} {distinct} excluded.{q(c)}" for c in values)
        if only_if_greater is not None:
            grows = q(_column(model, only_if_greater))
            changed = f"excluded.{grows} > {table}.{grows}"
        action = f"DO UPDATE SET {set_sql} WHERE {changed}"
    else:
        action = "DO NOTHING"
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = q(f"stage_{meta.db_table}")
            cursor.execute(f"DROP TABLE IF EXISTS {stage}")
            cursor.execute(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {col_sql} FROM {table} WITH NO DATA")
            for start in range(0, len(records), CHUNK):
                with cursor.cursor.copy(f"COPY {stage} ({col_sql}) FROM STDIN") as copy:
                    for record in records[start : start + CHUNK]:
                        copy.write_row(record)
            cursor.execute(
                f"INSERT INTO {table} ({col_sql}) SELECT {col_sql} FROM {stage} ON CONFLICT ({conflict}) {action}"
            )
            written = cursor.rowcount
            cursor.execute(f"DROP TABLE {stage}")
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({col_sql}) VALUES ({placeholders}) ON CONFLICT ({conflict}) {action}"
            for start in range(0, len(records), CHUNK):
                before = connection.connection.total_changes
                cursor.executemany(sql, [list(r) for r in records[start : start + CHUNK]])
                written += connection.connection.total_changes - before
    return written
