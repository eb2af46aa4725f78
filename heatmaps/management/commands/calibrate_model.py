from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps.models import Asset
from heatmaps.validity import calibration_run, calibration_words


class Command(BaseCommand):
    help = (
        "Fit the leverage-tier weights of one asset to its recorded liquidations (reach-probability de-biased, "
        "time-split, shrunk towards the current weights) and print the result; refused on simulated open "
        "interest or with too few recorded liquidations. Prints only: the asset's parameters are not changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--asset", required=True, help="asset symbol, e.g. BTCUSDT")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        asset = Asset.objects.select_related("reference_exchange").filter(symbol=options["asset"].upper()).first()
        if asset is None:
            raise CommandError(f"unknown asset {options['asset']!r}")
        try:
            report = calibration_run(asset=asset)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        for line in calibration_words(report):
            self.stdout.write(line)
        self.stdout.write(f"({report['compute_ms']:.0f} ms)")
