from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps.marketdata import data_coverage
from heatmaps.marketdata.coverage import held_back_rows
from heatmaps.models import Asset


class Command(BaseCommand):
    help = (
        "Per asset, exchange and kind: first and last timestamp (UTC), row count, missing 5m bars and rows "
        "held back as implausible; then the held-back rows themselves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        parser.add_argument("--asset", help="only this asset symbol")
        parser.add_argument(
            "--held-back", action="store_true", help="with --json: list the held-back rows instead of the coverage"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        assets = None
        if options["asset"]:
            assets = list(Asset.objects.filter(symbol=options["asset"].upper()))
            if not assets:
                raise CommandError(f"unknown asset {options['asset']!r}")
        rows = data_coverage(assets=assets)
        held = held_back_rows(assets=assets)
        if options["json"]:
            listing = held if options["held_back"] else rows
            self.stdout.write(json.dumps([r.as_json() for r in listing], indent=2))
            return
        header = (
            f"{'asset':<10} {'exchange':<8} {'kind':<14} {'first (UTC)':<17} {'last (UTC)':<17} {'rows':>9} "
            f"{'missing 5m':>10} {'held back':>9}"
        )
        self.stdout.write(header)
        for c in rows:
            first = f"{c.first:%Y-%m-%d %H:%M}" if c.first else "-"
            last = f"{c.last:%Y-%m-%d %H:%M}" if c.last else "-"
            missing = "-" if c.missing_bars is None else str(c.missing_bars)
            note = "  (simulated)" if c.simulated else ""
            self.stdout.write(
                f"{c.asset:<10} {c.exchange:<8} {c.kind:<14} {first:<17} {last:<17} {c.rows:>9} {missing:>10} "
                f"{c.held_back:>9}{note}"
            )
        if not rows:
            self.stdout.write("no market data stored")
        if held:
            self.stdout.write(f"\nHeld back as implausible (newest first, at most {len(held)}):")
            for h in held:
                self.stdout.write(
                    f"{h.asset:<10} {h.exchange:<8} {h.kind:<14} {h.time:%Y-%m-%d %H:%M} UTC  {h.reason}: {h.detail}"
                )
