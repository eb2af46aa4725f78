from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.alerts.evaluation import evaluate_asset
from heatmaps.models import Asset


class Command(BaseCommand):
    help = (
        "Run one alert evaluation cycle now (every enabled asset, or one): the same function the "
        "worker runs after new market data. Events are stored once; deliveries are queued."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--asset", help="asset symbol, e.g. BTCUSDT")

    def handle(self, *args: Any, **options: Any) -> None:
        assets = Asset.objects.filter(enabled=True).select_related("reference_exchange")
        if options["asset"]:
            assets = Asset.objects.filter(symbol=options["asset"].upper()).select_related("reference_exchange")
            if not assets:
                raise CommandError(f"unknown asset {options['asset']!r}")
        started = time.perf_counter()
        total_checked = total_fired = 0
        for asset in assets:
            checked, fired = evaluate_asset(asset=asset)
            total_checked += checked
            total_fired += fired
            if options["verbosity"] > 1:
                self.stdout.write(f"{asset.symbol}: {checked} rules checked, {fired} fired")
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.stdout.write(
            f"{total_checked} rules checked, {total_fired} fired ({len(assets)} assets, {elapsed_ms:.0f} ms)"
        )
