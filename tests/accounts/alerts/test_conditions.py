"""Price, zone, funding and open-interest conditions on the real BTCUSDT sample; boundaries as
documented in accounts.alerts.conditions; each batch function against a plain per-rule loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.alerts import conditions as c
from accounts.alerts.market import BAR_MS, Bars, Series
from accounts.alerts.rules import (
    Direction,
    FundingAbove,
    FundingBelow,
    OIChange,
    PriceCrosses,
    PriceEntersZone,
    RuleSpec,
)
from accounts.alerts.triggers import evaluate_rules
from tests.accounts.alerts.helpers import fires, rule, state_at
from tests.accounts.alerts.sample import btc_bars, btc_funding, btc_open_interest

BARS = btc_bars()
CLOSE = BARS.close


def first_move(up: bool, min_step: float = 10.0) -> int:
    """Index of the first bar whose close moved by more than ``min_step`` USD in that direction."""
    step = np.diff(CLOSE) if up else -np.diff(CLOSE)
    return int(np.flatnonzero(step[1:] > min_step)[0]) + 2  # not the first bar: it has no previous close


# --- price_crosses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("up", [True, False])
def test_price_crosses_a_level_between_two_closes(up: bool) -> None:
    i = first_move(up)
    level = (CLOSE[i - 1] + CLOSE[i]) / 2
    state = state_at(i)
    along: Direction = "up" if up else "down"
    against: Direction = "down" if up else "up"
    [firing] = fires(PriceCrosses(price=level, direction=along), state)
    assert firing.values == {"price": level, "direction": along, "previous_close": CLOSE[i - 1], "close": CLOSE[i]}
    assert firing.bar_ms == BARS.times_ms[i]
    assert fires(PriceCrosses(price=level, direction="either"), state)
    assert not fires(PriceCrosses(price=level, direction=against), state)
    assert not fires(PriceCrosses(price=level, direction=along), state_at(i - 1))


@pytest.mark.parametrize("up", [True, False])
def test_a_close_exactly_at_the_level_is_the_crossing_and_the_next_bar_does_not_cross_again(up: bool) -> None:
    step = np.diff(CLOSE) if up else -np.diff(CLOSE)
    # A bar reaching the level, followed by one moving further the same way.
    i = int(np.flatnonzero((step[:-1] > 0) & (step[1:] > 0))[0]) + 1
    level = CLOSE[i]
    direction: Direction = "up" if up else "down"
    assert fires(PriceCrosses(price=level, direction=direction), state_at(i))
    assert not fires(PriceCrosses(price=level, direction="either"), state_at(i + 1))
    # Starting exactly at the level is not a crossing even when the bar moves away from it.
    assert not fires(PriceCrosses(price=CLOSE[i - 1], direction="either"), state_at(i))


@pytest.mark.parametrize("up", [True, False])
def test_a_gap_bar_that_jumps_over_the_level_crosses_it(up: bool) -> None:
    # Real gaps in the sample: a bar trading entirely above (or below) the previous bar's range.
    gaps = BARS.low[1:] > BARS.high[:-1] if up else BARS.high[1:] < BARS.low[:-1]
    i = int(np.flatnonzero(gaps)[0]) + 1
    # A level in the gap: never traded, neither by the previous bar nor by this one.
    level = (BARS.high[i - 1] + BARS.low[i]) / 2 if up else (BARS.low[i - 1] + BARS.high[i]) / 2
    assert fires(PriceCrosses(price=level, direction="up" if up else "down"), state_at(i))


def test_price_crosses_batch_equals_a_loop_over_the_whole_history() -> None:
    level = float(np.median(CLOSE))
    for direction in ("up", "down", "either"):
        fired, _ = c.price_crosses(CLOSE[:-1], CLOSE[1:], level, c.DIRECTION_BITS[direction])
        expected = sum(
            (direction != "down" and a < level <= b) or (direction != "up" and a > level >= b)
            for a, b in zip(CLOSE[:-1].tolist(), CLOSE[1:].tolist(), strict=True)
        )
        assert int(fired.sum()) == expected > 0


finite = st.floats(min_value=1.0, max_value=200_000.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    prev=finite,
    close=finite,
    rules=st.lists(st.tuples(finite, st.sampled_from(["up", "down", "either"])), min_size=1, max_size=30),
)
def test_price_crosses_batch_equals_per_rule(prev: float, close: float, rules: list[tuple[float, str]]) -> None:
    levels = np.array([lv for lv, _ in rules])
    bits = np.array([c.DIRECTION_BITS[d] for _, d in rules])
    fired, _ = c.price_crosses(prev, close, levels, bits)
    expected = [(d != "down" and prev < lv <= close) or (d != "up" and prev > lv >= close) for lv, d in rules]
    assert fired.tolist() == expected


# --- price_enters_zone -----------------------------------------------------------------------------


def test_price_enters_a_zone_from_below() -> None:
    # The first bar reaching above a previous bar's high: a zone starting between the two highs.
    i = int(np.flatnonzero(BARS.high[1:] > BARS.high[:-1] + 20)[0]) + 1
    low = (BARS.high[i - 1] + BARS.high[i]) / 2
    zone = PriceEntersZone(low=low, high=low + 500)
    [firing] = fires(zone, state_at(i))
    assert firing.values["from"] == "below"
    assert firing.values["bar_high"] == BARS.high[i]
    # The edge exactly at the bar's high is touched, so the bar enters ...
    assert fires(PriceEntersZone(low=BARS.high[i], high=BARS.high[i] + 500), state_at(i))
    # ... and a zone whose edge the previous bar touched was already entered.
    assert not fires(PriceEntersZone(low=BARS.high[i - 1], high=BARS.high[i - 1] + 500), state_at(i))


def test_price_enters_a_zone_from_above() -> None:
    i = int(np.flatnonzero(BARS.low[1:] < BARS.low[:-1] - 20)[0]) + 1
    high = (BARS.low[i - 1] + BARS.low[i]) / 2
    [firing] = fires(PriceEntersZone(low=high - 500, high=high), state_at(i))
    assert firing.values["from"] == "above"


def test_no_entry_while_already_inside_the_zone() -> None:
    i = first_move(up=True)
    # The zone covers the previous bar's whole range: the price was inside all along.
    zone = PriceEntersZone(low=min(BARS.low[i - 1 : i + 1]) - 1, high=max(BARS.high[i - 1 : i + 1]) + 1)
    assert not fires(zone, state_at(i))
    # Partly inside is inside too.
    assert not fires(PriceEntersZone(low=BARS.low[i - 1] + 0.01, high=BARS.high[i] + 100), state_at(i))


def test_a_gap_over_the_whole_zone_enters_it() -> None:
    i = int(np.flatnonzero(BARS.low[1:] > BARS.high[:-1])[0]) + 1  # a real gap up
    gap_low, gap_high = BARS.high[i - 1], BARS.low[i]
    narrow = PriceEntersZone(low=gap_low + (gap_high - gap_low) / 3, high=gap_high - (gap_high - gap_low) / 3)
    # Neither bar's range touches the zone, but the move from the previous close crossed it.
    assert not (BARS.low[i] <= narrow.high and BARS.high[i] >= narrow.low)
    assert [f.values["from"] for f in fires(narrow, state_at(i))] == ["below"]


zone_price = st.floats(min_value=100.0, max_value=200.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    prev=st.tuples(zone_price, zone_price, zone_price),
    bar=st.tuples(zone_price, zone_price),
    zones=st.lists(st.tuples(zone_price, zone_price), min_size=1, max_size=20),
)
def test_price_enters_zone_batch_equals_per_rule(
    prev: tuple[float, float, float], bar: tuple[float, float], zones: list[tuple[float, float]]
) -> None:
    prev_low, prev_close, prev_high = sorted(prev)
    low, high = sorted(bar)
    zones = [(min(z), max(z)) for z in zones]
    move_low, move_high = c.bar_move(prev_close, low, high)
    fired, from_below = c.price_enters_zone(
        prev_low, prev_high, move_low, move_high, [z[0] for z in zones], [z[1] for z in zones]
    )
    for k, (z_low, z_high) in enumerate(zones):
        outside = prev_high < z_low or prev_low > z_high
        traded = [low, high, prev_close]
        reaches = min(traded) <= z_high and max(traded) >= z_low
        assert fired[k] == (outside and reaches)
        assert from_below[k] == (outside and reaches and prev_high < z_low)


# --- funding_above / funding_below -----------------------------------------------------------------


def funding_state(k: int) -> tuple[float, float]:
    rates = btc_funding().values
    return float(rates[k - 1]), float(rates[k])


def test_funding_above_and_below_on_the_sample_settlements() -> None:
    rates = btc_funding().values
    k = int(np.flatnonzero(np.diff(rates) > 0)[0]) + 1  # the first rise
    previous, current = funding_state(k)
    between = (previous + current) / 2
    state = state_at(100, previous_funding_rate=previous, funding_rate=current)
    [firing] = fires(FundingAbove(rate=between), state)
    assert firing.values == {"rate": between, "previous_rate": previous, "funding_rate": current}
    assert not fires(FundingBelow(rate=between), state)
    # Boundaries: reaching the rate crosses it; starting at it does not.
    assert fires(FundingAbove(rate=current), state)
    assert not fires(FundingAbove(rate=previous), state)
    falling = state_at(100, previous_funding_rate=current, funding_rate=previous)
    assert fires(FundingBelow(rate=previous), falling)
    assert not fires(FundingBelow(rate=current), falling)
    assert not fires(FundingAbove(rate=between), falling)


def test_funding_unknown_never_fires() -> None:
    assert not fires(FundingAbove(rate=-0.5), state_at(100, previous_funding_rate=None, funding_rate=0.001))


@settings(max_examples=200, deadline=None)
@given(
    previous=st.floats(-0.01, 0.01), current=st.floats(-0.01, 0.01), rates=st.lists(st.floats(-0.01, 0.01), min_size=1)
)
def test_funding_batch_equals_per_rule(previous: float, current: float, rates: list[float]) -> None:
    assert c.funding_above(previous, current, rates).tolist() == [previous < r <= current for r in rates]
    assert c.funding_below(previous, current, rates).tolist() == [previous > r >= current for r in rates]


# --- oi_change ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rising", [True, False])
def test_oi_change_over_a_window_on_the_sample(rising: bool) -> None:
    oi = btc_open_interest()
    window = 60
    closes = BARS.times_ms + BAR_MS
    now_oi = np.array([oi.values[oi.times_ms <= t][-1] for t in closes[1000:1100]])
    then_oi = np.array([oi.values[oi.times_ms <= t - window * 60_000][-1] for t in closes[1000:1100]])
    changes = (now_oi - then_oi) / then_oi * 100
    k = int(np.flatnonzero(changes > 0 if rising else changes < 0)[0])
    i, change = 1000 + k, float(changes[k])
    state = state_at(i, open_interest=oi)
    [firing] = fires(OIChange(percent=change, window_minutes=window), state)  # exactly the change: fires
    assert firing.values["change_pct"] == change and firing.values["oi_usd"] == now_oi[k]
    assert firing.values["oi_usd_before"] == then_oi[k]
    further = change * (1 + 1e-9)
    assert not fires(OIChange(percent=further, window_minutes=window), state)
    assert not fires(OIChange(percent=-change, window_minutes=window), state)  # the other way
    json.dumps(firing.to_json(), allow_nan=False)


def test_oi_change_needs_a_sample_before_the_window() -> None:
    oi = btc_open_interest()
    # Three bars in, a one-hour window reaches back before the first sample.
    assert not fires(OIChange(percent=-1000, window_minutes=60), state_at(3, open_interest=oi))
    assert not fires(OIChange(percent=1, window_minutes=60), state_at(3, open_interest=None))


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(1e6, 1e10), min_size=1, max_size=40),
    queries=st.lists(st.tuples(st.integers(5, 300), st.floats(-50, 50).filter(lambda p: p != 0)), min_size=1),
)
def test_oi_change_batch_equals_per_rule(values: list[float], queries: list[tuple[int, float]]) -> None:
    times = [k * BAR_MS for k in range(len(values))]
    series = Series(np.array(times), np.array(values))
    now = times[-1] + 123  # between samples: "as of" picks the last one at or before
    windows = [w * 60_000 for w, _ in queries]
    fired, change, _, _ = c.oi_change(series, now, windows, [p for _, p in queries])
    for k, (window, pct) in enumerate(queries):
        before = [v for t, v in zip(times, values, strict=True) if t <= now - window * 60_000]
        if not before:
            assert not fired[k]
            continue
        expected = (values[-1] - before[-1]) / before[-1] * 100
        assert change[k] == expected
        assert fired[k] == (expected >= pct if pct > 0 else expected <= pct)


def test_evaluate_rules_runs_a_mixed_batch_in_rule_order() -> None:
    i = first_move(up=True)
    level = (CLOSE[i - 1] + CLOSE[i]) / 2
    rules = [
        rule(PriceCrosses(price=level, direction="down"), id=1),
        rule(PriceCrosses(price=level, direction="up"), id=2),
        rule(OIChange(percent=1000, window_minutes=60), id=3),
        rule(PriceCrosses(price=level, direction="either"), id=4),
    ]
    firings = evaluate_rules(rules, state_at(i, open_interest=btc_open_interest()))
    assert [f.rule_id for f in firings] == [2, 4]
    assert {f.condition for f in firings} == {"price_crosses"}
    with pytest.raises(ValueError, match="not BTCUSDT"):
        evaluate_rules([RuleSpec(id=5, asset="ETHUSDT", params=PriceCrosses(price=level))], state_at(i))


def test_bars_refuse_unsorted_times() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        ones = np.ones(2)
        Bars(np.array([2, 1]), ones, ones, ones, ones)
