"""Benchmark of a whole alert evaluation cycle against PostgreSQL: 10 000 enabled rules over 50
assets, every condition kind — loading bars, open interest, funding, the stored maps' clusters,
liquidations and the rules, evaluating, and storing the events and their deliveries.

    LIQ_TESTING=1 .venv/bin/python bench/bench_alert_cycle.py [--rules 10000] [--assets 50] [--repeat 5]

Uses its own database (liqplatform_bench, or LIQ_BENCH_DATABASE_URL). Each repeat lands one new
5-minute bar on every asset (not timed) and then times `evaluate_asset` for all of them, as the
worker would run after ingest. Target: <= 1 s per cycle. bench_alerts.py times the pure part alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import setup

setup()

import numpy as np  # noqa: E402
from bench_alerts import TIMEFRAMES, synthetic_params, synthetic_state  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.alerts.evaluation import evaluate_asset  # noqa: E402
from accounts.alerts.market import BAR_MS, ClusterSet  # noqa: E402
from accounts.alerts.rules import PriceEntersZone, params_to_json  # noqa: E402
from accounts.models import AlertEvent, AlertRule, Annotation, User  # noqa: E402
from heatmaps.marketdata import ms_to_dt  # noqa: E402
from heatmaps.models import Asset, Candle, Exchange, FundingRate, Heatmap, OpenInterest  # noqa: E402

TARGET_MS = 1000.0
PREFIX = "BENCHAL"
USERS = 100


def clusters_json(cs: ClusterSet) -> list[dict[str, object]]:
    return [
        {
            "side": "short" if cs.short[i] else "long",
            "price_low": float(cs.price_low[i]),
            "price_high": float(cs.price_high[i]),
            "peak_price": float(cs.peak_price[i]),
            "usd": float(cs.usd[i]),
        }
        for i in range(len(cs))
    ]


@transaction.atomic
def populate(rng: np.random.Generator, assets: int, rules: int, end_ms: int) -> list[Asset]:
    Asset.objects.filter(symbol__startswith=PREFIX).delete()
    User.objects.filter(username__startswith="bench-alerts-").delete()
    binance = Exchange.get_supported("binance")
    users = User.objects.bulk_create(
        [User(username=f"bench-alerts-{i}", email=f"bench{i}@localhost") for i in range(USERS)]
    )
    states, created = [], []
    for k in range(assets):
        state = synthetic_state(rng, f"{PREFIX}{k:02d}USDT", end_ms)
        asset = Asset.objects.create(
            symbol=state.asset, display_name=state.asset, base=f"B{k}", reference_exchange=binance
        )
        asset.exchanges.add(binance)
        bars = state.bars
        Candle.objects.bulk_create(
            Candle(
                asset=asset,
                exchange=binance,
                open_time=ms_to_dt(int(bars.times_ms[i])),
                open=bars.open[i],
                high=bars.high[i],
                low=bars.low[i],
                close=bars.close[i],
                volume=1.0,
                taker_buy_volume=0.5,
            )
            for i in range(len(bars))
        )
        assert state.open_interest is not None
        OpenInterest.objects.bulk_create(
            OpenInterest(asset=asset, exchange=binance, time=ms_to_dt(int(t)), oi_value=float(v))
            for t, v in zip(state.open_interest.times_ms, state.open_interest.values, strict=True)
        )
        FundingRate.objects.bulk_create(
            FundingRate(asset=asset, exchange=binance, funding_time=ms_to_dt(end_ms - h * 8 * 3_600_000), rate=1e-4)
            for h in range(3)
        )
        now = timezone.now()
        Heatmap.objects.bulk_create(
            Heatmap(
                asset=asset,
                timeframe=tf,
                computed_at=now,
                compute_ms=1,
                data_start=ms_to_dt(int(bars.times_ms[0])),
                data_end=ms_to_dt(maps.current.through_ms - BAR_MS),
                candle_exchange="binance",
                width=1,
                bins=1,
                first_bucket=now,
                bar_seconds=300,
                price_lo=0,
                price_hi=1,
                long_grid=b"",
                short_grid=b"",
                long_scale=1,
                short_scale=1,
                candles=[],
                clusters=clusters_json(maps.current),
                colour_scale_usd=1,
            )
            for tf, maps in state.clusters.items()
        )
        states.append(state)
        created.append(asset)
    zones: dict[int, Annotation] = {}
    objs = []
    for rule_id in range(rules):
        k = rule_id % assets
        state, asset, user = states[k], created[k], users[rule_id % USERS]
        params = synthetic_params(rng, rule_id % 8, state)
        annotation = None
        if isinstance(params, PriceEntersZone):
            annotation = zones.get(k)
            if annotation is None:
                annotation = zones[k] = Annotation.objects.create(
                    user=user, asset=asset, kind="zone", price=params.low, price_high=params.high
                )
        objs.append(
            AlertRule(
                user=annotation.user if annotation else user,
                asset=asset,
                condition=_condition(params),
                params={} if annotation else params_to_json(params),
                annotation=annotation,
                trigger="every",
                cooldown_minutes=int(rng.choice([5, 15, 60])),
                channels=["in_app"],
            )
        )
    AlertRule.objects.bulk_create(objs)
    return created


def _condition(params: object) -> str:
    from accounts.alerts.rules import condition_of

    return condition_of(params)  # type: ignore[arg-type]


def land_bar(rng: np.random.Generator, assets: list[Asset], open_ms: int) -> None:
    rows = []
    for asset in assets:
        last = Candle.objects.filter(asset=asset).order_by("-open_time").first()
        assert last is not None
        close = last.close * float(np.exp(rng.normal(0, 0.004)))
        rows.append(
            Candle(
                asset=asset,
                exchange_id=asset.reference_exchange_id,
                open_time=ms_to_dt(open_ms),
                open=last.close,
                high=max(last.close, close) * 1.001,
                low=min(last.close, close) * 0.999,
                close=close,
                volume=1.0,
            )
        )
        OpenInterest.objects.create(
            asset=asset,
            exchange_id=asset.reference_exchange_id,
            time=ms_to_dt(open_ms + BAR_MS),
            oi_value=5e8 * float(np.exp(rng.normal(0, 0.01))),
        )
    Candle.objects.bulk_create(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(20260202)
    end_ms = 1_769_904_000_000
    started = time.perf_counter()
    assets = populate(rng, args.assets, args.rules, end_ms)
    print(
        f"alert cycle benchmark (PostgreSQL {connection.cursor().connection.info.server_version}): {args.rules} enabled rules over "
        f"{len(assets)} assets, {len(TIMEFRAMES)} stored maps each; set up in {time.perf_counter() - started:.1f} s"
    )
    for asset in assets:  # the cycle before the first timed one: the stored bars are known
        evaluate_asset(asset=asset, on_events=lambda ids: None)
    times: list[float] = []
    cpu: list[float] = []
    fired_counts: list[int] = []
    checked = 0
    for repeat in range(args.repeat):
        land_bar(rng, assets, end_ms + BAR_MS * (repeat + 1))
        t0, c0 = time.perf_counter(), time.process_time()
        fired = checked = 0
        for asset in assets:
            c, f = evaluate_asset(asset=asset, on_events=lambda ids: None)
            checked += c
            fired += f
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        fired_counts.append(fired)
    median = statistics.median(times)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"rules checked per cycle: {checked}; events stored per cycle: {', '.join(map(str, fired_counts))}"
        f" ({AlertEvent.objects.filter(asset__in=assets).count()} in all, each once)"
    )
    print(
        f"one cycle, load + evaluate + store: median {median:.0f} ms (min {min(times):.0f}, max {max(times):.0f}); "
        f"of it this process's CPU {statistics.median(cpu):.0f} ms, the rest is waiting for PostgreSQL; "
        f"load average {load} (1, 5, 15 min) on {os.cpu_count()} cores"
    )
    passed = median <= TARGET_MS
    print(
        f"{'whole cycle from PostgreSQL':<36}{median:>9.0f} ms   target <= {TARGET_MS:.0f} ms   {'OK' if passed else 'MISSED'}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
