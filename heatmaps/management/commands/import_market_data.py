from __future__ import annotations

import glob
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from heatmaps.marketdata import DumpFormatError, ImportProblem, import_market_file


class Command(BaseCommand):
    help = (
        "Import market-data files: Binance dump klines (5m), metrics (open interest) and fundingRate, as CSV "
        "or the ZIP they ship in, and the plain OHLCV CSV. Each file is imported all-or-nothing; "
        "importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="files or glob patterns")
        parser.add_argument("--asset", help="asset symbol (default: from the file name or its symbol column)")
        parser.add_argument("--exchange", default="binance", help="exchange code (default: binance)")
        parser.add_argument(
            "--simulated-oi", action="store_true", help="label imported open interest as simulated (not market data)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        paths: list[str] = []
        for pattern in options["files"]:
            matches = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
            if not matches:
                raise CommandError(f"{pattern}: no file matches")
            paths.extend(matches)
        for path in paths:
            if not os.path.isfile(path):
                raise CommandError(f"{path}: no such file")
        failures = 0
        bar = tqdm(paths, unit="file", disable=options["verbosity"] == 0, file=self.stderr)
        for path in bar:
            bar.set_postfix_str(os.path.basename(path))
            try:
                result = import_market_file(
                    path,
                    asset_symbol=options["asset"],
                    exchange_code=options["exchange"],
                    simulated_oi=options["simulated_oi"],
                )
            except (DumpFormatError, ImportProblem) as exc:
                failures += 1
                tqdm.write(
                    self.style.ERROR(f"error: {exc} (nothing from this file was written)"), file=self.stderr, end=""
                )
                continue
            span = (
                f"{result.first:%Y-%m-%d %H:%M} → {result.last:%Y-%m-%d %H:%M} UTC"
                if result.first and result.last
                else ""
            )
            tqdm.write(
                f"{result.path}: {result.kind} {result.symbol}@{result.exchange}, {result.rows_read} rows read, "
                f"{result.rows_written} new or changed, {span}",
                file=self.stdout,
                end="",
            )
        if failures:
            raise CommandError(f"{failures} of {len(paths)} file(s) failed; the others were imported")
