"""Heat-map engine (model v1) against the specification.

Three kinds of evidence: the spec's worked example cell by cell; a slow reference written straight
from the spec (Python loops per bar, per tier, per bin) compared with the engine on random inputs;
and real BTCUSDT candles with simulated open interest for bucketing, warm-up and empty buckets.
No Django, no database.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatmaps.engine import (
    BASE_BAR_MS,
    TIMEFRAMES,
    BaseBars,
    Buckets,
    HeatmapGrid,
    ModelParams,
    Timeframe,
    aggregate,
    carry_open_interest,
    colour_scale,
    compute_all_timeframes,
    compute_heatmap,
    find_clusters,
    liquidation_map,
    price_edges,
    run_model,
)

DATA = Path(__file__).resolve().parent / "data"
M5 = BASE_BAR_MS
HOUR = 3_600_000
DAY = 24 * HOUR

# ---------------------------------------------------------------------------------------------
# Worked example (spec §7)

EXAMPLE: dict[str, Any] = {
    "high": [101, 102, 103, 101, 100, 104],
    "low": [99, 100, 101, 96, 97, 99],
    "close": [100, 101, 102, 97, 99, 103],
    "oi_value": [1000, 1600, 1900, 1500, 1500, 2100],
    "volume": [10] * 6,
    "taker_buy": [5, 8, 4, 5, 5, 2],
}
EXAMPLE_PARAMS = ModelParams(tiers=((10.0, 0.6), (25.0, 0.4)), mmr=0.004, n_bins=12, pad=0.10)
EXAMPLE_EDGES = "86.40 88.73 91.07 93.40 95.73 98.07 100.40 102.73 105.07 107.40 109.73 112.07 114.40"
EXAMPLE_CELLS = [  # (long cells, short cells) after each bar, as printed in the spec
    ({}, {}),
    ({2: 288.00, 4: 192.00}, {7: 48.00, 10: 72.00}),
    ({2: 360.00, 4: 192.00, 5: 48.00}, {7: 48.00, 8: 72.00, 10: 180.00}),
    ({2: 284.21}, {7: 37.89, 8: 56.84, 10: 142.11}),
    ({2: 284.21}, {7: 37.89, 8: 56.84, 10: 142.11}),
    ({2: 356.21, 5: 48.00}, {8: 248.84, 10: 430.11}),
]


def example_bars(start: int = 0) -> Buckets:
    return BaseBars.from_arrays(open_time=start + M5 * np.arange(6), **EXAMPLE)


def cells(row: np.ndarray) -> dict[int, float]:
    return {int(b): round(float(row[b]), 2) for b in np.flatnonzero(row)}


def test_worked_example_edges():
    bars = example_bars()
    edges = price_edges(low=float(bars.low.min()), high=float(bars.high.max()), params=EXAMPLE_PARAMS)
    assert " ".join(f"{e:.2f}" for e in edges) == EXAMPLE_EDGES


def test_worked_example_every_cell_after_every_bar():
    bars = example_bars()
    edges = price_edges(low=96.0, high=104.0, params=EXAMPLE_PARAMS)
    run = run_model(buckets=bars, edges=edges, params=EXAMPLE_PARAMS)
    assert run.long.shape == run.short.shape == (6, 12)
    for t, (want_long, want_short) in enumerate(EXAMPLE_CELLS):
        assert cells(run.long[t]) == want_long, f"bar {t} long"
        assert cells(run.short[t]) == want_short, f"bar {t} short"
    # The sentences under the example, to full precision.
    assert run.long[1, 2] == 600 * 0.8 * 0.6 == 288.0
    assert run.short[1, 7] == pytest.approx(600 * 0.2 * 0.4)
    assert run.long[3, 2] == pytest.approx(360 * (1 - 400 / 1900), rel=1e-15)
    assert run.short[5, 10] == pytest.approx(180 * (1 - 400 / 1900) + 600 * 0.8 * 0.6, rel=1e-15)


def test_worked_example_liquidation_prices_of_bar_one():
    e, m = 101.0, 0.004
    assert e * (1 - 1 / 10) / (1 - m) == pytest.approx(91.27, abs=0.005)
    assert e * (1 + 1 / 25) / (1 + m) == pytest.approx(104.62, abs=0.005)


def test_worked_example_bookkeeping_and_tiers():
    run = run_model(
        buckets=example_bars(), edges=price_edges(low=96, high=104, params=EXAMPLE_PARAMS), params=EXAMPLE_PARAMS
    )
    bal = run.balance
    assert bal.added_long == pytest.approx(480 + 120 + 120)  # bars 1, 2 and 5
    assert bal.swept_long == pytest.approx(240.0)  # bar 3 sweeps bins 4 and 5
    assert bal.closed_long == pytest.approx(360 * 400 / 1900)  # bar 3: what the sweep left, scaled
    assert bal.added_long - bal.swept_long - bal.closed_long == pytest.approx(run.long[-1].sum())
    assert bal.added_short - bal.swept_short - bal.closed_short == pytest.approx(run.short[-1].sum())
    assert bal.dropped_long == bal.dropped_short == 0.0
    # Per tier at the last column: 10x holds the 356.21 long bin, 25x the 48 long bin.
    assert cells(run.tier_long[0]) == {2: 356.21}
    assert cells(run.tier_long[1]) == {5: 48.00}
    np.testing.assert_allclose(run.tier_long.sum(axis=0), run.long[-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.tier_short.sum(axis=0), run.short[-1], rtol=0, atol=1e-12)


EXAMPLE_TF = Timeframe(key="ex", window_ms=6 * M5, bar_ms=M5, columns=6)


def example_grid() -> HeatmapGrid:
    return compute_heatmap(
        bars=example_bars(start=1_700_000_100_000 // M5 * M5), timeframe=EXAMPLE_TF, params=EXAMPLE_PARAMS
    )


def test_worked_example_through_compute_heatmap():
    # Six bars and a six-column window: no warm-up, the grid is built from all six bars.
    grid = example_grid()
    assert " ".join(f"{e:.2f}" for e in grid.edges) == EXAMPLE_EDGES
    for t, (want_long, want_short) in enumerate(EXAMPLE_CELLS):
        assert cells(grid.long[t]) == want_long
        assert cells(grid.short[t]) == want_short
    assert grid.close.tolist() == EXAMPLE["close"]
    assert grid.current_price == 103.0


# ---------------------------------------------------------------------------------------------
# Derived views on the worked example


def test_liquidation_map_cumulates_away_from_price():
    lm = liquidation_map(example_grid())
    assert lm.price == 103.0
    assert [round(x, 2) for x in lm.cum_long] == [404.21] * 3 + [48.0] * 3 + [0.0] * 6
    assert [round(x, 2) for x in lm.cum_short] == [0.0] * 8 + [248.84] * 2 + [678.95] * 2
    assert lm.total_long == pytest.approx(404.2105263157895)
    assert lm.total_short == pytest.approx(678.9473684210526)
    assert lm.leverages == (10.0, 25.0)
    assert lm.tier_long.shape == (2, 12)


def test_clusters_ranked_by_usd_with_side_and_distance():
    clusters = find_clusters(example_grid())
    assert [(c.side, round(c.usd, 2)) for c in clusters] == [
        ("short", 430.11),
        ("long", 356.21),
        ("short", 248.84),
        ("long", 48.0),
    ]
    top = clusters[0]
    assert top.peak_price == pytest.approx(110.9)
    assert (top.price_low, top.price_high) == pytest.approx((109.7333333, 112.0666667))
    assert top.distance_pct == pytest.approx((110.9 - 103) / 103 * 100)
    assert clusters[1].distance_pct < 0
    assert len(find_clusters(example_grid(), limit=2)) == 2


def test_clusters_merge_adjacent_bins_and_split_at_price():
    grid = example_grid()
    long = grid.long.copy()
    short = grid.short.copy()
    long[-1, :] = 0
    short[-1, :] = 0
    long[-1, 1:4] = [1.0, 5.0, 2.0]  # one long zone over bins 1-3, peak at bin 2
    long[-1, 6] = 3.0  # centre 101.57 < P = 103: long
    short[-1, 7] = 4.0  # adjacent to bin 6 but above P: a separate short zone
    g = replace(grid, long=long, short=short)
    clusters = find_clusters(g)
    assert [(c.side, c.usd) for c in clusters] == [("long", 8.0), ("short", 4.0), ("long", 3.0)]
    assert clusters[0].peak_price == pytest.approx(g.prices[2])
    assert clusters[0].price_low == pytest.approx(g.edges[1])
    assert clusters[0].price_high == pytest.approx(g.edges[4])


def test_colour_scale_percentile_and_pin():
    grid = example_grid()
    total = grid.long + grid.short
    assert colour_scale(grid).full_usd == pytest.approx(np.percentile(total[total > 0], 99))
    assert colour_scale(grid, view="long").full_usd == pytest.approx(np.percentile(grid.long[grid.long > 0], 99))
    pinned = colour_scale(grid, pinned_usd=1e6)
    assert (pinned.full_usd, pinned.pinned) == (1e6, True)
    with pytest.raises(ValueError):
        colour_scale(grid, pinned_usd=0)
    empty = replace(grid, long=np.zeros_like(grid.long), short=np.zeros_like(grid.short))
    assert colour_scale(empty).full_usd == 0.0


def test_current_price_falls_back_to_last_known_close():
    grid = example_grid()
    close = grid.close.copy()
    close[-1] = np.nan
    assert replace(grid, close=close).current_price == 99.0


# ---------------------------------------------------------------------------------------------
# Parameters, timeframes, input validation


def test_timeframes_table():
    table = {k: (tf.window_ms, tf.bar_ms, tf.columns) for k, tf in TIMEFRAMES.items()}
    assert table == {
        "12h": (12 * HOUR, 5 * 60_000, 144),
        "24h": (DAY, 5 * 60_000, 288),
        "3d": (3 * DAY, 15 * 60_000, 288),
        "1w": (7 * DAY, 30 * 60_000, 336),
        "2w": (14 * DAY, HOUR, 336),
        "1m": (30 * DAY, 2 * HOUR, 360),
        "3m": (90 * DAY, 6 * HOUR, 360),
        "6m": (180 * DAY, 12 * HOUR, 360),
        "1y": (365 * DAY, DAY, 365),
    }


def test_default_params_and_tier_parsing():
    params = ModelParams().validate()
    assert params.tiers == ModelParams.parse_tiers("5:0.10,10:0.25,25:0.30,50:0.20,100:0.15")
    assert ModelParams.parse_tiers(" 5x:0.5 , 10X:0.5 ") == ((5.0, 0.5), (10.0, 0.5))
    assert (params.mmr, params.n_bins, params.pad) == (0.004, 400, 0.10)
    assert ModelParams(tiers=ModelParams.parse_tiers(params.tiers_text())) == params


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("5:0.5,10:0.4", {}, "sum to 1"),
        ("1:1", {}, "above 1"),
        ("5:0.5,5:0.5", {}, "twice"),
        ("5:1.5,10:-0.5", {}, "between 0 and 1"),
        ("5:1", {"mmr": 0.5}, "maintenance margin"),
        ("300:1", {}, "not possible"),
        ("5:1", {"n_bins": 5}, "n_bins"),
        ("5:1", {"n_bins": 2001}, "n_bins"),
        ("5:1", {"pad": 1.0}, "pad"),
        ("5:1", {"pad": -0.1}, "pad"),
    ],
)
def test_params_validation_messages(text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelParams(tiers=ModelParams.parse_tiers(text), **kwargs).validate()


@pytest.mark.parametrize("text", ["", "5", "five:1", "5:x"])
def test_tier_parse_errors(text):
    with pytest.raises(ValueError):
        ModelParams.parse_tiers(text)


def test_base_bars_validation():
    ok: dict[str, Any] = {"high": [2.0, 2.0], "low": [1.0, 1.0], "close": [1.5, 1.5]}
    BaseBars.from_arrays(open_time=[0, M5], **ok)
    with pytest.raises(ValueError, match="multiples"):
        BaseBars.from_arrays(open_time=[0, M5 + 1], **ok)
    with pytest.raises(ValueError, match="increasing"):
        BaseBars.from_arrays(open_time=[M5, M5], **ok)
    with pytest.raises(ValueError, match="finite"):
        BaseBars.from_arrays(open_time=[0, M5], high=[2.0, np.nan], low=[1.0, 1.0], close=[1.5, 1.5])
    with pytest.raises(ValueError, match="low <= high"):
        BaseBars.from_arrays(open_time=[0, M5], high=[2.0, 0.5], low=[1.0, 1.0], close=[1.5, 1.5])
    with pytest.raises(ValueError, match="same length"):
        Buckets(
            open_time=np.array([0]),
            high=np.ones(2),
            low=np.ones(1),
            close=np.ones(1),
            volume=np.ones(1),
            taker_buy=np.ones(1),
            oi_value=np.ones(1),
        )
    with pytest.raises(ValueError, match="300000"):
        BaseBars.from_arrays(open_time=[0], high=[1], low=[1], close=[1], bar_ms=900_000)
    with pytest.raises(ValueError, match="no bars"):
        compute_heatmap(bars=BaseBars.from_arrays(open_time=[], high=[], low=[], close=[]), timeframe="12h")
    with pytest.raises(ValueError, match="unknown timeframe"):
        compute_heatmap(bars=example_bars(), timeframe="5y")


def test_missing_volume_means_even_split():
    bars = example_bars()
    no_split = replace(bars, taker_buy=np.full(6, np.nan))
    zero_volume = replace(bars, volume=np.zeros(6))
    even = replace(bars, taker_buy=bars.volume / 2)
    edges = price_edges(low=96, high=104, params=EXAMPLE_PARAMS)
    want = run_model(buckets=even, edges=edges, params=EXAMPLE_PARAMS)
    for variant in (no_split, zero_volume):
        got = run_model(buckets=variant, edges=edges, params=EXAMPLE_PARAMS)
        np.testing.assert_array_equal(got.long, want.long)
        np.testing.assert_array_equal(got.short, want.short)


def test_sweep_includes_a_centre_exactly_at_the_low_or_high():
    # Centres 91, 93, ..., 109: a bar whose low is exactly 93 sweeps the long at 93 (spec:
    # centre >= low), and likewise a high exactly at a short's centre (centre <= high).
    edges = np.arange(90.0, 111.0, 2.0)
    params = ModelParams(tiers=((10.0, 1.0),), mmr=0.0, n_bins=10)
    e = 93 / 0.9  # 10x long lands at 93.0 (bin 1), 10x short at e * 1.1 = 113.67: off-grid
    bars = BaseBars.from_arrays(
        open_time=M5 * np.arange(4),
        high=[e, e, 100.0, 107.0],
        low=[e, e, 93.0 + 1e-9, 93.0],
        close=[e, e, 95.0, 100.0],
        oi_value=[100.0, 200.0, 200.0, 200.0],
    )
    run = run_model(buckets=bars, edges=edges, params=params)
    assert run.long[1, 1] == pytest.approx(50.0)
    assert run.long[2, 1] == pytest.approx(50.0)  # low just above the centre: survives
    assert run.long[3, 1] == 0.0  # low exactly at the centre: swept
    assert run.balance.swept_long == pytest.approx(50.0)
    # On a grid of centres 101, ..., 119 the same flow's short lands at e * 1.1 = 113.67: bin 6,
    # centre 113.
    shorts = replace(bars, high=np.array([e, e, 113.0 - 1e-9, 113.0]), low=np.array([e, e, 99.0, 99.0]))
    run = run_model(buckets=shorts, edges=np.arange(100.0, 121.0, 2.0), params=params)
    assert run.short[2, 6] == pytest.approx(50.0)
    assert run.short[3, 6] == 0.0


def test_unknown_oi_before_the_first_known_value_means_no_flow():
    lead: dict[str, Any] = {
        "high": [101, 101],
        "low": [99, 99],
        "close": [100, 100],
        "volume": [10, 10],
        "taker_buy": [5, 5],
    }
    fields = {k: lead.get(k, [0, 0]) + v for k, v in EXAMPLE.items()}
    fields["oi_value"] = [np.nan, np.nan, *EXAMPLE["oi_value"]]
    bars = BaseBars.from_arrays(open_time=M5 * np.arange(8), **fields)
    run = run_model(buckets=bars, edges=price_edges(low=96, high=104, params=EXAMPLE_PARAMS), params=EXAMPLE_PARAMS)
    assert not run.long[:3].any() and not run.short[:3].any()
    for t, (want_long, want_short) in enumerate(EXAMPLE_CELLS):
        assert cells(run.long[t + 2]) == want_long
        assert cells(run.short[t + 2]) == want_short
    assert math.isfinite(run.balance.added_long) and math.isfinite(run.balance.dropped_short)


def test_prices_outside_grid_are_dropped():
    bars = example_bars()
    narrow = np.linspace(95.0, 100.0, 11)  # 10x longs (~91) and every short (>103) fall outside
    run = run_model(buckets=bars, edges=narrow, params=EXAMPLE_PARAMS)
    assert run.short.sum() == 0.0
    assert run.balance.added_short == 0.0
    assert run.balance.dropped_short == pytest.approx(780.0)
    assert run.balance.dropped_long == pytest.approx(288 + 72 + 72)  # the 10x longs of bars 1, 2, 5


# ---------------------------------------------------------------------------------------------
# Reference implementation, written straight from the spec with Python loops


@dataclass
class RefBar:
    open_time: int
    high: float
    low: float
    close: float
    volume: float
    taker_buy: float
    oi_value: float


@dataclass
class RefResult:
    times: list[int]
    close: list[float]
    edges: list[float]
    long: list[list[float]]
    short: list[list[float]]
    added: tuple[float, float]
    swept: tuple[float, float]
    closed: tuple[float, float]


def reference_heatmap(base: list[RefBar], tf: Timeframe, params: ModelParams) -> RefResult:
    # Missing OI: carry the last known value (the engine's documented rule).
    carried: list[RefBar] = []
    last_oi = math.nan
    for b in base:
        if not math.isnan(b.oi_value):
            last_oi = b.oi_value
        carried.append(replace(b, oi_value=last_oi))
    # §2 buckets: floor(open_time / bar) * bar; high max, low min, close last, sums, last OI.
    buckets: dict[int, RefBar] = {}
    for b in carried:
        key = (b.open_time // tf.bar_ms) * tf.bar_ms
        if key not in buckets:
            buckets[key] = replace(b, open_time=key)
        else:
            a = buckets[key]
            a.high = max(a.high, b.high)
            a.low = min(a.low, b.low)
            a.close = b.close
            a.volume = a.volume + b.volume
            a.taker_buy = a.taker_buy + b.taker_buy
            a.oi_value = b.oi_value
    end = (base[-1].open_time // tf.bar_ms) * tf.bar_ms
    w = tf.columns
    window = [end - (w - 1 - i) * tf.bar_ms for i in range(w)]
    warmup = [window[0] - (w - i) * tf.bar_ms for i in range(w)]
    # §3 grid from the window's buckets
    lows = [buckets[t].low for t in window if t in buckets]
    highs = [buckets[t].high for t in window if t in buckets]
    lo = min(lows) * (1 - params.pad)
    hi = max(highs) * (1 + params.pad)
    edges = np.linspace(lo, hi, params.n_bins + 1).tolist()
    n = params.n_bins
    centers = [(edges[k] + edges[k + 1]) / 2 for k in range(n)]

    def bin_of(p: float) -> int | None:
        for k in range(n):
            if edges[k] <= p < edges[k + 1]:
                return k
        return None

    # §4 state and step
    L = [0.0] * n
    S = [0.0] * n
    added = [0.0, 0.0]
    swept = [0.0, 0.0]
    closed = [0.0, 0.0]
    prev: RefBar | None = None
    out_long: list[list[float]] = []
    out_short: list[list[float]] = []
    for slot in warmup + window:
        bar = buckets.get(slot)
        if bar is not None:
            if prev is not None:
                for k in range(n):
                    if centers[k] >= bar.low:
                        swept[0] += L[k]
                        L[k] = 0.0
                    if centers[k] <= bar.high:
                        swept[1] += S[k]
                        S[k] = 0.0
                d = bar.oi_value - prev.oi_value  # NaN when either is unknown: no flow
                if d < 0 and prev.oi_value > 0:
                    f = min(1.0, -d / prev.oi_value)
                    for k in range(n):
                        closed[0] += L[k] * f
                        closed[1] += S[k] * f
                        L[k] *= 1 - f
                        S[k] *= 1 - f
                elif d > 0:
                    if not math.isnan(bar.volume) and not math.isnan(bar.taker_buy) and bar.volume > 0:
                        s = min(1.0, max(0.0, bar.taker_buy / bar.volume))
                    else:
                        s = 0.5
                    e = (bar.high + bar.low + bar.close) / 3
                    for lev, wt in params.tiers:
                        kl = bin_of(e * (1 - 1 / lev) / (1 - params.mmr))
                        if kl is not None:
                            L[kl] += d * s * wt
                            added[0] += d * s * wt
                        ks = bin_of(e * (1 + 1 / lev) / (1 + params.mmr))
                        if ks is not None:
                            S[ks] += d * (1 - s) * wt
                            added[1] += d * (1 - s) * wt
            prev = bar
        if slot >= window[0]:
            out_long.append(list(L))
            out_short.append(list(S))
    return RefResult(
        times=window,
        close=[buckets[t].close if t in buckets else math.nan for t in window],
        edges=edges,
        long=out_long,
        short=out_short,
        added=(added[0], added[1]),
        swept=(swept[0], swept[1]),
        closed=(closed[0], closed[1]),
    )


def to_ref_bars(bars: Buckets) -> list[RefBar]:
    return [
        RefBar(*row)
        for row in zip(
            bars.open_time.tolist(),
            bars.high.tolist(),
            bars.low.tolist(),
            bars.close.tolist(),
            bars.volume.tolist(),
            bars.taker_buy.tolist(),
            bars.oi_value.tolist(),
            strict=True,
        )
    ]


def assert_matches_reference(grid: HeatmapGrid, ref: RefResult) -> None:
    assert grid.times.tolist() == ref.times
    np.testing.assert_array_equal(grid.close, np.array(ref.close))
    np.testing.assert_array_equal(grid.edges, np.array(ref.edges))
    for got, want in ((grid.long, np.array(ref.long)), (grid.short, np.array(ref.short))):
        tol = 1e-9 * max(float(want.max()), float(got.max()), 0.0)
        assert np.abs(got - want).max() <= tol
        # Zero exactly where the reference is zero: swept and never-touched bins.
        np.testing.assert_array_equal(got == 0, want == 0)


def assert_invariants(grid: HeatmapGrid, bars: Buckets) -> None:
    assert (grid.long >= 0).all() and (grid.short >= 0).all()
    bal = grid.balance
    for side, added, swept, closed in (
        (grid.long, bal.added_long, bal.swept_long, bal.closed_long),
        (grid.short, bal.added_short, bal.swept_short, bal.closed_short),
    ):
        assert added - swept - closed == pytest.approx(float(side[-1].sum()), rel=1e-9, abs=1e-9 * max(added, 1.0))
    tol = 1e-9 * max(float(grid.long.max()), float(grid.short.max()), 0.0)
    np.testing.assert_allclose(grid.tier_long.sum(axis=0), grid.long[-1], rtol=0, atol=tol)
    np.testing.assert_allclose(grid.tier_short.sum(axis=0), grid.short[-1], rtol=0, atol=tol)
    # After each bar, bins that bar traded through are empty unless its own new flow landed there.
    buckets = aggregate(carry_open_interest(bars), grid.timeframe.bar_ms)
    index = {t: i for i, t in enumerate(buckets.open_time.tolist())}
    m = grid.params.mmr
    for col, t in enumerate(grid.times.tolist()):
        i = index.get(t)
        if i is None:
            continue
        hi, lo, cl = float(buckets.high[i]), float(buckets.low[i]), float(buckets.close[i])
        e = (hi + lo + cl) / 3
        fresh_long = {float(e * (1 - 1 / lev) / (1 - m)) for lev, _ in grid.params.tiers}
        fresh_short = {float(e * (1 + 1 / lev) / (1 + m)) for lev, _ in grid.params.tiers}
        for b in np.flatnonzero(grid.prices >= lo):
            if not any(grid.edges[b] <= p < grid.edges[b + 1] for p in fresh_long):
                assert grid.long[col, b] == 0.0
        for b in np.flatnonzero(grid.prices <= hi):
            if not any(grid.edges[b] <= p < grid.edges[b + 1] for p in fresh_short):
                assert grid.short[col, b] == 0.0


# ---------------------------------------------------------------------------------------------
# Property tests: engine == reference on random bars, OI paths, gaps and timeframes

SMALL_TIMEFRAMES = [
    Timeframe(key=f"{bar // 60_000}m x {cols}", window_ms=bar * cols, bar_ms=bar, columns=cols)
    for bar, cols in ((M5, 1), (M5, 7), (M5, 30), (3 * M5, 5), (3 * M5, 12), (6 * M5, 9), (HOUR, 4), (2 * HOUR, 3))
] + [TIMEFRAMES["12h"], TIMEFRAMES["3d"], TIMEFRAMES["1y"]]


@st.composite
def tiers_strategy(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    levs = draw(
        st.lists(
            st.sampled_from([2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0, 125.0]),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    raw = [draw(st.integers(1, 10)) for _ in levs]
    weights = [r / sum(raw) for r in raw]
    weights[-1] = 1.0 - math.fsum(weights[:-1])
    return tuple(zip(levs, weights, strict=True))


@st.composite
def params_strategy(draw: st.DrawFn) -> ModelParams:
    return ModelParams(
        tiers=draw(tiers_strategy()),
        mmr=draw(st.sampled_from([0.0, 0.004, 0.0075])),
        n_bins=draw(st.integers(10, 60)),
        pad=draw(st.sampled_from([0.0, 0.02, 0.10, 0.3])),
    ).validate()


@st.composite
def bars_strategy(draw: st.DrawFn) -> Buckets:
    """Random bars from a drawn seed and drawn knobs (gap, NaN and zero-OI rates)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 150))
    gap_rate = draw(st.sampled_from([0.0, 0.05, 0.3]))
    nan_oi_rate = draw(st.sampled_from([0.0, 0.0, 0.1]))
    zero_oi_rate = draw(st.sampled_from([0.0, 0.0, 0.03]))
    split_missing = draw(st.sampled_from([0.0, 0.1, 1.0]))
    start = draw(st.integers(1_600_000_000_000 // M5, 1_600_000_000_000 // M5 + 600)) * M5
    steps = np.where(rng.random(n) < gap_rate, rng.choice([2, 3, 13, 50], n), 1)
    steps[0] = 0
    times = start + M5 * np.cumsum(steps)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.exponential(0.004, n))
    low = np.minimum(open_, close) * (1 - rng.exponential(0.004, n))
    volume = rng.choice([0.0, 1.0, 50.0, 300.0], n) * rng.random(n)
    taker = volume * rng.uniform(-0.1, 1.2, n)  # outside [0, volume] exercises the clamp
    taker[rng.random(n) < split_missing] = np.nan
    volume[rng.random(n) < split_missing / 3] = np.nan
    oi = 1000 * np.exp(np.cumsum(rng.normal(0, 0.08, n)))
    oi[rng.random(n) < zero_oi_rate] = 0.0
    oi[rng.random(n) < nan_oi_rate] = np.nan
    oi[: draw(st.sampled_from([0, 0, 1, 4]))] = np.nan  # OI unknown before some point
    if draw(st.booleans()):
        oi = np.round(oi, -1)  # repeated values: bars with no OI change
    return BaseBars.from_arrays(
        open_time=times, high=high, low=low, close=close, volume=volume, taker_buy=taker, oi_value=oi
    )


PROPERTY = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(bars=bars_strategy(), tf=st.sampled_from(SMALL_TIMEFRAMES), params=params_strategy())
def test_engine_equals_reference(bars, tf, params):
    grid = compute_heatmap(bars=bars, timeframe=tf, params=params)
    ref = reference_heatmap(to_ref_bars(bars), tf, params)
    assert_matches_reference(grid, ref)
    assert grid.balance.added_long == pytest.approx(ref.added[0], rel=1e-9, abs=1e-9)
    assert grid.balance.swept_short == pytest.approx(ref.swept[1], rel=1e-9, abs=1e-9 * max(ref.added[1], 1))
    assert grid.balance.closed_long == pytest.approx(ref.closed[0], rel=1e-9, abs=1e-9 * max(ref.added[0], 1))


@PROPERTY
@given(bars=bars_strategy(), tf=st.sampled_from(SMALL_TIMEFRAMES), params=params_strategy())
def test_engine_invariants(bars, tf, params):
    assert_invariants(compute_heatmap(bars=bars, timeframe=tf, params=params), bars)


@settings(max_examples=25, deadline=None)
@given(bars=bars_strategy(), params=params_strategy())
def test_all_timeframes_equal_one_at_a_time(bars, params):
    tfs = [*SMALL_TIMEFRAMES, *TIMEFRAMES.values()]
    together = compute_all_timeframes(bars=bars, params=params, timeframes=tfs)
    assert list(together) == list(dict.fromkeys(tf.key for tf in tfs))
    for tf in tfs:
        alone = compute_heatmap(bars=bars, timeframe=tf, params=params)
        both = together[tf.key]
        np.testing.assert_array_equal(both.times, alone.times)
        np.testing.assert_array_equal(both.edges, alone.edges)
        np.testing.assert_array_equal(both.long, alone.long)
        np.testing.assert_array_equal(both.short, alone.short)


# ---------------------------------------------------------------------------------------------
# Real candles (Binance BTCUSDT, 2026-01-20..22) with simulated open interest


def _ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() * 1000)


