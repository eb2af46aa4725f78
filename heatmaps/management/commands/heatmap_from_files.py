from __future__ import annotations

import glob
import time
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps import engine
from heatmaps.dumpfiles import DumpFormatError, read_market_file
from heatmaps.rows import BASE_BAR_MS, CandleRow, OpenInterestRow


def _expand(patterns: list[str]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise CommandError(f"{pattern}: no file matches")
        paths.extend(matches)
    return paths


def base_bars_from_files(klines: list[str], metrics: list[str]) -> engine.BaseBars:
    """Binance 5m klines joined with the metrics dump: a bar's OI is the snapshot stamped at its close."""
    candles: dict[int, CandleRow] = {}
    for path in klines:
        parsed = read_market_file(path)
        if parsed.kind != "klines":
            raise CommandError(f"{path}: --klines needs a Binance kline dump, this is a {parsed.kind} file")
        candles.update((r.open_time_ms, r) for r in parsed.rows if isinstance(r, CandleRow))
    oi: dict[int, float] = {}
    for path in metrics:
        parsed = read_market_file(path)
        if parsed.kind != "metrics":
            raise CommandError(f"{path}: --metrics needs a Binance metrics dump, this is a {parsed.kind} file")
        oi.update(
            (r.time_ms, np.nan if r.oi_value is None else r.oi_value)
            for r in parsed.rows
            if isinstance(r, OpenInterestRow)
        )
    times = sorted(candles)
    rows = [candles[t] for t in times]
    nan = float("nan")
    return engine.BaseBars(
        open_time=np.array(times, dtype=np.int64),
        high=np.array([r.high for r in rows]),
        low=np.array([r.low for r in rows]),
        close=np.array([r.close for r in rows]),
        volume=np.array([nan if r.volume is None else r.volume for r in rows]),
        taker_buy=np.array([nan if r.taker_buy_volume is None else r.taker_buy_volume for r in rows]),
        oi_value=np.array([oi.get(t + BASE_BAR_MS, nan) for t in times]),
    )


class Command(BaseCommand):
    help = "Compute one heat map straight from Binance dump files into an .npz file (no database needed)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--klines", action="append", required=True, help="5m kline dump (CSV or ZIP); repeat or glob"
        )
        parser.add_argument(
            "--metrics", action="append", required=True, help="metrics dump (CSV or ZIP); repeat or glob"
        )
        parser.add_argument("--timeframe", required=True, choices=list(engine.TIMEFRAMES))
        parser.add_argument("--out", required=True, help="output .npz")
        parser.add_argument("--bins", type=int, default=400)
        parser.add_argument("--pad", type=float, default=0.10)
        parser.add_argument("--tiers", default="5:0.10,10:0.25,25:0.30,50:0.20,100:0.15")
        parser.add_argument("--mmr", type=float, default=0.004)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        try:
            params = engine.ModelParams(
                tiers=engine.ModelParams.parse_tiers(options["tiers"]),
                mmr=options["mmr"],
                n_bins=options["bins"],
                pad=options["pad"],
            )
            params.validate()
        except ValueError as exc:
            raise CommandError(f"bad model parameters: {exc}") from None
        try:
            bars = base_bars_from_files(_expand(options["klines"]), _expand(options["metrics"]))
        except DumpFormatError as exc:
            raise CommandError(str(exc)) from None
        parsed_at = time.perf_counter()
        try:
            grid = engine.compute_heatmap(bars=bars, timeframe=options["timeframe"], params=params)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        computed_at = time.perf_counter()
        np.savez(
            options["out"],
            times=grid.times.astype(np.int64),
            prices=grid.prices.astype(np.float64),
            long=grid.long.astype(np.float64),
            short=grid.short.astype(np.float64),
            close=grid.close.astype(np.float64),
        )
        self.stdout.write(
            f"{options['out']}: {options['timeframe']} {grid.long.shape[0]}×{grid.long.shape[1]} from {len(bars.open_time)} base bars "
            f"(parse {parsed_at - started:.2f} s, engine {1000 * (computed_at - parsed_at):.1f} ms)"
        )
