from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import SAMPLE_ASSETS, ImportResult, load_sample_data
from heatmaps.models import Asset


class Command(BaseCommand):
    help = (
        "Load the bundled sample data: BTCUSDT and ETHUSDT, 33 days of real Binance 5m candles and funding, "
        "with SIMULATED open interest. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-compute", action="store_true", help="load the data only; do not compute heat maps")

    def handle(self, *args: Any, **options: Any) -> None:
        def report(result: ImportResult) -> None:
            label = " (simulated open interest)" if "SIMULATED" in result.path else ""
            self.stdout.write(
                f"{result.symbol} {result.kind}{label}: {result.rows_read} rows, {result.rows_written} new or changed"
            )

        load_sample_data(on_file=report)
        self.stdout.write(self.style.SUCCESS("sample data loaded"))
        if options["no_compute"]:
            return
        for symbol, _, _ in SAMPLE_ASSETS:
            asset = Asset.objects.select_related("reference_exchange").get(symbol=symbol)
            maps = heatmap_compute(asset=asset)
            heatmap_compute(asset=asset, model="v2")
            self.stdout.write(
                f"{symbol}: heat maps computed for {', '.join(m.timeframe for m in maps)} (models v1 and v2)"
            )
