from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from heatmaps.ingest.instruments import venue_symbols_check
from heatmaps.marketdata import asset_add
from heatmaps.models import EXCHANGE_NAMES
from heatmaps.tasks import enqueue_risk_limits


class Command(BaseCommand):
    help = "Add an asset (a linear perpetual, e.g. SOLUSDT) with validated default model parameters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbol", help="instrument symbol, e.g. SOLUSDT")
        parser.add_argument("--exchanges", default="binance", help=f"comma-separated: {','.join(EXCHANGE_NAMES)}")
        parser.add_argument("--reference", help="exchange whose candles are drawn (default: the first listed)")
        parser.add_argument("--name", help='display name (default: "<BASE> perpetual")')
        parser.add_argument(
            "--venue-symbol",
            action="append",
            default=[],
            metavar="EXCHANGE=SYMBOL",
            help="the venue's own name where it differs from its convention, e.g. hyperliquid=kPEPE (repeatable)",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="check each venue's symbol against the venue's instrument list (asks the venues) and add "
            "nothing if one is not listed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chosen: dict[str, str] = {}
        for item in options["venue_symbol"]:
            code, sep, sym = item.partition("=")
            if not sep or not code.strip() or not sym.strip():
                raise CommandError(f"--venue-symbol {item!r}: write EXCHANGE=SYMBOL, e.g. okx=BTC-USDT-SWAP")
            chosen[code.strip().lower()] = sym.strip()
        try:
            with transaction.atomic():
                asset = asset_add(
                    symbol=options["symbol"],
                    exchanges=options["exchanges"].split(","),
                    reference=options["reference"],
                    name=options["name"],
                    venue_symbols=chosen,
                )
                if options["check"]:
                    problems = venue_symbols_check(asset_id=asset.pk)
                    if problems:
                        raise ValidationError(problems)
                # Model v2's margin and leverage from the venues, once the asset is committed.
                enqueue_risk_limits(asset_ids=[asset.pk])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        mapped = ", ".join(
            f"{v.exchange.code} {v.symbol}" + (" (listed)" if v.checked_at else "")
            for v in asset.venue_symbols.select_related("exchange").order_by("exchange__code")
        )
        self.stdout.write(
            f"added {asset.symbol} ({asset.display_name}): {asset.base}/{asset.quote} on {mapped}, "
            f"candles from {asset.reference_exchange.code}. Next: `python manage.py backfill --asset {asset.symbol} "
            f"--days 30` or `python manage.py import_market_data <files> --asset {asset.symbol}`."
        )
