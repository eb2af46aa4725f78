"""Hyperliquid and Bitget join the supported exchanges; one symbol per asset and venue (VenueSymbol), filled
in for the assets that exist with each venue's naming convention as it stood here."""

import django.db.models.deletion
from django.db import migrations, models

NEW_EXCHANGES = [("hyperliquid", "Hyperliquid perpetuals"), ("bitget", "Bitget USDT-M")]


def convention(code, base, quote):
    if code == "okx":
        return f"{base}-{quote}-SWAP".upper()
    if code == "hyperliquid":
        return base.upper()
    return f"{base}{quote}".upper()


def seed(apps, schema_editor):
    Exchange = apps.get_model("heatmaps", "Exchange")
    Asset = apps.get_model("heatmaps", "Asset")
    VenueSymbol = apps.get_model("heatmaps", "VenueSymbol")
    for code, name in NEW_EXCHANGES:
        Exchange.objects.get_or_create(code=code, defaults={"name": name})
    for asset in Asset.objects.prefetch_related("exchanges"):
        for exchange in asset.exchanges.all():
            VenueSymbol.objects.get_or_create(
                asset=asset, exchange=exchange, defaults={"symbol": convention(exchange.code, asset.base, asset.quote)}
            )


class Migration(migrations.Migration):
    dependencies = [
        ("heatmaps", "0009_plausibility_flags"),
    ]

    operations = [
        migrations.AlterField(
            model_name="exchange",
            name="code",
            field=models.SlugField(help_text="binance, bybit, okx, hyperliquid or bitget", max_length=32, unique=True),
        ),
        migrations.CreateModel(
            name="VenueSymbol",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "symbol",
                    models.CharField(help_text="the venue's own instrument name, e.g. BTC-USDT-SWAP", max_length=64),
                ),
                (
                    "checked_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="when the venue's instrument list last listed it (empty: never checked)",
                        null=True,
                    ),
                ),
                (
                    "asset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="venue_symbols", to="heatmaps.asset"
                    ),
                ),
                (
                    "exchange",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="heatmaps.exchange"
                    ),
                ),
            ],
            options={
                "ordering": ["asset", "exchange"],
                "constraints": [
                    models.UniqueConstraint(fields=("asset", "exchange"), name="venue_symbol_one_per_venue")
                ],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
