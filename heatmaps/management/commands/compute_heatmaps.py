from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from heatmaps import engine
from heatmaps.maps import heatmap_compute
from heatmaps.models import Asset


class Command(BaseCommand):
    help = "Compute and store heat maps synchronously (all enabled assets and timeframes by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--asset", help="asset symbol")
        parser.add_argument("--timeframe", action="append", choices=list(engine.TIMEFRAMES), help="repeatable")
        parser.add_argument(
            "--model",
            choices=["v1", "v2", "all"],
            default="all",
            help="which published model's maps to store (default: both; v2 is otherwise computed by the worker's "
            "low-priority follow-up after v1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        assets = Asset.objects.filter(enabled=True).select_related("reference_exchange")
        if options["asset"]:
            assets = Asset.objects.filter(symbol=options["asset"].upper()).select_related("reference_exchange")
            if not assets:
                raise CommandError(f"unknown asset {options['asset']!r}")
        bar = tqdm(list(assets), unit="asset", disable=options["verbosity"] == 0, file=self.stderr)
        for asset in bar:
            bar.set_postfix_str(asset.symbol)
            models = ["v1", "v2"] if options["model"] == "all" else [options["model"]]
            try:
                maps = [
                    m
                    for model in models
                    for m in heatmap_compute(asset=asset, timeframes=options["timeframe"], model=model)
                ]
            except ValueError as exc:
                raise CommandError(f"{asset.symbol}: {exc}") from None
            if not maps:
                tqdm.write(f"{asset.symbol}: no candles stored, nothing to compute", file=self.stdout, end="")
            for m in maps:
                tqdm.write(
                    f"{asset.symbol} {m.timeframe} {m.model}: {m.width}×{m.bins}, data {m.data_start:%Y-%m-%d %H:%M} → "
                    f"{m.data_end:%Y-%m-%d %H:%M} UTC, candles {m.candle_exchange}, OI {'+'.join(m.oi_exchanges) or 'none'}"
                    f"{' (simulated)' if m.oi_simulated else ''}, full intensity ${m.colour_scale_usd:,.0f}, "
                    f"stored {(len(m.long_grid) + len(m.short_grid)) / 1024:.1f} KiB",
                    file=self.stdout,
                    end="",
                )
