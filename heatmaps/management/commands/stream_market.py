from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from heatmaps.ingest.streamer import CODES, MarketStreamer
from heatmaps.management.stopping import stop_event
from heatmaps.tasks import schedule_recompute


class Command(BaseCommand):
    help = (
        "Stream 5-minute bars, mark prices and open interest from the websockets of Binance, Bybit, OKX, "
        "Hyperliquid, Bitget, Gate, BitMEX and Deribit until stopped (Ctrl-C): closed bars and open interest "
        "are stored as the REST ingest stores them, what an outage missed is fetched from REST on reconnect, "
        "and the enabled assets are re-read every LIQ_MARKET_REFRESH_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--exchange", action="append", choices=list(CODES), help="repeatable")
        parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until stopped)")

    def handle(self, *args: Any, **options: Any) -> None:
        exchanges = tuple(options["exchange"] or CODES)
        streamer = MarketStreamer(exchanges=exchanges, on_stored=schedule_recompute)
        self.stdout.write(f"streaming market data from {', '.join(exchanges)}")
        asyncio.run(self._run(streamer, options["seconds"]))
        self.stdout.write(streamer.summary())

    async def _run(self, streamer: MarketStreamer, seconds: float | None) -> None:
        stop = stop_event(seconds)
        await streamer.run(stop)
