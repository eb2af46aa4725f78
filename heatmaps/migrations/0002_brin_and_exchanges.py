"""BRIN indexes on the time columns (PostgreSQL only) and the three supported exchanges.

Market rows arrive in time order, so a BRIN index on time is a few pages where a btree would be
hundreds of MB; the natural-key btree (asset, exchange, time) already serves per-asset range scans.
"""

from django.db import migrations

BRIN = [
    ("heatmaps_candle", "open_time"),
    ("heatmaps_openinterest", "time"),
    ("heatmaps_fundingrate", "funding_time"),
    ("heatmaps_liquidation", "time"),
]

EXCHANGES = [("binance", "Binance USDS-M"), ("bybit", "Bybit linear"), ("okx", "OKX swap")]


def create_brin(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in BRIN:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {table}_{column}_brin ON {table} USING brin ({column})")


def drop_brin(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in BRIN:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_{column}_brin")


def seed_exchanges(apps, schema_editor):
    Exchange = apps.get_model("heatmaps", "Exchange")
    for code, name in EXCHANGES:
        Exchange.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("heatmaps", "0001_initial")]

    operations = [
        migrations.RunPython(create_brin, drop_brin),
        migrations.RunPython(seed_exchanges, migrations.RunPython.noop),
    ]
