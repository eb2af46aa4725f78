"""Gate joins the supported exchanges."""

from django.db import migrations, models


def seed(apps, schema_editor):
    Exchange = apps.get_model("heatmaps", "Exchange")
    Exchange.objects.get_or_create(code="gate", defaults={"name": "Gate USDT perpetuals"})


class Migration(migrations.Migration):
    dependencies = [
        ("heatmaps", "0010_venue_symbols_hyperliquid_bitget"),
    ]

    operations = [
        migrations.AlterField(
            model_name="exchange",
            name="code",
            field=models.SlugField(help_text="the venue's lower-case name, e.g. binance", max_length=32, unique=True),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
