from __future__ import annotations

import glob
import os
from datetime import timedelta
from typing import Any

import psycopg
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection
from tqdm import tqdm

from heatmaps.management.tables import format_table, utc
from heatmaps.marketdata import DumpFormatError, ImportProblem, ImportResult, import_market_file, span_summary
from heatmaps.models import Asset, Exchange


class Command(BaseCommand):
    help = (
        "Import market-data files: Binance dump klines (5m), metrics (open interest) and fundingRate, as CSV "
        "or the ZIP they ship in, and the plain OHLCV CSV. Each file is imported all-or-nothing; "
        "importing the same file again changes nothing. Damaged files (a cut last line, a damaged ZIP, "
        "implausible candles, a symbol other than the asset's) are refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="files or glob patterns")
        parser.add_argument("--asset", help="asset symbol (default: from the file name or its symbol column)")
        parser.add_argument("--exchange", default="binance", help="exchange code (default: binance)")
        parser.add_argument(
            "--create-asset", action="store_true", help="create an unknown asset with default parameters"
        )
        parser.add_argument(
            "--simulated-oi", action="store_true", help="label imported open interest as simulated (not market data)"
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace stored open interest that differs and carries the other simulated label (relabelling it)",
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
        imported: list[ImportResult] = []
        bar = tqdm(paths, unit="file", disable=options["verbosity"] == 0, file=self.stderr)
        for path in bar:
            bar.set_postfix_str(os.path.basename(path))
            try:
                result = import_market_file(
                    path,
                    asset_symbol=options["asset"],
                    exchange_code=options["exchange"],
                    simulated_oi=options["simulated_oi"],
                    create_asset=options["create_asset"],
                    replace=options["replace"],
                )
            except (DatabaseError, psycopg.Error) as exc:  # COPY talks to psycopg directly
                # The file's transaction was rolled back with the connection: nothing of it is stored.
                failures += 1
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                tqdm.write(
                    self.style.ERROR(f"error: {path}: database error while writing ({first_line}); "
                                     "nothing from this file was written"),
                    file=self.stderr,
                    end="",
                )  # fmt: skip
                if not connection.is_usable():
                    connection.close()  # the next file gets a fresh connection, or fails the same way
                continue
            except (DumpFormatError, ImportProblem) as exc:
                failures += 1
                tqdm.write(
                    self.style.ERROR(f"error: {exc} (nothing from this file was written)"), file=self.stderr, end=""
                )
                continue
            imported.append(result)
            span = (
                f"{result.first:%Y-%m-%d %H:%M} → {result.last:%Y-%m-%d %H:%M} UTC"
                if result.first and result.last
                else ""
            )
            notes = "".join(
                f", {n} {what}"
                for n, what in (
                    (result.duplicates, "duplicate lines dropped"),
                    (result.relabelled, "rows changed label (--replace)"),
                )
                if n
            )
            tqdm.write(
                f"{result.path}: {result.kind} {result.symbol}@{result.exchange}, {result.rows_read} rows read, "
                f"{result.rows_written} new or changed{notes}, {span}",
                file=self.stdout,
                end="",
            )
        if imported:
            self.stdout.write(self._summary(imported))
        if failures:
            raise CommandError(f"{failures} of {len(paths)} file(s) failed; the others were imported")

    def _summary(self, results: list[ImportResult]) -> str:
        """One row per asset × exchange × kind: files, rows, the span, and 5m bars missing inside it."""
        groups: dict[tuple[str, str, str], list[ImportResult]] = {}
        for r in results:
            groups.setdefault((r.symbol, r.exchange, r.kind), []).append(r)
        table = []
        for (symbol, exchange, kind), rs in sorted(groups.items()):
            firsts = [r.first for r in rs if r.first]
            lasts = [r.last for r in rs if r.last]
            first, last = (min(firsts), max(lasts)) if firsts and lasts else (None, None)
            missing: object = "–"
            series = {"klines": "candles", "ohlcv": "candles", "metrics": "open_interest"}.get(kind)
            if series and first and last:
                asset = Asset.objects.get(symbol=symbol)
                stored = span_summary(
                    asset_id=asset.pk,
                    exchange_id=Exchange.objects.get(code=exchange).pk,
                    kind=series,
                    start=first,
                    end=last + timedelta(minutes=5),
                )
                missing = stored.missing_bars
            rows_read = sum(r.rows_read for r in rs)
            written = sum(r.rows_written for r in rs)
            duplicates = sum(r.duplicates for r in rs)
            relabelled = sum(r.relabelled for r in rs)
            table.append(
                [
                    symbol,
                    exchange,
                    kind,
                    len(rs),
                    rows_read,
                    duplicates,
                    written,
                    relabelled,
                    utc(first),
                    utc(last),
                    missing,
                ]
            )
        headers = [
            "asset",
            "exchange",
            "kind",
            "files",
            "rows read",
            "duplicates dropped",
            "new or changed",
            "changed label",
            "first",
            "last",
            "missing 5m bars",
        ]
        return "\n" + format_table(headers, table)
