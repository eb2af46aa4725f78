from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from heatmaps.exchanges.liquidation_stream import stream_liquidations
from heatmaps.ingest import make_sink, recorders
from heatmaps.management.stopping import stop_event

log = logging.getLogger("heatmaps.recorder")
IDLE_RECHECK_S = 60


class Command(BaseCommand):
    help = (
        "Record liquidation events from Binance !forceOrder@arr, Bybit allLiquidation, OKX liquidation-orders and "
        "Deribit's trades flagged liquidation until stopped (Ctrl-C). Reconnects with backoff; logs its health "
        "every minute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--exchange", action="append", choices=["binance", "bybit", "okx", "deribit"], help="repeatable"
        )
        parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until stopped)")

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = self._chosen(options["exchange"])
        if not chosen and options["seconds"] is not None:
            self.stdout.write("no enabled asset on an enabled exchange: nothing to record")
            return
        if not chosen:
            # Under a process manager an exit would stop its siblings; wait for an operator to add an asset.
            self.stdout.write(f"no enabled asset on an enabled exchange yet: checking again every {IDLE_RECHECK_S} s")
            while not chosen:
                time.sleep(IDLE_RECHECK_S)
                chosen = self._chosen(options["exchange"])
        for r in chosen:
            self.stdout.write(
                f"recording {r.exchange.code} liquidations for {', '.join(sorted(r.assets))} from {r.url}"
            )
        asyncio.run(self._run(chosen, options["seconds"]))

    def _chosen(self, exchanges: list[str] | None) -> list[Any]:
        return [r for r in recorders() if not exchanges or r.exchange.code in exchanges]

    async def _run(self, chosen: list[Any], seconds: float | None) -> None:
        stop = stop_event(seconds)
        runs = [
            stream_liquidations(
                r.url,
                r.spec.subscribe_message,
                r.spec.parse,
                make_sink(r),
                stop_event=stop,
                logger=log,
                ping_message=r.spec.ping_message,
                ping_interval=r.spec.ping_interval,
            )
            for r in chosen
        ]
        results = await asyncio.gather(*runs)
        for r, stats in zip(chosen, results, strict=True):
            self.stdout.write(f"{r.exchange.code}: {stats.summary()}")
