"""Cluster conditions (within, forms, swept) around real BTCUSDT bars, with clusters placed relative
to the sample's own prices; boundaries as documented in accounts.alerts.conditions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.alerts import conditions as c
from accounts.alerts.market import BAR_MS, ClusterLevel, ClusterMaps, ClusterSet, ClusterSide, Liquidations, MarketState
from accounts.alerts.rules import ClusterForms, ClusterSwept, ClusterWithin
from tests.accounts.alerts.helpers import fires, state_at
from tests.accounts.alerts.sample import btc_bars

BARS = btc_bars()
AT = 3000  # an ordinary bar in the middle of the sample
PRICE = float(BARS.close[AT])


def level(side: ClusterSide, peak_factor: float, usd: float, width: float = 0.002) -> ClusterLevel:
    peak = PRICE * peak_factor
    return ClusterLevel(
        side=side, price_low=peak * (1 - width), price_high=peak * (1 + width), peak_price=peak, usd=usd
    )


BIG_LONG = level("long", 0.99, 5e6)
NEAR_LONG = level("long", 0.997, 2e6)
BIG_SHORT = level("short", 1.02, 8e6)


def maps(
    current: list[ClusterLevel], previous: list[ClusterLevel] | None = None, through_ms: int = 0
) -> dict[str, ClusterMaps]:
    prev = ClusterSet.of(previous, through_ms=through_ms) if previous is not None else None
    return {"1w": ClusterMaps(current=ClusterSet.of(current, through_ms=through_ms), previous=prev)}


# --- cluster_within ----------------------------------------------------------------------------------


def test_cluster_within_uses_the_largest_cluster_on_the_side() -> None:
    state = state_at(AT, clusters=maps([BIG_LONG, NEAR_LONG, BIG_SHORT]))
    below = float(c.distance_pct(BIG_LONG.peak_price, PRICE))
    [firing] = fires(ClusterWithin(percent=below, timeframe="1w", side="below"), state)  # exactly at the distance
    assert firing.values["cluster_usd"] == BIG_LONG.usd and firing.values["side"] == "long"
    assert firing.values["distance_pct"] == below and firing.values["timeframe"] == "1w"
    # Just inside the largest one's distance: the nearer, smaller cluster does not count.
    assert not fires(ClusterWithin(percent=float(np.nextafter(below, 0)), timeframe="1w", side="below"), state)
    above = float(c.distance_pct(BIG_SHORT.peak_price, PRICE))
    [firing] = fires(ClusterWithin(percent=above, timeframe="1w", side="either"), state)
    assert firing.values["cluster_usd"] == BIG_SHORT.usd
    assert not fires(ClusterWithin(percent=below, timeframe="1w", side="either"), state)  # the largest is above
    assert fires(ClusterWithin(percent=above, timeframe="1w", side="above", min_usd=BIG_SHORT.usd), state)
    assert not fires(ClusterWithin(percent=above, timeframe="1w", side="above", min_usd=BIG_SHORT.usd + 1), state)
    assert not fires(ClusterWithin(percent=50, timeframe="1d", side="either"), state)  # no such map


def test_cluster_within_with_no_cluster_on_the_side() -> None:
    state = state_at(AT, clusters=maps([BIG_LONG]))
    assert not fires(ClusterWithin(percent=100, timeframe="1w", side="above"), state)
    assert not fires(ClusterWithin(percent=100, timeframe="1w"), state_at(AT, clusters=maps([])))


SIDES: list[ClusterSide] = ["long", "short"]
cluster_st = st.tuples(st.sampled_from(SIDES), st.floats(0.9, 1.1), st.floats(1e5, 1e7))


@settings(max_examples=150, deadline=None)
@given(
    clusters=st.lists(cluster_st, max_size=12),
    rules=st.lists(
        st.tuples(
            st.floats(0.01, 12),
            st.sampled_from(["above", "below", "either"]),
            st.one_of(st.none(), st.floats(1e5, 1e7)),
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_cluster_within_batch_equals_per_rule(
    clusters: list[tuple[ClusterSide, float, float]], rules: list[tuple[float, str, float | None]]
) -> None:
    levels = [level(side, f, usd) for side, f, usd in clusters]
    cs = ClusterSet.of(levels, through_ms=0)
    fired, index = c.cluster_within(
        PRICE, cs, [r[0] for r in rules], [c.SIDE_BITS[r[1]] for r in rules], [r[2] or 0.0 for r in rules]
    )
    for k, (pct, side, min_usd) in enumerate(rules):
        on_side = [
            lv
            for lv in levels
            if (side != "below" and lv.peak_price >= PRICE) or (side != "above" and lv.peak_price <= PRICE)
        ]
        if not on_side:
            assert not fired[k] and index[k] == -1
            continue
        best = min(on_side, key=lambda lv: (-lv.usd, abs(lv.peak_price - PRICE)))
        distance = abs(best.peak_price - PRICE) / PRICE * 100
        assert fired[k] == (distance <= pct and best.usd >= (min_usd or 0))
        assert cs.level(int(index[k])) == best


# --- cluster_forms -----------------------------------------------------------------------------------


def test_a_cluster_forms_when_the_previous_map_had_none_there() -> None:
    rule = ClusterForms(min_usd=4e6, percent=1.5, timeframe="1w")
    [firing] = fires(rule, state_at(AT, clusters=maps([BIG_LONG, NEAR_LONG], previous=[NEAR_LONG])))
    assert firing.values["cluster_usd"] == BIG_LONG.usd and firing.values["peak_price"] == BIG_LONG.peak_price


def test_a_cluster_already_in_the_previous_map_does_not_form() -> None:
    rule = ClusterForms(min_usd=4e6, percent=1.5, timeframe="1w")
    # Drifted by a bin (ranges touch) and grew: the same cluster.
    drifted = ClusterLevel("long", BIG_LONG.price_high, BIG_LONG.price_high * 1.004, BIG_LONG.price_high * 1.002, 4.5e6)
    assert not fires(rule, state_at(AT, clusters=maps([BIG_LONG], previous=[drifted])))
    lower = ClusterLevel("long", BIG_LONG.price_low * 0.996, BIG_LONG.price_low, BIG_LONG.price_low * 0.998, 4.5e6)
    assert not fires(rule, state_at(AT, clusters=maps([BIG_LONG], previous=[lower])))
    # Below the minimum before, at or above it now: it formed.
    small = ClusterLevel("long", drifted.price_low, drifted.price_high, drifted.peak_price, float(np.nextafter(4e6, 0)))
    assert fires(rule, state_at(AT, clusters=maps([BIG_LONG], previous=[small])))
    # A short cluster in the same place is another cluster.
    other_side = ClusterLevel("short", BIG_LONG.price_low, BIG_LONG.price_high, BIG_LONG.peak_price, 9e6)
    assert fires(rule, state_at(AT, clusters=maps([BIG_LONG], previous=[other_side])))


def test_cluster_forms_boundaries_and_first_map() -> None:
    distance = float(c.distance_pct(BIG_LONG.peak_price, PRICE))
    state = state_at(AT, clusters=maps([BIG_LONG], previous=[]))
    assert fires(ClusterForms(min_usd=BIG_LONG.usd, percent=distance, timeframe="1w"), state)
    assert not fires(ClusterForms(min_usd=BIG_LONG.usd + 1, percent=distance, timeframe="1w"), state)
    assert not fires(ClusterForms(min_usd=1e6, percent=float(np.nextafter(distance, 0)), timeframe="1w"), state)
    # The first map has nothing to compare with; the same map twice has nothing new.
    assert not fires(ClusterForms(min_usd=1e6, percent=5, timeframe="1w"), state_at(AT, clusters=maps([BIG_LONG])))
    same = ClusterSet.of([BIG_LONG], through_ms=0)
    unchanged = state_at(AT, clusters={"1w": ClusterMaps(current=same, previous=same)})
    assert not fires(ClusterForms(min_usd=1e6, percent=5, timeframe="1w"), unchanged)


# --- cluster_swept -----------------------------------------------------------------------------------


def peak_at(price: float, usd: float, side: ClusterSide = "long") -> ClusterLevel:
    return ClusterLevel(side=side, price_low=price - 5, price_high=price + 5, peak_price=price, usd=usd)


def swept_state(current: list[ClusterLevel], *, through: int, **kwargs: Any) -> MarketState:
    return state_at(AT, clusters=maps(current, through_ms=int(BARS.times_ms[through])), **kwargs)


def test_a_bar_trading_through_a_cluster_peak_sweeps_it() -> None:
    low, high = float(BARS.low[AT]), float(BARS.high[AT])
    inside = peak_at((low + high) / 2, 3e6)
    edge = peak_at(high, 2e6, side="short")  # the bar's high exactly: traded
    outside = peak_at(high + 1, 9e6, side="short")
    state = swept_state([inside, edge, outside], through=AT)
    [firing] = fires(ClusterSwept(min_usd=2e6, timeframe="1w"), state)
    assert firing.values["swept_usd"] == inside.usd + edge.usd and firing.values["clusters"] == 2
    assert firing.values["largest_usd"] == inside.usd and firing.values["largest_peak_price"] == inside.peak_price
    assert firing.values["liquidated_usd"] is None  # no liquidations recorded for the asset
    [firing] = fires(ClusterSwept(min_usd=2.5e6, timeframe="1w"), state)
    assert firing.values["swept_usd"] == inside.usd
    assert not fires(ClusterSwept(min_usd=3e6 + 1, timeframe="1w"), state)


def test_a_cluster_an_earlier_bar_swept_is_not_swept_again() -> None:
    # The previous close is in this bar's move and in the previous bar's range.
    cluster = peak_at(float(BARS.close[AT - 1]), 5e6)
    rule = ClusterSwept(min_usd=1e6, timeframe="1w")
    assert fires(rule, swept_state([cluster], through=AT))  # map made just before this bar
    assert not fires(rule, swept_state([cluster], through=AT - 1))  # the previous bar got it first


def test_a_map_that_includes_the_bar_is_not_used_for_its_sweep() -> None:
    cluster = peak_at(float(BARS.close[AT - 1]), 5e6)
    bar_ms = int(BARS.times_ms[AT])
    rule = ClusterSwept(min_usd=1e6, timeframe="1w")
    after = ClusterSet.of([], through_ms=bar_ms + BAR_MS)  # already swept in the newer map
    before = ClusterSet.of([cluster], through_ms=bar_ms)
    assert fires(rule, state_at(AT, clusters={"1w": ClusterMaps(current=after, previous=before)}))
    assert not fires(rule, state_at(AT, clusters={"1w": ClusterMaps(current=after, previous=None)}))


def test_swept_reports_recorded_liquidations_of_the_swept_side_during_the_bar() -> None:
    long_cluster = peak_at(float(BARS.close[AT - 1]), 5e6)
    bar_ms = int(BARS.times_ms[AT])
    recorded = Liquidations(
        times_ms=np.array([bar_ms - 1, bar_ms, bar_ms + 1000, bar_ms + BAR_MS - 1, bar_ms + BAR_MS]),
        usd=np.array([1e6, 200_000.0, 50_000.0, 25_000.0, 1e6]),
        long=np.array([True, True, False, True, True]),
    )
    [firing] = fires(
        ClusterSwept(min_usd=1e6, timeframe="1w"), swept_state([long_cluster], through=AT, liquidations=recorded)
    )
    assert firing.values["liquidated_usd"] == pytest.approx(225_000.0)  # longs inside [bar open, bar close)


range_st = st.tuples(st.sampled_from(SIDES), st.floats(0.9, 1.1), st.floats(0.0005, 0.01), st.floats(1e5, 1e7))


def ranged(side: ClusterSide, factor: float, width: float, usd: float) -> ClusterLevel:
    peak = PRICE * factor
    return ClusterLevel(side, peak * (1 - width), peak * (1 + width), peak, usd)


@settings(max_examples=150, deadline=None)
@given(
    current=st.lists(range_st, max_size=10),
    previous=st.lists(range_st, max_size=10),
    rules=st.lists(st.tuples(st.floats(1e5, 1e7), st.floats(0.1, 12)), min_size=1, max_size=10),
)
def test_cluster_forms_batch_equals_per_rule(
    current: list[tuple[ClusterSide, float, float, float]],
    previous: list[tuple[ClusterSide, float, float, float]],
    rules: list[tuple[float, float]],
) -> None:
    now, before = [ranged(*x) for x in current], [ranged(*x) for x in previous]
    cs = ClusterSet.of(now, through_ms=0)
    fired, index = c.cluster_forms(
        PRICE, cs, ClusterSet.of(before, through_ms=0), [r[1] for r in rules], [r[0] for r in rules]
    )
    for k, (min_usd, pct) in enumerate(rules):
        new = [
            lv for lv in now
            if lv.usd >= min_usd
            and abs(lv.peak_price - PRICE) / PRICE * 100 <= pct
            and not any(
                p.side == lv.side and p.usd >= min_usd and p.price_low <= lv.price_high and p.price_high >= lv.price_low
                for p in before
            )
        ]  # fmt: skip
        assert fired[k] == bool(new)
        if new:
            assert cs.level(int(index[k])).usd == max(lv.usd for lv in new)


@settings(max_examples=150, deadline=None)
@given(
    clusters=st.lists(range_st, max_size=12),
    move=st.tuples(st.floats(0.9, 1.1), st.floats(0.9, 1.1)),
    floors=st.lists(st.floats(1e5, 1e7), min_size=1, max_size=10),
)
def test_cluster_swept_batch_equals_per_rule(
    clusters: list[tuple[ClusterSide, float, float, float]], move: tuple[float, float], floors: list[float]
) -> None:
    levels = [ranged(*x) for x in clusters]
    low, high = PRICE * min(move), PRICE * max(move)
    cs = ClusterSet.of(levels, through_ms=0)
    fired, swept = c.cluster_swept(low, high, cs, np.ones(len(levels), dtype=bool), floors)
    for k, floor in enumerate(floors):
        expected = [low <= lv.peak_price <= high and lv.usd >= floor for lv in levels]
        assert swept[k].tolist() == expected and fired[k] == any(expected)
