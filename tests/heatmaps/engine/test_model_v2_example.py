"""Model v2's worked example (docs/model.md, "Model v2", "A worked example of v2"), cell by cell.

The expected numbers are worked out here by hand from the text of the example — bins from the edge
formula, each position's USD from the tier's share, its decay factors and the close — not read from
the engine; then the engine must agree to round-off, and the table printed in the docs (two decimals)
must be what these numbers round to.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from heatmaps.engine import (
    BASE_BAR_MS,
    BaseBars,
    Buckets,
    HeatmapGrid,
    ModelParams,
    ModelV2Params,
    TierV2,
    Timeframe,
    compute_heatmap,
    compute_heatmap_v2,
    find_clusters,
    liquidation_map,
)

M5 = BASE_BAR_MS
START = 1_700_000_100_000 // M5 * M5
NAN = math.nan

EXAMPLE: dict[str, list[float]] = {
    "high": [101, 102, 103, 101, 100, 104],
    "low": [99, 100, 101, 96, 97, 99],
    "close": [100, 101, 102, 97, 99, 103],
    "oi_value": [1000, 1600, 1900, 1500, 1500, 2100],
    "volume": [10] * 6,
    "taker_buy": [5, 8, 4, 5, 5, 2],
    "mark_high": [101, 102, 102.5, 100.5, NAN, 103.5],
    "mark_low": [99, 100, 101, 97.5, NAN, 99],
}
PARAMS = ModelV2Params(
    tiers=(TierV2(10.0, 0.45, 2.0), TierV2(25.0, 0.30, 1.0), TierV2(100.0, 0.25, 1.0)),
    mmr=0.005,
    max_leverage=50.0,
    n_bins=50,
    pad=0.10,
)
TF = Timeframe(key="ex", window_ms=6 * M5, bar_ms=M5, columns=6)

# The table printed in the docs: non-zero cells after each bar (bin: USD), two decimals.
DOC_CELLS = [
    ({}, {}),
    ({8: 288.00, 19: 192.00}, {32: 48.00, 43: 72.00}),
    ({8: 279.80, 10: 72.00, 19: 181.22, 21: 48.00}, {32: 45.31, 34: 72.00, 43: 69.95, 45: 108.00}),
    ({8: 214.61, 10: 55.22, 19: 135.04}, {32: 33.76, 34: 53.65, 43: 53.65, 45: 82.84}),
    ({8: 208.50, 10: 53.65}, {32: 31.87, 34: 50.64, 43: 52.12, 45: 80.48}),
    ({8: 202.56, 10: 124.12, 21: 48.00}, {32: 30.08, 34: 239.80, 43: 50.64, 45: 366.19}),
]


def example_bars() -> Buckets:
    e = EXAMPLE
    return BaseBars.from_arrays(
        open_time=START + M5 * np.arange(6),
        high=e["high"],
        low=e["low"],
        close=e["close"],
        oi_value=e["oi_value"],
        volume=e["volume"],
        taker_buy=e["taker_buy"],
        mark_high=e["mark_high"],
        mark_low=e["mark_low"],
    )


def example_grid() -> HeatmapGrid:
    return compute_heatmap_v2(bars=example_bars(), timeframe=TF, params=PARAMS)


def by_hand() -> list[tuple[dict[int, float], dict[int, float]]]:
    """The example's steps written out: the state per bin after each bar, to full precision."""
    lo, hi, n = 96 * 0.9, 104 * 1.1, 50
    width = (hi - lo) / n  # 0.56

    def bin_of(p: float) -> int:
        return math.floor((p - lo) / width)  # no price of the example is near an edge

    m = 0.005
    w10, w25 = 0.45 / 0.75, 0.30 / 0.75  # 100x dropped by the 50x cap; 0.6 and 0.4
    d10, d25 = 0.5 ** (5 / 60 / 2), 0.5 ** (5 / 60 / 1)  # five minutes of a 2 h and a 1 h half-life

    def long_bin(e: float, lev: float) -> int:
        return bin_of(e * (1 - 1 / lev) / (1 - m))

    def short_bin(e: float, lev: float) -> int:
        return bin_of(e * (1 + 1 / lev) / (1 + m))

    # Bar 1: +600, 80 % long, entry 101.
    assert (long_bin(101, 10), long_bin(101, 25), short_bin(101, 10), short_bin(101, 25)) == (8, 19, 43, 32)
    # Bar 2: +300, 40 % long, entry 102.
    assert (long_bin(102, 10), long_bin(102, 25), short_bin(102, 10), short_bin(102, 25)) == (10, 21, 45, 34)
    keep3 = 1500 / 1900  # bar 3: open interest -400
    steps: list[tuple[dict[int, float], dict[int, float]]] = [({}, {})]
    b1 = ({8: 600 * 0.8 * w10, 19: 600 * 0.8 * w25}, {43: 600 * 0.2 * w10, 32: 600 * 0.2 * w25})
    steps.append(b1)
    # Bar 2: nothing swept (mark 101-102.5); five minutes of decay; then the new positions.
    b2 = (
        {8: 288 * d10, 19: 192 * d25, 10: 300 * 0.4 * w10, 21: 300 * 0.4 * w25},
        {43: 72 * d10, 32: 48 * d25, 45: 300 * 0.6 * w10, 34: 300 * 0.6 * w25},
    )
    steps.append(b2)
    # Bar 3: the mark low 97.5 sweeps bin 21 (centre 98.44), not bin 19 (centre 97.32); then the
    # close of 400/1900 and the decay together.
    b3 = (
        {8: 288 * d10**2 * keep3, 10: 72 * d10 * keep3, 19: 192 * d25**2 * keep3},
        {43: 72 * d10**2 * keep3, 45: 108 * d10 * keep3, 32: 48 * d25**2 * keep3, 34: 72 * d25 * keep3},
    )
    steps.append(b3)
    # Bar 4: no mark candle, so its last low 97 sweeps bin 19; open interest unchanged; decay.
    b4 = (
        {8: 288 * d10**3 * keep3, 10: 72 * d10**2 * keep3},
        {43: 72 * d10**3 * keep3, 45: 108 * d10**2 * keep3, 32: 48 * d25**3 * keep3, 34: 72 * d25**2 * keep3},
    )
    steps.append(b4)
    # Bar 5: the mark high 103.5 reaches no short (bin 32's centre is 104.60); decay; then +600 at
    # 20 % long, entry 102: the bins of bar 2.
    b5 = (
        {8: 288 * d10**4 * keep3, 10: 72 * d10**3 * keep3 + 600 * 0.2 * w10, 21: 600 * 0.2 * w25},
        {
            43: 72 * d10**4 * keep3,
            45: 108 * d10**3 * keep3 + 600 * 0.8 * w10,
            32: 48 * d25**4 * keep3,
            34: 72 * d25**3 * keep3 + 600 * 0.8 * w25,
        },
    )
    steps.append(b5)
    return steps


