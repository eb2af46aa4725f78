from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps.exchanges import ExchangeError
from heatmaps.exchanges.hyperliquid import BASE_WEIGHT
from heatmaps.exchanges.hyperliquid_accounts import accounts_per_minute
from heatmaps.ingest import connector_for
from heatmaps.ingest.fetch import symbol_for
from heatmaps.ingest.hyperliquid_sweep import (
    collect_trade_accounts,
    hyperliquid_coins,
    leaderboard_accounts,
    measured_for_asset,
    sweep,
    track_accounts,
)
from heatmaps.models import Asset, Exchange, HyperliquidAccount


class Command(BaseCommand):
    help = (
        "The measured Hyperliquid layer: follow accounts (track, leaderboard, listen), read their positions "
        "(sweep), and show an asset's measured liquidation levels and coverage (measured)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        track = sub.add_parser("track", help="follow addresses an operator names")
        track.add_argument("addresses", nargs="+")
        sub.add_parser("leaderboard", help="follow every address on the public leaderboard")
        listen = sub.add_parser("listen", help="follow the addresses trading the assets' coins for a while")
        listen.add_argument("--seconds", type=float, default=60.0)
        run = sub.add_parser("sweep", help="read the accounts that are due, within LIQ_HYPERLIQUID_SWEEP_WEIGHT")
        run.add_argument("--every", type=float, help="repeat every this many seconds (60: the hot tier's minute)")
        show = sub.add_parser("measured", help="an asset's measured liquidation levels and coverage")
        show.add_argument("symbol")
        show.add_argument("--bins", type=int, default=40)
        show.add_argument("--range", type=float, default=0.3, help="± this fraction around the mark (default 0.3)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "track":
                added = track_accounts(options["addresses"], source=HyperliquidAccount.Source.OPERATOR)
                self.stdout.write(f"{added} new account(s) followed; {HyperliquidAccount.objects.count()} in all")
            elif action == "leaderboard":
                self.stdout.write(f"{leaderboard_accounts()} new account(s) from the leaderboard")
            elif action == "listen":
                self._listen(options["seconds"])
            elif action == "sweep":
                self._sweep(options["every"])
            else:
                self._measured(options["symbol"], options["bins"], options["range"])
        except ExchangeError as exc:
            raise CommandError(f"hyperliquid: {exc}") from None

    def _listen(self, seconds: float) -> None:
        coins = hyperliquid_coins()
        if not coins:
            raise CommandError("no enabled asset is on hyperliquid; add one with add_asset --exchanges hyperliquid")
        seen = asyncio.run(collect_trade_accounts(settings.LIQ_HYPERLIQUID_WS_URL, coins, seconds=seconds))
        added = track_accounts(seen, source=HyperliquidAccount.Source.TRADES)
        self.stdout.write(f"{len(seen)} address(es) traded {', '.join(coins)}; {added} new")

    def _sweep(self, every: float | None) -> None:
        budget = settings.LIQ_HYPERLIQUID_SWEEP_WEIGHT
        per_minute = accounts_per_minute(budget - BASE_WEIGHT)
        self.stdout.write(f"budget {budget} weight a minute: up to {per_minute} accounts a minute")
        while True:
            started = time.monotonic()
            r = sweep()
            self.stdout.write(
                f"{r.accounts} account(s) read, weight {r.weight}, {r.positions} position(s) "
                f"({r.without_liquidation_price} without a liquidation price), {r.hot} hot, {len(r.failed)} failed"
            )
            if every is None:
                return
            time.sleep(max(0.0, every - (time.monotonic() - started)))

    def _measured(self, symbol: str, bins: int, span: float) -> None:
        asset = Asset.objects.filter(symbol=symbol.upper()).first()
        if asset is None:
            raise CommandError(f"unknown asset {symbol!r}")
        exchange = Exchange.get_supported("hyperliquid")
        conn: Any = connector_for(exchange)
        with conn:
            mark = conn.fetch_mark_price(symbol_for(asset, exchange, conn)).mark_price
        edges = np.linspace(mark * (1 - span), mark * (1 + span), bins + 1)
        layer = measured_for_asset(asset, edges=edges)
        coverage = "unknown (no open interest stored)" if layer.coverage is None else f"{layer.coverage:.1%}"
        self.stdout.write(
            f"{asset.symbol} on hyperliquid: longs {layer.observed_long_usd:,.0f} USD, shorts "
            f"{layer.observed_short_usd:,.0f} USD measured; coverage of the open interest {coverage}; "
            f"{layer.without_price} position(s) without a liquidation price"
        )
        for k in np.argsort(-(layer.long_usd + layer.short_usd))[:10]:
            if layer.long_usd[k] + layer.short_usd[k] <= 0:
                break
            self.stdout.write(
                f"  {edges[k]:,.2f}–{edges[k + 1]:,.2f}: longs {layer.long_usd[k]:,.0f} USD, "
                f"shorts {layer.short_usd[k]:,.0f} USD"
            )
