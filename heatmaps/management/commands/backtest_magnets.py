from __future__ import annotations

import json
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps.engine import TIMEFRAMES
from heatmaps.models import Asset
from heatmaps.validity import backtest_run, backtest_store, league_words, plain_words
from heatmaps.validity.backtests import MODELS

_UNITS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_duration(text: str) -> int:
    """``30m``, ``4h``, ``2d``, ``1w`` → milliseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text or "")
    if not match or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration like 30m, 4h, 2d or 1w")
    return int(match[1]) * _UNITS[match[2]]


def parse_band(text: str) -> tuple[float, float]:
    """``5-10`` or ``25x-100x`` → (5.0, 10.0): the leverages of a band, both ends included."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)x?\s*-\s*(\d+(?:\.\d+)?)x?\s*", text or "")
    if not match or float(match[1]) > float(match[2]):
        raise ValueError(f"{text!r} is not a leverage band like 5-10 or 25x-100x")
    return float(match[1]), float(match[2])


class Command(BaseCommand):
    help = (
        "Walk forward through the stored history: at each step build the map from the data up to it, and record "
        "whether price reaches its largest cluster above or below first. Stores the report (see docs/model.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--asset", required=True, help="asset symbol, e.g. BTCUSDT")
        parser.add_argument("--timeframe", default="1w", choices=list(TIMEFRAMES))
        parser.add_argument(
            "--model",
            default="v1",
            choices=list(MODELS),
            help="the model the report scores (default v1); the league ranks v1, its leverage bands and v2 either way",
        )
        parser.add_argument("--every", help="time between steps, e.g. 4h (default: per timeframe, 4h for 1w)")
        parser.add_argument(
            "--horizon", help="how long price is followed after a step, e.g. 24h (default: per timeframe)"
        )
        parser.add_argument(
            "--leverage",
            help="score the map of one leverage band only, e.g. 5-10 (tiers from 5x to 10x); prints, does not store",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the bootstrap (default 0; same seed, same figures)"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON (shape in docs/model.md)")
        parser.add_argument("--no-store", action="store_true", help="print only; keep the stored report as it is")

    def handle(self, *args: Any, **options: Any) -> None:
        asset = Asset.objects.select_related("reference_exchange").filter(symbol=options["asset"].upper()).first()
        if asset is None:
            raise CommandError(f"unknown asset {options['asset']!r}")
        try:
            every = parse_duration(options["every"]) if options["every"] else None
            horizon = parse_duration(options["horizon"]) if options["horizon"] else None
            leverages = parse_band(options["leverage"]) if options["leverage"] else None
            if options["no_store"] or leverages is not None or options["seed"]:
                report = backtest_run(
                    asset=asset,
                    timeframe=options["timeframe"],
                    every_ms=every,
                    horizon_ms=horizon,
                    leverages=leverages,
                    seed=options["seed"],
                    model=options["model"],
                )
            else:
                stored = backtest_store(
                    asset=asset,
                    timeframe=options["timeframe"],
                    every_ms=every,
                    horizon_ms=horizon,
                    model=options["model"],
                )
                report = stored.report if stored else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if report is None:
            raise CommandError(f"{asset.symbol}: too little stored history for a {options['timeframe']} backtest")
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        if report["data"]["oi_simulated"]:
            self.stdout.write("SIMULATED open interest: these figures say nothing about real markets.")
        self.stdout.write(f"{report['model']} on {report['asset']} {report['timeframe']}:")
        for line in plain_words(report) + league_words(report):
            self.stdout.write(line)
        self.stdout.write(f"({report['compute_ms']:.0f} ms)")
