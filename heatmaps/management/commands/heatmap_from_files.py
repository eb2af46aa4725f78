from __future__ import annotations

import glob
import time
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatmaps import engine
from heatmaps.marketdata import DumpFormatError, read_kline_columns, read_metrics_columns
from heatmaps.rows import BASE_BAR_MS


def _expand(patterns: list[str]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise CommandError(f"{pattern}: no file matches")
        paths.extend(matches)
    return paths


def base_bars_from_files(klines: list[str], metrics: list[str]) -> tuple[engine.BaseBars, int]:
    """Binance 5m klines joined with the metrics dump: a bar's OI is the snapshot stamped at its close.

    Open interest enters guarded (engine/oi_guard.py) against the klines' own volume; returns the
    bars and how many snapshots were held back.
    """
    k = [read_kline_columns(p) for p in klines]
    m = [read_metrics_columns(p) for p in metrics]
    open_time = np.concatenate([c.open_time for c in k])
    order = np.argsort(open_time, kind="stable")
    open_time = open_time[order]
    keep = np.concatenate(([True], open_time[1:] != open_time[:-1]))  # overlapping files: first copy wins
    pick = order[keep]
    open_time = open_time[keep]

    def col(name: str) -> np.ndarray:
        return np.concatenate([getattr(c, name) for c in k])[pick]

    oi_time = np.concatenate([c.time for c in m]) if m else np.zeros(0, dtype=np.int64)
    oi_value = np.concatenate([c.oi_value for c in m]) if m else np.zeros(0)
    oi_order = np.argsort(oi_time, kind="stable")
    oi_time, oi_value = oi_time[oi_order], oi_value[oi_order]
    closes = open_time + BASE_BAR_MS
    at = np.searchsorted(oi_time, closes)
    found = at < oi_time.size
    found[found] = oi_time[at[found]] == closes[found]
    bar_oi = np.full(open_time.size, np.nan)
    bar_oi[found] = oi_value[at[found]]
    volume = col("volume")
    guard = engine.guard_open_interest(bar_oi, close=col("close"), volume=volume)
    bars = engine.BaseBars(
        open_time=open_time,
        high=col("high"),
        low=col("low"),
        close=col("close"),
        volume=volume,
        taker_buy=col("taker_buy"),
        oi_value=guard.guarded(bar_oi),
    )
    return bars, guard.count


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
        # The engine's modules load on first use; loading them is start-up, not parsing or engine time.
        compute_heatmap = engine.compute_heatmap
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
            bars, held_back = base_bars_from_files(_expand(options["klines"]), _expand(options["metrics"]))
        except DumpFormatError as exc:
            raise CommandError(str(exc)) from None
        parsed_at = time.perf_counter()
        try:
            grid = compute_heatmap(bars=bars, timeframe=options["timeframe"], params=params)
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
        if held_back:
            self.stdout.write(
                f"{held_back} open-interest snapshot(s) held back as implausible (moved more than the contracts "
                "traded, or jumped and returned): carried over like missing snapshots"
            )
