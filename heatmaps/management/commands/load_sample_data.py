from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from heatmaps.marketdata import ImportResult
from heatmaps.sample import load_sample_data


class Command(BaseCommand):
    help = (
        "Load the bundled sample data: BTCUSDT and ETHUSDT, 33 days of real Binance 5m candles and funding, "
        "with SIMULATED open interest. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        def report(result: ImportResult) -> None:
            label = " (simulated open interest)" if "SIMULATED" in result.path else ""
            self.stdout.write(
                f"{result.symbol} {result.kind}{label}: {result.rows_read} rows, {result.rows_written} new or changed"
            )

        load_sample_data(on_file=report)
        self.stdout.write(self.style.SUCCESS("sample data loaded"))
