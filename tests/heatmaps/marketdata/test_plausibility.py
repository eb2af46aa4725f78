"""Candle plausibility on arrays alone: real Binance candles pass, damage does not."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from heatmaps.marketdata.plausibility import FLOOR, Candles, Z, candle_problems, inconsistent, largest_move_ratio
from heatmaps.rows import BASE_BAR_MS

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "heatmaps" / "marketdata" / "sample_data"


def real_candles(symbol: str) -> Candles:
    """The bundled month of real Binance 5m candles."""
    table = np.loadtxt(SAMPLE_DIR / f"{symbol}-5m.csv", delimiter=",", skiprows=1, usecols=(0, 2, 3, 4, 5))
    return Candles.of(table[:, 0].astype(np.int64), table[:, 1], table[:, 2], table[:, 3], table[:, 4])


def scaled(c: Candles, at: slice, factor: float) -> Candles:
    """The candles with every price in `at` multiplied by `factor` (OHLC stays consistent)."""
    arrays = {name: getattr(c, name).copy() for name in ("open", "high", "low", "close")}
    for a in arrays.values():
        a[at] *= factor
    return replace(c, **arrays)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_a_real_month_has_no_problem_and_stays_far_below_the_bound(symbol: str) -> None:
    candles = real_candles(symbol)
    assert len(candles) == 9727
    assert candle_problems(candles) == []
    ratio, at = largest_move_ratio(candles)
    move = abs(math.log(candles.close[at] / candles.close[at - 1]))
    # Measured: BTC's largest bar moves 1.5 % (0.03 of its bound), ETH's 2.5 % (0.05 of its bound).
    assert 0.01 < move < 0.05
    assert 0.0 < ratio < 0.1


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("high", 86_000.0, "high 86000"),  # below the low
        ("open", 99_000.0, "open 99000"),  # above the high
        ("close", 1.0, "close 1"),  # below the low
        ("low", 0.0, "low 0"),
        ("close", -5.0, "close -5"),
        ("open", math.nan, "open nan"),
        ("high", math.inf, "high inf"),
    ],
)
def test_inconsistent_ohlc_is_named_with_its_values(field: str, value: float, named: str) -> None:
    candles = real_candles("BTCUSDT")
    damaged = getattr(candles, field).copy()
    damaged[500] = value
    problems = candle_problems(replace(candles, **{field: damaged}))
    assert [(p.index, p.reason) for p in problems] == [(500, "inconsistent")]
    assert named in problems[0].detail and "2025-12-28" in problems[0].detail
    assert inconsistent(replace(candles, **{field: damaged})).sum() == 1


def test_a_shifted_decimal_point_is_one_jump_and_the_next_candle_is_judged_from_the_last_good_close() -> None:
    candles = scaled(real_candles("ETHUSDT"), slice(4000, 4001), 10.0)
    problems = candle_problems(candles)
    assert [(p.index, p.reason) for p in problems] == [(4000, "jump")]
    p = problems[0]
    assert p.reference_time_ms == int(candles.open_time[3999]) and p.reference_close == candles.close[3999]
    assert f"close {candles.close[4000]:g}" in p.detail and f"from close {candles.close[3999]:g}" in p.detail
    assert "log move +2.30" in p.detail and f"bound ±{FLOOR:.3f}" in p.detail


def test_wicks_are_never_judged_by_volatility_and_a_real_crash_passes() -> None:
    candles = real_candles("BTCUSDT")
    low, high = candles.low.copy(), candles.high.copy()
    low[300], high[301] = low[300] * 0.5, high[301] * 1.6  # a liquidation cascade's wicks
    assert candle_problems(replace(candles, low=low, high=high)) == []
    # A crash that stays: every price from bar 6000 on 35 % lower, the crash bar's own open above it.
    crashed = scaled(candles, slice(6000, None), 0.65)
    opens = crashed.open.copy()
    opens[6000] = candles.open[6000]
    highs = crashed.high.copy()
    highs[6000] = candles.high[6000]
    assert candle_problems(replace(crashed, open=opens, high=highs)) == []


def test_another_assets_prices_after_the_stored_ones_are_all_refused_from_the_stored_close() -> None:
    btc, eth = real_candles("BTCUSDT"), real_candles("ETHUSDT")
    before = Candles.of(btc.open_time[:288], btc.open[:288], btc.high[:288], btc.low[:288], btc.close[:288])
    after = Candles.of(
        eth.open_time[288:576], eth.open[288:576], eth.high[288:576], eth.low[288:576], eth.close[288:576]
    )
    problems = candle_problems(after, before=before)
    assert [p.index for p in problems] == list(range(288))
    assert all(p.reason == "jump" for p in problems)
    assert {p.reference_close for p in problems} == {float(btc.close[287])}
    assert candle_problems(after) == []  # on their own, ETH's candles are fine


def test_the_bound_widens_with_volatility_and_the_bars_between() -> None:
    rng = np.random.default_rng(7)
    n = 600
    times = 1_767_225_600_000 + BASE_BAR_MS * np.arange(n, dtype=np.int64)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))  # 1 % a bar: Z × σ ≈ 0.4, under the floor
    opens = np.concatenate([[closes[0]], closes[:-1]])
    flat = Candles.of(times, opens, np.maximum(opens, closes), np.minimum(opens, closes), closes)
    assert candle_problems(flat) == []
    jump = math.exp(0.8)  # above the floor, far below Z × σ × √288

    def with_jump(gap_bars: int) -> Candles:
        t = times.copy()
        t[400:] += (gap_bars - 1) * BASE_BAR_MS
        c = scaled(flat, slice(400, None), jump)
        return replace(c, open_time=t)

    # Right after the last close the move is refused; the level is accepted once enough bars have
    # passed for volatility to carry the price that far (the bound grows with √ of the bars between).
    assert candle_problems(with_jump(1))[0].index == 400
    assert candle_problems(with_jump(288)) == []
    assert Z * 0.01 * math.sqrt(288) > 0.8 > FLOOR


def test_open_far_from_the_previous_close_is_a_jump() -> None:
    candles = real_candles("BTCUSDT")
    opens, highs = candles.open.copy(), candles.high.copy()
    opens[700] = highs[700] = candles.close[699] * 2.5
    problems = candle_problems(replace(candles, open=opens, high=highs))
    assert [(p.index, p.reason) for p in problems] == [(700, "jump")]
    assert f"(open {opens[700]:g}) at " in problems[0].detail and "(open +0.916)" in problems[0].detail
