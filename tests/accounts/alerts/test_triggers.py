"""Trigger rules (once, every with cooldown, expiry, once per bar) and rule parameter validation."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from accounts.alerts.market import BAR_MS
from accounts.alerts.rules import (
    CONDITIONS,
    ClusterWithin,
    OIChange,
    PriceCrosses,
    RuleError,
    RuleSpec,
    params_from_json,
    params_to_json,
)
from accounts.alerts.triggers import can_fire, evaluate_rules, record_firing
from tests.accounts.alerts.helpers import rule, state_at
from tests.accounts.alerts.sample import btc_bars

BARS = btc_bars()
CLOSE = BARS.close
LEVEL = float(np.median(CLOSE))


def crossing_bars() -> list[int]:
    """Indexes of the bars whose close crosses LEVEL either way (real sample)."""
    a, b = CLOSE[:-1], CLOSE[1:]
    return (np.flatnonzero(((a < LEVEL) & (b >= LEVEL)) | ((a > LEVEL) & (b <= LEVEL))) + 1).tolist()


def replay(spec: RuleSpec, indexes: list[int]) -> list[int]:
    """Run the rule bar by bar over ``indexes``, recording firings as the task will; the bars it fired on."""
    fired = []
    for i in indexes:
        for firing in evaluate_rules([spec], state_at(i)):
            spec = record_firing(spec, firing)
            fired.append(i)
    return fired


def test_once_fires_on_the_first_crossing_only_and_switches_off() -> None:
    crossings = crossing_bars()
    assert len(crossings) > 5
    spec = rule(PriceCrosses(price=LEVEL), trigger="once")
    assert replay(spec, crossings) == crossings[:1]
    [firing] = evaluate_rules([spec], state_at(crossings[0]))
    after = record_firing(spec, firing)
    assert after.last_fired_bar_ms == BARS.times_ms[crossings[0]] and not after.enabled


def test_every_without_cooldown_fires_on_every_crossing() -> None:
    crossings = crossing_bars()
    assert replay(rule(PriceCrosses(price=LEVEL), cooldown_minutes=0), crossings) == crossings


def test_every_with_cooldown_skips_crossings_inside_it() -> None:
    crossings = crossing_bars()
    cooldown = 60
    fired = replay(rule(PriceCrosses(price=LEVEL), cooldown_minutes=cooldown), crossings)
    expected, last = [], None
    for i in crossings:
        if last is None or BARS.times_ms[i] - BARS.times_ms[last] >= cooldown * 60_000:
            expected.append(i)
            last = i
    assert fired == expected
    assert len(crossings) > len(expected) > 1  # the sample crosses the median in bursts


def test_cooldown_boundary_is_inclusive() -> None:
    bar_ms = int(BARS.times_ms[100])
    spec = rule(PriceCrosses(price=LEVEL), cooldown_minutes=15, last_fired_bar_ms=bar_ms - 15 * 60_000)
    assert can_fire(spec, bar_ms)
    assert not can_fire(replace(spec, last_fired_bar_ms=bar_ms - 15 * 60_000 + 1), bar_ms)


def test_a_rule_fires_at_most_once_per_bar() -> None:
    i = crossing_bars()[0]
    spec = rule(PriceCrosses(price=LEVEL), cooldown_minutes=0)
    [firing] = evaluate_rules([spec], state_at(i))
    assert evaluate_rules([record_firing(spec, firing)], state_at(i)) == []  # the same bar evaluated again
    assert not can_fire(replace(spec, last_fired_bar_ms=firing.bar_ms + BAR_MS), firing.bar_ms)  # an older bar


def test_expiry_is_the_first_bar_close_that_no_longer_fires() -> None:
    i = crossing_bars()[0]
    close_ms = int(BARS.times_ms[i]) + BAR_MS
    assert evaluate_rules([rule(PriceCrosses(price=LEVEL), expires_at_ms=close_ms + 1)], state_at(i))
    assert not evaluate_rules([rule(PriceCrosses(price=LEVEL), expires_at_ms=close_ms)], state_at(i))


def test_disabled_rules_never_fire() -> None:
    i = crossing_bars()[0]
    assert not evaluate_rules([rule(PriceCrosses(price=LEVEL), enabled=False)], state_at(i))


def test_firings_are_json() -> None:
    i = crossing_bars()[0]
    [firing] = evaluate_rules([rule(PriceCrosses(price=LEVEL), id=7)], state_at(i))
    data = json.loads(json.dumps(firing.to_json(), allow_nan=False))
    assert data["rule_id"] == 7 and data["asset"] == "BTCUSDT" and data["bar_ms"] == BARS.times_ms[i]
    assert data["condition"] == "price_crosses" and data["values"]["price"] == LEVEL


# --- parameters ----------------------------------------------------------------------------------------


def test_params_round_trip_through_json_for_every_condition() -> None:
    samples: dict[str, dict[str, Any]] = {
        "price_crosses": {"price": 90_000.0, "direction": "up"},
        "price_enters_zone": {"low": 85_000.0, "high": 86_000.0},
        "cluster_within": {"percent": 1.5, "side": "below", "timeframe": "1w", "min_usd": 2e6},
        "cluster_forms": {"min_usd": 5e6, "percent": 3.0, "timeframe": "1m"},
        "cluster_swept": {"min_usd": 1e7, "timeframe": "1w"},
        "funding_above": {"rate": 0.0005},
        "funding_below": {"rate": -0.0002},
        "oi_change": {"percent": -5.0, "window_minutes": 60},
    }
    assert set(samples) == set(CONDITIONS)
    for condition, data in samples.items():
        params = params_from_json(condition, data, timeframes=["1w", "1m"])
        assert params_to_json(params) == {**params_to_json(params), **data}
        assert params_from_json(condition, params_to_json(params)) == params


@pytest.mark.parametrize(
    "condition, data, message",
    [
        ("price_crosses", {"price": -1}, "price must be greater than 0"),
        ("price_crosses", {"price": float("nan")}, "price must be a finite number"),
        ("price_crosses", {"price": 1, "direction": "sideways"}, "direction must be one of up, down, either"),
        ("price_crosses", {}, "price_crosses needs price"),
        ("price_crosses", {"price": 1, "colour": "red"}, "does not take colour"),
        ("price_enters_zone", {"low": 2, "high": 1}, "low must not be above its high"),
        ("cluster_within", {"percent": 101, "timeframe": "1w"}, "at most 100 %"),
        ("cluster_within", {"percent": 1, "timeframe": "5y"}, "timeframe must be one of 1w"),
        ("funding_above", {"rate": 5}, "fraction per 8 h"),
        ("oi_change", {"percent": 0, "window_minutes": 60}, "non-zero"),
        ("oi_change", {"percent": 5, "window_minutes": 1}, "between 5 and"),
        ("oi_change", {"percent": 5, "window_minutes": 7.5}, "whole number"),
        ("price_teleports", {}, "unknown condition"),
        ("price_crosses", [1, 2], "must be a JSON object"),
        # JSON integers have no size limit; one too large for a float is not a number we can use.
        ("price_crosses", {"price": 10**400}, "price must be a finite number"),
        ("funding_below", {"rate": -(10**400)}, "rate must be a finite number"),
        ("cluster_forms", {"min_usd": 10**400, "percent": 1, "timeframe": "1w"}, "min_usd must be a finite number"),
        ("oi_change", {"percent": 10**400, "window_minutes": 60}, "percent must be a finite number"),
    ],
)
def test_bad_params_are_refused_with_a_message(condition: str, data: Any, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        params_from_json(condition, data, timeframes=["1w"])


def test_rule_spec_validates_the_trigger() -> None:
    with pytest.raises(RuleError, match="trigger must be one of"):
        RuleSpec(id=1, asset="BTCUSDT", params=OIChange(percent=5, window_minutes=60), trigger="twice")  # type: ignore[arg-type]
    with pytest.raises(RuleError, match="cooldown_minutes must be between"):
        RuleSpec(id=1, asset="BTCUSDT", params=ClusterWithin(percent=1, timeframe="1w"), cooldown_minutes=-5)
