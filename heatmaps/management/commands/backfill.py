from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from heatmaps import ingest
from heatmaps.exchanges import ExchangeError, PageProgress
from heatmaps.management.tables import format_table, utc
from heatmaps.marketdata import dt_to_ms, span_summary
from heatmaps.marketdata.risk_limits import risk_limits_refresh
from heatmaps.models import EXCHANGE_NAMES, Asset, Exchange
from heatmaps.tasks import enqueue_recompute


def parse_utc(text: str, option: str) -> datetime:
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {text!r} is not an ISO time such as 2026-01-01T00:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Command(BaseCommand):
    help = (
        "Fetch history from an exchange's REST API: --start inclusive, --end exclusive (UTC, default now). "
        "Each page is stored as it arrives, so the command is safe to interrupt and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--exchange", required=True, choices=list(EXCHANGE_NAMES))
        parser.add_argument("--symbol", required=True, help="asset symbol, e.g. BTCUSDT")
        parser.add_argument("--start", required=True, help="e.g. 2026-01-01T00:00Z (inclusive)")
        parser.add_argument("--end", help="exclusive; default now")
        parser.add_argument("--kinds", default="candles,oi,funding", help="comma-separated: candles, oi, funding")

    def handle(self, *args: Any, **options: Any) -> None:
        asset = Asset.objects.filter(symbol=options["symbol"].upper()).first()
        if asset is None:
            known = ", ".join(Asset.objects.values_list("symbol", flat=True)) or "none"
            raise CommandError(
                f"unknown asset {options['symbol']!r} (known: {known}); add it first with "
                f"`python manage.py add_asset {options['symbol'].upper()} --exchanges {options['exchange']}`"
            )
        exchange = Exchange.get_supported(options["exchange"])
        start = parse_utc(options["start"], "--start")
        end = parse_utc(options["end"], "--end") if options["end"] else timezone.now()
        if end <= start:
            raise CommandError("--end must be after --start")
        kinds: list[ingest.Kind] = []
        for name in options["kinds"].split(","):
            kind = ingest.KIND_ALIASES.get(name.strip())
            if kind is None:
                raise CommandError(f"unknown kind {name!r}; use candles, oi or funding")
            kinds.append(kind)  # type: ignore[arg-type]

        bars: dict[str, tqdm[Any]] = {}

        def progress(p: PageProgress) -> None:
            bar = bars.get(p.kind)
            if bar is None:
                bar = bars[p.kind] = tqdm(
                    total=1000, desc=f"{p.kind} {p.symbol}@{p.exchange}", file=self.stderr, unit="‰"
                )
            bar.n = int(p.fraction * 1000)
            bar.set_postfix(rows=p.rows, pages=p.pages)

        try:
            results = ingest.backfill(
                asset=asset,
                exchange=exchange,
                kinds=kinds,
                start_ms=dt_to_ms(start),
                end_ms=dt_to_ms(end),
                progress=progress,
            )
        except ExchangeError as exc:
            raise CommandError(
                f"{exchange.code}: {exc} (what was fetched before this is stored; run again to resume)"
            ) from None
        finally:
            for bar in bars.values():
                bar.close()
        written = 0
        table = []
        for result in results:
            written += result.rows_written
            stored = span_summary(asset_id=asset.pk, exchange_id=exchange.pk, kind=result.kind, start=start, end=end)
            table.append(
                [
                    result.kind,
                    result.rows_fetched,
                    result.rows_written,
                    stored.rows,
                    utc(stored.first),
                    utc(stored.last),
                    "–" if stored.missing_bars is None else stored.missing_bars,
                ]
            )
        self.stdout.write(f"{asset.symbol}@{exchange.code}, {utc(start)} → {utc(end)} (end exclusive):")
        headers = ["kind", "fetched", "new or changed", "stored", "first", "last", "missing 5m bars"]
        self.stdout.write(format_table(headers, table))
        for result in results:
            for note in result.notes:
                self.stdout.write(self.style.WARNING(f"note: {note}"))
        # Model v2's margin and leverage on this venue, once (the daily refresh keeps them current).
        risk = risk_limits_refresh(asset=asset, connect=ingest.connector_for, exchanges=[exchange.code])
        if risk.stored:
            self.stdout.write(f"risk limits of {asset.symbol}@{exchange.code} stored")
        for code, error in risk.failed.items():
            self.stdout.write(self.style.WARNING(f"note: risk limits of {asset.symbol}@{code} not fetched: {error}"))
        if written:
            enqueue_recompute(asset_ids=[asset.pk])  # history changed: every timeframe
