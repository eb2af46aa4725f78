"""Deribit (BTC-PERPETUAL and its other perpetuals) joins the supported exchanges."""

from django.db import migrations


def seed(apps, schema_editor):
    Exchange = apps.get_model("heatmaps", "Exchange")
    Exchange.objects.get_or_create(code="deribit", defaults={"name": "Deribit perpetuals"})


class Migration(migrations.Migration):
    dependencies = [
        ("heatmaps", "0012_bitmex_exchange"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