def load_candles(name: str) -> dict[str, Any]:
    with (DATA / name).open() as fh:
        rows = list(csv.DictReader(fh))
    return {
        "open_time": np.array([int(r["open_time_ms"]) for r in rows], dtype=np.int64),
        "high": np.array([float(r["high"]) for r in rows]),
        "low": np.array([float(r["low"]) for r in rows]),
        "close": np.array([float(r["close"]) for r in rows]),
        "volume": np.array([float(r["volume"]) for r in rows]),
    }


def load_real_bars() -> Buckets:
    candles = load_candles("BTCUSDT-5m.csv")
    with (DATA / "BTCUSDT-metrics-5m-SIMULATED.csv").open() as fh:
        # Binance stamps a metrics row at the close of its bar: create_time = open_time + 5 min.
        oi_at = {_ms(r["create_time"]) - M5: float(r["sum_open_interest_value"]) for r in csv.DictReader(fh)}
    oi = np.array([oi_at.get(t, np.nan) for t in candles["open_time"].tolist()])
    return BaseBars.from_arrays(oi_value=oi, **candles)  # no taker-buy column: even split


@pytest.fixture(scope="module")
def real() -> Buckets:
    return load_real_bars()


def test_real_metrics_join_on_bar_close(real):
    assert len(real) == 864
    assert not np.isnan(real.oi_value).any()
    assert real.oi_value[0] == 7852630551.73  # the row stamped 2026-01-20 00:05:00
    assert real.open_time[0] == _ms("2026-01-20 00:00:00")


