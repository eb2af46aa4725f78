from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps.management.stopping import stop_event


class Command(BaseCommand):
    help = (
        "The offline demo: replay the bundled sample as a live Binance market on 127.0.0.1 (REST and websockets) "
        "for the stream process and the ingest tasks. --probe says whether the real exchange answers; --prepare "
        "shifts the sample assets' history to end now and computes their maps."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--probe", action="store_true", help="exit 0 if Binance answers, 1 if not")
        parser.add_argument(
            "--wait-ready", action="store_true", help="wait (up to 60 s) until LIQ_BINANCE_FAPI_URL answers, then exit"
        )
        parser.add_argument("--prepare", action="store_true", help="store the shifted sample, compute maps, exit")
        parser.add_argument("--port", type=int, default=None, help="default LIQ_REPLAY_PORT")
        parser.add_argument("--speed", type=int, default=None, help="default LIQ_REPLAY_SPEED")
        parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: until stopped)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["probe"]:
            sys.exit(0 if self._exchange_answers() else 1)
        if options["wait_ready"]:
            deadline = time.monotonic() + 60
            while not self._exchange_answers():
                if time.monotonic() > deadline:
                    raise CommandError(f"{settings.LIQ_BINANCE_FAPI_URL} did not answer within 60 s")
                time.sleep(0.5)
            return
        if options["prepare"]:
            self._prepare()
            return
        asyncio.run(self._serve(options["port"] or settings.LIQ_REPLAY_PORT, options["speed"], options["seconds"]))

    def _exchange_answers(self) -> bool:
        url = f"{settings.LIQ_BINANCE_FAPI_URL}/fapi/v1/ping"
        try:
            return httpx.get(url, timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def _prepare(self) -> None:
        from heatmaps.maps import heatmap_compute
        from heatmaps.models import Asset
        from heatmaps.replay.sample import SAMPLE_SYMBOLS, ReplayRefused, replay_prepare

        try:
            start = replay_prepare(now_ms=int(time.time() * 1000), catchup_bars=settings.LIQ_REPLAY_CATCHUP_BARS)
        except ReplayRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"sample history shifted to end {settings.LIQ_REPLAY_CATCHUP_BARS} bars before now; "
            f"the replay streams them from {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(start.resume_ms / 1000))}"
        )
        for asset in Asset.objects.filter(symbol__in=SAMPLE_SYMBOLS).select_related("reference_exchange"):
            maps = heatmap_compute(asset=asset)
            heatmap_compute(asset=asset, model="v2")
            self.stdout.write(
                f"{asset.symbol}: heat maps computed for {', '.join(m.timeframe for m in maps)} (models v1 and v2)"
            )

    async def _serve(self, port: int, speed: int | None, seconds: float | None) -> None:
        from asgiref.sync import sync_to_async

        from heatmaps.replay.sample import SAMPLE_SYMBOLS, replay_resume, sample_tape
        from heatmaps.replay.server import ReplayMarket, replay_serve, wall_ms
        from heatmaps.replay.tape import ReplayClock

        starts = {s: await sync_to_async(replay_resume)(s) for s in SAMPLE_SYMBOLS}
        ready = {s: st for s, st in starts.items() if st is not None}
        if not ready:
            raise CommandError("no sample asset is prepared: run `manage.py replay_market --prepare` first")
        tapes = {s: sample_tape(s, origin_ms=st.origin_ms) for s, st in ready.items()}
        clock = ReplayClock(
            wall_ms(), min(st.resume_ms for st in ready.values()), float(speed or settings.LIQ_REPLAY_SPEED)
        )
        server = await replay_serve(ReplayMarket(tapes, clock), host="127.0.0.1", port=port)
        behind_min = (clock.start_wall_ms - clock.start_market_ms) / 60_000
        self.stdout.write(
            f"replaying the sample ({', '.join(tapes)}) as Binance on 127.0.0.1:{port}: {behind_min:.0f} min to catch "
            f"up at {clock.speed:g}x, then in real time"
        )
        stop = stop_event(seconds)
        await stop.wait()
        server.close()
        await server.wait_closed()
