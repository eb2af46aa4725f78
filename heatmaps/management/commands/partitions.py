from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from heatmaps.management.tables import format_table
from heatmaps.marketdata import drop_expired_partitions, ensure_partitions, list_partitions, partitioning_active

MONTHS_AHEAD = 3


def _size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "kB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class Command(BaseCommand):
    help = (
        "Monthly partitions of candles and open interest (PostgreSQL): --ensure creates the next months' "
        "and rescues rows from DEFAULT, --drop-expired applies LIQ_RETENTION_MONTHS, --list (the default) "
        "prints them with row estimates and sizes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ensure", action="store_true", help=f"create partitions {MONTHS_AHEAD} months ahead")
        parser.add_argument(
            "--drop-expired",
            action="store_true",
            help="drop months older than LIQ_RETENTION_MONTHS (0 = keep everything); heat maps are kept",
        )
        parser.add_argument("--list", action="store_true", help="print the partitions (also after the above)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not partitioning_active():
            self.stdout.write("this database (SQLite) has no partitions; nothing to do")
            return
        if options["ensure"]:
            created = ensure_partitions(months_ahead=MONTHS_AHEAD)
            for c in created:
                moved = f", {c.moved_rows} rows moved out of DEFAULT" if c.moved_rows else ""
                self.stdout.write(f"created {c.name}{moved}")
            if not created:
                self.stdout.write("every partition needed already exists")
        if options["drop_expired"]:
            months = settings.LIQ_RETENTION_MONTHS
            if months <= 0:
                self.stdout.write("LIQ_RETENTION_MONTHS is 0: raw data is kept for ever, nothing dropped")
            else:
                dropped = drop_expired_partitions(retention_months=months)
                for name in dropped:
                    self.stdout.write(f"dropped {name}")
                self.stdout.write(f"{len(dropped)} partition(s) older than {months} months dropped; heat maps kept")
        if options["list"] or not (options["ensure"] or options["drop_expired"]):
            partitions = list_partitions()
            rows = [
                [p.table, p.name, f"{p.month:%Y-%m}" if p.month else "DEFAULT", p.rows_estimate, _size(p.bytes)]
                for p in partitions
            ]
            self.stdout.write(format_table(["table", "partition", "month (UTC)", "rows (estimate)", "size"], rows))
            total = sum(p.bytes for p in partitions)
            self.stdout.write(f"{len(partitions)} partitions, {_size(total)} with indexes")