@pytest.mark.parametrize(("name", "bar_ms"), [("BTCUSDT-15m.csv", 15 * 60_000), ("BTCUSDT-1h.csv", HOUR)])
def test_real_aggregation_equals_exchange_candles(real, name, bar_ms):
    want = load_candles(name)
    got = aggregate(real, bar_ms)
    np.testing.assert_array_equal(got.open_time, want["open_time"])
    np.testing.assert_array_equal(got.high, want["high"])
    np.testing.assert_array_equal(got.low, want["low"])
    np.testing.assert_array_equal(got.close, want["close"])
    np.testing.assert_allclose(got.volume, want["volume"], rtol=1e-12)
    # oi_value is the last base bar's: the snapshot at the bucket's close.
    np.testing.assert_array_equal(got.oi_value, real.oi_value[bar_ms // M5 - 1 :: bar_ms // M5])


def test_real_daily_buckets_start_at_midnight_utc(real):
    days = aggregate(real, DAY)
    assert [datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M") for t in days.open_time.tolist()] == [
        "2026-01-20 00:00",
        "2026-01-21 00:00",
        "2026-01-22 00:00",
    ]
    # A bar opening at 23:55 belongs to its own day, the next one to the next day.
    assert (aggregate(real.slice(287, 289), DAY).open_time == days.open_time[:2]).all()


def test_real_12h_matches_reference(real):
    tf = TIMEFRAMES["12h"]
    params = ModelParams()
    grid = compute_heatmap(bars=real, timeframe=tf, params=params)
    assert_matches_reference(grid, reference_heatmap(to_ref_bars(real), tf, params))
    assert_invariants(grid, real)
    assert grid.long.shape == (144, 400)
    assert grid.long[-1].sum() > 0 and grid.short[-1].sum() > 0


def test_real_window_and_warm_up(real):
    tf = TIMEFRAMES["12h"]
    params = ModelParams()
    grid = compute_heatmap(bars=real, timeframe=tf, params=params)
    end = int(real.open_time[-1])
    assert grid.times[-1] == end and grid.times[0] == end - 143 * M5
    np.testing.assert_array_equal(grid.close, real.close[-144:])
    # The grid is built from the window only; the warm-up only feeds the state.
    lo, hi = real.low[-144:].min(), real.high[-144:].max()
    assert grid.edges[0] == lo * 0.9 and grid.edges[-1] == hi * 1.1
    # Exactly the 288 buckets of warm-up + window are run: bars before them change nothing...
    earlier = real.slice(len(real) - 288)
    np.testing.assert_array_equal(compute_heatmap(bars=earlier, timeframe=tf, params=params).long, grid.long)
    # ...and dropping part of the warm-up changes the result.
    later = real.slice(len(real) - 200)
    assert not np.array_equal(compute_heatmap(bars=later, timeframe=tf, params=params).long, grid.long)
    # Equivalently, the low-level run over those buckets.
    run = run_model(buckets=earlier, edges=grid.edges, params=params, start_ms=int(grid.times[0]), columns=144)
    np.testing.assert_array_equal(run.long, grid.long)


def test_real_3d_without_enough_history(real):
    """3 days of data for a 3-day window: no warm-up, and the first columns come from the data."""
    grid = compute_heatmap(bars=real, timeframe="3d", params=ModelParams())
    assert grid.times[0] == real.open_time[0]  # the data span exactly the window
    assert not np.isnan(grid.close).any()
    assert grid.long[0].sum() == 0 and grid.short[0].sum() == 0  # first bar only sets the OI
    # With a day of data, the window's first two days are empty: zero columns, NaN closes.
    last_day = real.since(int(real.open_time[-1]) - DAY + M5)
    grid = compute_heatmap(bars=last_day, timeframe="3d", params=ModelParams())
    assert np.isnan(grid.close[:192]).all() and not np.isnan(grid.close[192:]).any()
    assert grid.long[:193].sum() == 0 and grid.short[:193].sum() == 0


def test_real_empty_bucket_repeats_previous_column(real):
    tf = TIMEFRAMES["3d"]
    params = ModelParams(n_bins=120)
    # Remove the three base bars of one 15-minute bucket, and a lone 5-minute bar elsewhere.
    gone = np.zeros(len(real), dtype=bool)
    gone[600:603] = True  # 2026-01-22 02:00-02:10, a whole 15m bucket
    gone[700] = True  # inside a bucket that keeps two bars
    kept = np.flatnonzero(~gone)
    holey = BaseBars.from_arrays(
        open_time=real.open_time[kept],
        high=real.high[kept],
        low=real.low[kept],
        close=real.close[kept],
        volume=real.volume[kept],
        oi_value=real.oi_value[kept],
    )
    grid = compute_heatmap(bars=holey, timeframe=tf, params=params)
    col = int((real.open_time[600] - grid.times[0]) // tf.bar_ms)
    assert np.isnan(grid.close[col]) and np.isnan(grid.close).sum() == 1
    np.testing.assert_array_equal(grid.long[col], grid.long[col - 1])
    np.testing.assert_array_equal(grid.short[col], grid.short[col - 1])
    assert_matches_reference(grid, reference_heatmap(to_ref_bars(holey), tf, params))
    assert_invariants(grid, holey)


def test_real_missing_oi_is_carried_forward(real):
    params = ModelParams(n_bins=100)
    unknown = real.oi_value.copy()
    unknown[400:430] = np.nan
    carried = real.oi_value.copy()
    carried[400:430] = real.oi_value[399]
    for tf in ("12h", "24h", "3d"):
        a = compute_heatmap(bars=replace(real, oi_value=unknown), timeframe=tf, params=params)
        b = compute_heatmap(bars=replace(real, oi_value=carried), timeframe=tf, params=params)
        np.testing.assert_array_equal(a.long, b.long)
        np.testing.assert_array_equal(a.short, b.short)


def test_real_all_timeframes(real):
    grids = compute_all_timeframes(bars=real)
    assert list(grids) == list(TIMEFRAMES)
    for key, grid in grids.items():
        tf = TIMEFRAMES[key]
        assert grid.long.shape == grid.short.shape == (tf.columns, 400)
        assert grid.times[-1] == int(real.open_time[-1]) // tf.bar_ms * tf.bar_ms
        assert (np.diff(grid.times) == tf.bar_ms).all()
        assert grid.current_price == real.close[-1]
        assert_invariants(grid, real)
