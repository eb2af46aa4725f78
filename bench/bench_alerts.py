"""Benchmark of one alert evaluation cycle: 10 000 enabled rules over 50 assets, every condition kind.

    .venv/bin/python bench/bench_alerts.py [--rules 10000] [--assets 50] [--repeat 7]

Times the pure part of a cycle — grouping the rules by asset and evaluating each asset's rules
against its market state at the close of a bar — not the database reads or webhook deliveries
around it. Target: <= 1 s per cycle. The data are generated (deterministic seed): random-walk 5m
bars, nine timeframes of clusters (current and previous map), funding, open interest and
liquidation events per asset, and rules whose levels sit near each asset's price so some fire.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from accounts.alerts.market import BAR_MS, Bars, ClusterMaps, ClusterSet, Liquidations, MarketState, Series
from accounts.alerts.rules import (
    ClusterForms,
    ClusterSwept,
    ClusterWithin,
    Direction,
    FundingAbove,
    FundingBelow,
    OIChange,
    Params,
    PriceCrosses,
    PriceEntersZone,
    RuleSpec,
    Side,
)
from accounts.alerts.triggers import Firing, evaluate_rules

TARGET_MS = 1000.0
TIMEFRAMES = ("12h", "24h", "3d", "1w", "2w", "1m", "3m", "6m", "1y")
CLUSTERS_PER_MAP = 20
HISTORY_BARS = 2 * 288  # two days of 5m bars per asset
DIRECTIONS: list[Direction] = ["up", "down", "either"]
SIDES: list[Side] = ["above", "below", "either"]


def synthetic_clusters(rng: np.random.Generator, price: float, through_ms: int) -> ClusterSet:
    peaks = price * np.exp(rng.normal(0, 0.04, CLUSTERS_PER_MAP))
    width = peaks * rng.uniform(0.001, 0.006, CLUSTERS_PER_MAP)
    return ClusterSet(
        through_ms=through_ms,
        short=peaks >= price,
        price_low=peaks - width,
        price_high=peaks + width,
        peak_price=peaks,
        usd=rng.lognormal(np.log(3e6), 1.2, CLUSTERS_PER_MAP),
    )


def earlier_map(rng: np.random.Generator, current: ClusterSet, through_ms: int) -> ClusterSet:
    """The map before: mostly the same clusters, a little smaller, with a few missing (those formed since)."""
    kept = rng.random(len(current)) < 0.85
    return ClusterSet(
        through_ms=through_ms,
        short=current.short[kept],
        price_low=current.price_low[kept],
        price_high=current.price_high[kept],
        peak_price=current.peak_price[kept],
        usd=current.usd[kept] * rng.uniform(0.8, 1.0, int(kept.sum())),
    )


def synthetic_state(rng: np.random.Generator, symbol: str, end_ms: int) -> MarketState:
    n = HISTORY_BARS
    times = end_ms - BAR_MS * np.arange(n, 0, -1, dtype=np.int64) + BAR_MS
    vol = 0.0015 * np.exp(rng.normal(0, 0.3))
    close = rng.uniform(0.05, 90_000) * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0, 1, (2, n))) * vol * close * 0.6
    bars = Bars(times, open_, np.maximum(open_, close) + wick[0], np.minimum(open_, close) - wick[1], close)
    price = float(close[-1])
    bar_ms = int(times[-1])
    clusters = {}
    for tf in TIMEFRAMES:
        # Long timeframes are recomputed less often, so their maps end further back.
        lag = int(rng.integers(0, 12))
        current = synthetic_clusters(rng, price, bar_ms - lag * BAR_MS)
        clusters[tf] = ClusterMaps(current=current, previous=earlier_map(rng, current, bar_ms - (lag + 12) * BAR_MS))
    oi = 5e8 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    events = int(rng.integers(20, 200))
    return MarketState(
        asset=symbol,
        bars=bars,
        price=price,
        funding_rate=float(rng.normal(1e-4, 2e-4)),
        previous_funding_rate=float(rng.normal(1e-4, 2e-4)),
        open_interest=Series(times + BAR_MS, oi),
        clusters=clusters,
        liquidations=Liquidations(
            np.sort(rng.integers(bar_ms - 3_600_000, bar_ms + BAR_MS, events)),
            rng.lognormal(np.log(20_000), 1.5, events),
            rng.random(events) < 0.5,
        ),
    )


def synthetic_params(rng: np.random.Generator, kind: int, state: MarketState) -> Params:
    price = state.price
    tf = str(rng.choice(TIMEFRAMES))
    match kind:
        case 0:
            return PriceCrosses(price=price * (1 + rng.normal(0, 0.003)), direction=DIRECTIONS[int(rng.integers(3))])
        case 1:
            low = price * (1 + rng.normal(0, 0.01))
            return PriceEntersZone(low=low, high=low * (1 + rng.uniform(0.001, 0.01)))
        case 2:
            min_usd = None if rng.random() < 0.5 else float(rng.lognormal(np.log(3e6), 1))
            side = SIDES[int(rng.integers(3))]
            return ClusterWithin(percent=float(rng.uniform(0.5, 5)), timeframe=tf, side=side, min_usd=min_usd)
        case 3:
            return ClusterForms(
                min_usd=float(rng.lognormal(np.log(3e6), 1)), percent=float(rng.uniform(1, 10)), timeframe=tf
            )
        case 4:
            return ClusterSwept(min_usd=float(rng.lognormal(np.log(1e6), 1)), timeframe=tf)
        case 5:
            return FundingAbove(rate=float(rng.normal(1e-4, 2e-4)))
        case 6:
            return FundingBelow(rate=float(rng.normal(1e-4, 2e-4)))
        case _:
            sign = 1 if rng.random() < 0.5 else -1
            return OIChange(
                percent=sign * float(rng.uniform(0.2, 5)), window_minutes=int(rng.choice([15, 60, 240, 1440]))
            )


def synthetic_rules(rng: np.random.Generator, states: list[MarketState], count: int) -> list[RuleSpec]:
    rules = []
    for rule_id in range(count):
        state = states[rule_id % len(states)]
        every = rng.random() < 0.7
        rules.append(
            RuleSpec(
                id=rule_id,
                asset=state.asset,
                params=synthetic_params(rng, rule_id % 8, state),
                trigger="every" if every else "once",
                cooldown_minutes=int(rng.choice([0, 15, 60, 240])) if every else 0,
                # Some rules fired a while ago; most still wait for their first event.
                last_fired_bar_ms=state.bar_ms - int(rng.integers(1, 100)) * BAR_MS
                if every and rng.random() < 0.2
                else None,
            )
        )
    return rules


def cycle(rules: list[RuleSpec], states: dict[str, MarketState]) -> list[Firing]:
    by_asset: dict[str, list[RuleSpec]] = defaultdict(list)
    for rule in rules:
        by_asset[rule.asset].append(rule)
    firings: list[Firing] = []
    for asset, asset_rules in by_asset.items():
        firings.extend(evaluate_rules(asset_rules, states[asset]))
    return firings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(20260201)
    end_ms = 1_769_904_000_000
    states = [synthetic_state(rng, f"SYN{k:02d}USDT", end_ms) for k in range(args.assets)]
    rules = synthetic_rules(rng, states, args.rules)
    by_symbol = {s.asset: s for s in states}
    print(f"alert evaluation benchmark: {len(rules)} enabled rules over {len(states)} assets, 8 condition kinds,")
    print(f"{len(TIMEFRAMES)} timeframes x {CLUSTERS_PER_MAP} clusters (current and previous map) per asset")
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, median of {args.repeat}")

    firings = cycle(rules, by_symbol)  # warm-up
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cycle(rules, by_symbol)
        times.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(times)
    kinds: dict[str, int] = defaultdict(int)
    for firing in firings:
        kinds[firing.condition] += 1
    print(f"firings per cycle: {len(firings)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")
    print(
        f"one cycle: median {median:.1f} ms (min {min(times):.1f}, max {max(times):.1f}), {len(rules) / median * 1000:,.0f} rules/s"
    )
    passed = median <= TARGET_MS
    print(f"{'one full cycle':<36}{median:>9.1f} ms   target <= {TARGET_MS:.0f} ms   {'OK' if passed else 'MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
