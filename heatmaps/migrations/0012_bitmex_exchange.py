"""BitMEX (its linear USDT perpetuals) joins the supported exchanges."""

from django.db import migrations


def seed(apps, schema_editor):
    Exchange = apps.get_model("heatmaps", "Exchange")
    Exchange.objects.get_or_create(code="bitmex", defaults={"name": "BitMEX linear USDT"})


class Migration(migrations.Migration):
    dependencies = [
        ("heatmaps", "0011_gate_exchange"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
