from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps.models import Asset
from heatmaps.validity import calibration_run, calibration_words
from heatmaps.validity.model_cards import model_card_store


class Command(BaseCommand):
    help = (
        "Fit the leverage-tier weights and half-lives of one asset to its recorded liquidations (reach-probability "
        "de-biased, time-split, regularised towards the current parameters) and store the result as the asset's "
        "next model card (/model/<SYMBOL>/; every version kept, adopted when it beats the current parameters "
        "held-out). Refused on simulated open interest or with too few recorded liquidations. The maps' own "
        "parameters are not changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--asset", required=True, help="asset symbol, e.g. BTCUSDT")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--no-store", action="store_true", help="print only; store no model card")

    def handle(self, *args: Any, **options: Any) -> None:
        asset = Asset.objects.select_related("reference_exchange").filter(symbol=options["asset"].upper()).first()
        if asset is None:
            raise CommandError(f"unknown asset {options['asset']!r}")
        try:
            report = calibration_run(asset=asset)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        card = None if options["no_store"] else model_card_store(asset=asset, report=report)
        if card is not None:
            report = {**report, "card": {"version": card.version, "adopted": card.adopted}}
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        for line in calibration_words(report):
            self.stdout.write(line)
        if card is not None:
            verdict = "adopted: it is the current card" if card.adopted else "not adopted: the current card stays"
            self.stdout.write(
                f"Stored as model card v{card.version} of {asset.symbol} ({verdict}; held-out "
                f"{card.held_out_score:.4f} vs {card.current_held_out_score:.4f} nats per event, margin {card.margin:g})."
            )
        self.stdout.write(f"({report['compute_ms']:.0f} ms)")
