"""How long "Test on history" takes: one rule over the last 30 days of the bundled sample
(BTCUSDT, real 5-minute candles, simulated open interest), bar by bar as the worker would, the
cluster rules rebuilding their map without look-ahead; and what the follow-up says.

    LIQ_TESTING=1 .venv/bin/python bench/bench_alert_history.py [--days 30]

Uses its own database (liqplatform_bench, or LIQ_BENCH_DATABASE_URL) with the sample loaded.
Target: under 2 s for 30 days of one rule. Prints, per rule: bars replayed, maps built, firings,
the record (touched K of N with its 95 % interval, median time to touch, reversals, the
same-distance baseline) and the time (wall clock, and this process's CPU: on a shared machine the
two part).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import setup

setup()

from accounts.alerts.history import rule_history  # noqa: E402
from accounts.alerts.rules import (  # noqa: E402
    ClusterForms,
    ClusterSwept,
    ClusterWithin,
    FundingAbove,
    OIChange,
    Params,
    PriceCrosses,
)
from accounts.alerts.wording import fmt_minutes  # noqa: E402
from heatmaps.marketdata import load_sample_data  # noqa: E402
from heatmaps.models import Asset, Candle  # noqa: E402

TARGET_S = 2.0


def rules(price: float) -> list[tuple[str, Params]]:
    return [
        ("price crosses a level (last close + 2 %)", PriceCrosses(price=round(price * 1.02, 1), direction="either")),
        ("cluster within 2 %, 24h map", ClusterWithin(percent=2.0, timeframe="24h")),
        ("cluster within 3 %, 1w map", ClusterWithin(percent=3.0, timeframe="1w")),
        ("new cluster >= $5M within 5 %, 1w map", ClusterForms(min_usd=5e6, percent=5.0, timeframe="1w")),
        ("cluster >= $1M swept, 24h map", ClusterSwept(min_usd=1e6, timeframe="24h")),
        ("funding above 0.01 %", FundingAbove(rate=0.0001)),
        ("open interest +2 % in 60 min", OIChange(percent=2.0, window_minutes=60)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    load_sample_data()
    asset = Asset.objects.get(symbol="BTCUSDT")
    price = Candle.objects.filter(asset=asset).order_by("-open_time").values_list("close", flat=True).first() or 1.0
    print(f"Test on history: {asset.symbol}, the last {args.days} days of the sample, trigger every, cooldown 60 min")
    worst = 0.0
    for label, params in rules(price):
        started, cpu = time.perf_counter(), time.process_time()
        result = rule_history(asset=asset, params=params, days=args.days)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        worst = max(worst, elapsed)
        assert result is not None
        rec = result.record
        interval = rec.touched_interval
        touched = (
            "not followed (no price level)"
            if not rec.resolved and not rec.pending
            else (
                f"touched {rec.touched}/{rec.resolved}"
                + (f" (95 % {interval[0] * 100:.0f}–{interval[1] * 100:.0f} %)" if interval else "")
                + (
                    f", median {fmt_minutes(rec.median_minutes_to_touch)}"
                    if rec.median_minutes_to_touch is not None
                    else ""
                )
                + f", {rec.reversals} reversed"
                + (f", same distance {rec.baseline_rate * 100:.0f} %" if rec.baseline_rate is not None else "")
            )
        )
        print(
            f"  {label:<42} {result.bars:>5} bars {result.maps:>5} maps {len(result.firings):>4} fired  "
            f"{touched}  [horizon {fmt_minutes(result.horizon_minutes)}]  {elapsed:.2f} s ({cpu:.2f} s CPU)"
        )
    verdict = "within" if worst < TARGET_S else "ABOVE"
    print(f"slowest rule: {worst:.2f} s ({verdict} the {TARGET_S:g} s target)")


if __name__ == "__main__":
    main()
