"""Hyperliquid accounts the sweep reads and their measured positions."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("heatmaps", "0013_deribit_exchange"),
    ]

    operations = [
        migrations.CreateModel(
            name="HyperliquidAccount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "address",
                    models.CharField(
                        max_length=42,
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^0x[0-9a-f]{40}$", "An address is 0x and 40 hex digits, in lower case."
                            )
                        ],
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("trades", "seen in the trades stream"),
                            ("leaderboard", "on the leaderboard"),
                            ("operator", "added by an operator"),
                        ],
                        max_length=16,
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("added_at", models.DateTimeField()),
                ("last_swept_at", models.DateTimeField(blank=True, null=True)),
                (
                    "hot",
                    models.BooleanField(
                        default=False, help_text="a position within ±25 % of its liquidation price: read every minute"
                    ),
                ),
                ("open_positions", models.PositiveIntegerField(default=0, help_text="at the last sweep")),
                (
                    "without_liquidation_price",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="positions at the last sweep with no liquidation price (hedged or tiny accounts)",
                    ),
                ),
            ],
            options={
                "ordering": ["address"],
            },
        ),
        migrations.CreateModel(
            name="MeasuredPosition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("coin", models.CharField(help_text="Hyperliquid's name, e.g. BTC", max_length=32)),
                ("side", models.CharField(choices=[("long", "long"), ("short", "short")], max_length=5)),
                ("size", models.FloatField(help_text="in the coin")),
                ("entry_price", models.FloatField(null=True)),
                ("notional_usd", models.FloatField()),
                (
                    "liquidation_price",
                    models.FloatField(help_text="empty: the venue gives none (hedged or tiny account)", null=True),
                ),
                ("leverage", models.FloatField(null=True)),
                ("swept_at", models.DateTimeField()),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="measured_positions",
                        to="heatmaps.hyperliquidaccount",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["coin"], name="measured_position_coin")],
                "constraints": [
                    models.UniqueConstraint(fields=("account", "coin"), name="measured_position_one_per_coin")
                ],
            },
        ),
    ]
