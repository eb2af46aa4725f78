from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps.marketdata import asset_add


class Command(BaseCommand):
    help = "Add an asset (a linear perpetual, e.g. SOLUSDT) with validated default model parameters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbol", help="instrument symbol, e.g. SOLUSDT")
        parser.add_argument("--exchanges", default="binance", help="comma-separated: binance,bybit,okx")
        parser.add_argument("--reference", help="exchange whose candles are drawn (default: the first listed)")
        parser.add_argument("--name", help='display name (default: "<BASE> perpetual")')

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            asset = asset_add(
                symbol=options["symbol"],
                exchanges=options["exchanges"].split(","),
                reference=options["reference"],
                name=options["name"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        codes = ", ".join(asset.exchanges.order_by("code").values_list("code", flat=True))
        self.stdout.write(
            f"added {asset.symbol} ({asset.display_name}): {asset.base}/{asset.quote} on {codes}, "
            f"candles from {asset.reference_exchange.code}. Next: `python manage.py backfill --asset {asset.symbol} "
            f"--days 30` or `python manage.py import_market_data <files> --asset {asset.symbol}`."
        )