def cells(row: np.ndarray) -> dict[int, float]:
    return {int(b): float(row[b]) for b in np.flatnonzero(row)}


def test_the_docs_table_is_the_hand_computation_rounded() -> None:
    for (want_long, want_short), (hand_long, hand_short) in zip(DOC_CELLS, by_hand(), strict=True):
        assert want_long == {b: round(v, 2) for b, v in hand_long.items()}
        assert want_short == {b: round(v, 2) for b, v in hand_short.items()}


def test_every_cell_after_every_bar() -> None:
    grid = example_grid()
    assert grid.long.shape == grid.short.shape == (6, 50)
    for t, (hand_long, hand_short) in enumerate(by_hand()):
        got_long, got_short = cells(grid.long[t]), cells(grid.short[t])
        assert got_long.keys() == hand_long.keys(), f"bar {t} long bins"
        assert got_short.keys() == hand_short.keys(), f"bar {t} short bins"
        for b, usd in hand_long.items():
            assert got_long[b] == pytest.approx(usd, rel=1e-12), f"bar {t} long bin {b}"
        for b, usd in hand_short.items():
            assert got_short[b] == pytest.approx(usd, rel=1e-12), f"bar {t} short bin {b}"


def test_grid_tiers_books_and_labels() -> None:
    grid = example_grid()
    assert grid.model_version == "v2" and grid.sweep_price == "mixed"  # bar 4 has no mark candle
    assert grid.edges[0] == pytest.approx(86.4) and grid.edges[-1] == pytest.approx(114.4)
    assert grid.edges[1] - grid.edges[0] == pytest.approx(0.56)
    assert grid.params.tiers == ((10.0, pytest.approx(0.6)), (25.0, pytest.approx(0.4)))
    assert grid.params.mmr == 0.005
    d10, d25, keep3 = 0.5 ** (1 / 24), 0.5 ** (1 / 12), 15 / 19
    # Per tier at the end: 10x holds bins 8 and 10 of the longs, 25x bin 21.
    assert cells(grid.tier_long[0]).keys() == {8, 10} and cells(grid.tier_long[1]).keys() == {21}
    assert grid.tier_long[1, 21] == pytest.approx(48.0, rel=1e-12)
    bal = grid.balance
    assert bal.added_long == pytest.approx(480 + 120 + 120, rel=1e-12)
    assert bal.added_short == pytest.approx(120 + 180 + 480, rel=1e-12)
    # Swept: bin 21 on bar 3 (48 USD, placed after bar 2's decay), bin 19 on bar 4.
    assert bal.swept_long == pytest.approx(48 + 192 * d25**2 * keep3, rel=1e-12)
    assert bal.swept_short == 0.0
    # Closed on bar 3: 4/19 of what each tier held after the sweep, before that bar's decay.
    held_long = 288 * d10 + 72 + 192 * d25
    assert bal.closed_long == pytest.approx(held_long * 4 / 19, rel=1e-12)
    assert bal.added_long - bal.swept_long - bal.closed_long - bal.decayed_long == pytest.approx(
        float(grid.long[-1].sum()), rel=1e-12
    )
    assert bal.decayed_long > 0 and bal.decayed_short > 0


def test_what_v1_would_have_done_with_the_same_tiers() -> None:
    # Model v1 sweeps on the last price: bar 3's low of 96 takes the 25x long bin 19 already.
    v1 = compute_heatmap(
        bars=example_bars(),
        timeframe=TF,
        params=ModelParams(tiers=((10.0, 0.6), (25.0, 0.4)), mmr=0.005, n_bins=50, pad=0.10),
    )
    assert v1.long[3, 19] == 0.0
    assert example_grid().long[3, 19] > 0


def test_the_views_read_the_v2_grid() -> None:
    grid = example_grid()
    lmap = liquidation_map(grid)
    assert lmap.price == 103.0 and lmap.leverages == (10.0, 25.0)
    want = by_hand()[-1]
    assert lmap.total_long == pytest.approx(sum(want[0].values()), rel=1e-12)
    assert lmap.total_short == pytest.approx(sum(want[1].values()), rel=1e-12)
    top = find_clusters(grid)[0]
    assert top.side == "short" and top.usd == pytest.approx(want[1][45], rel=1e-12)
