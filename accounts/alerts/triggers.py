"""When a rule may fire, and the evaluator that runs every rule of one asset against one bar.

Trigger semantics (all in bar time, so a replay fires the same events):

- a rule fires at most once per bar: never twice with the same ``bar_ms``;
- ``once``: fires the first time its condition holds, then is done (``record_firing`` disables it);
- ``every``: fires whenever its condition holds and at least ``cooldown_minutes`` have passed from
  the bar it last fired on to this bar (cooldown 0: on every bar where the condition holds);
- ``expires_at``: the rule fires for a bar only if that bar closed before ``expires_at``;
- disabled rules never fire.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from accounts.alerts import conditions as c
from accounts.alerts.market import BAR_MS, ClusterSet, MarketState
from accounts.alerts.rules import (
    ClusterForms,
    ClusterSwept,
    ClusterWithin,
    Condition,
    FundingAbove,
    FundingBelow,
    OIChange,
    PriceCrosses,
    PriceEntersZone,
    RuleSpec,
)

JsonValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class Firing:
    """One alert event: which rule, on which bar (open time, UTC ms) and the values that made it."""

    rule_id: int
    asset: str
    condition: Condition
    bar_ms: int
    values: dict[str, JsonValue]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "asset": self.asset,
            "condition": self.condition,
            "bar_ms": self.bar_ms,
            "values": dict(self.values),
        }


def can_fire(rule: RuleSpec, bar_ms: int) -> bool:
    """The trigger half of a rule: may it fire on the bar opening at ``bar_ms``?"""
    if not rule.enabled:
        return False
    if rule.expires_at_ms is not None and bar_ms + BAR_MS >= rule.expires_at_ms:
        return False
    last = rule.last_fired_bar_ms
    if last is None:
        return True
    if rule.trigger == "once" or bar_ms <= last:
        return False
    return bar_ms - last >= rule.cooldown_minutes * 60_000


def record_firing(rule: RuleSpec, firing: Firing) -> RuleSpec:
    """The rule after it fired: remembers the bar; a ``once`` rule is switched off."""
    return replace(rule, last_fired_bar_ms=firing.bar_ms, enabled=rule.enabled and rule.trigger != "once")


def evaluate_rules(rules: Iterable[RuleSpec], state: MarketState) -> list[Firing]:
    """Every rule of ``state.asset`` that fires on the state's last bar, in the order given.

    Rules are grouped by condition (and timeframe) and each group is one vector call; rules whose
    trigger forbids firing are left out first. Rules of other assets are an error.
    """
    bar_ms = state.bar_ms
    groups: dict[Condition, list[RuleSpec]] = defaultdict(list)
    order: dict[int, int] = {}
    for position, rule in enumerate(rules):
        if rule.asset != state.asset:
            raise ValueError(f"rule {rule.id} is on {rule.asset}, not {state.asset}")
        if can_fire(rule, bar_ms):
            groups[rule.condition].append(rule)
            order[rule.id] = position
    firings: list[Firing] = []
    for condition, group in groups.items():
        firings.extend(_EVALUATORS[condition](group, state))
    firings.sort(key=lambda f: order[f.rule_id])
    return firings


Evaluator = Callable[[Sequence[RuleSpec], MarketState], list[Firing]]


def _fire(rule: RuleSpec, state: MarketState, values: dict[str, JsonValue]) -> Firing:
    return Firing(rule_id=rule.id, asset=rule.asset, condition=rule.condition, bar_ms=state.bar_ms, values=values)


def _num(value: Any) -> float | None:
    """A JSON-safe float: NaN and infinities become None (JSON has no NaN)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _typed[P](group: Sequence[RuleSpec], kind: type[P]) -> list[tuple[RuleSpec, P]]:
    return [(rule, rule.params) for rule in group if isinstance(rule.params, kind)]


def _floats(values: Iterable[float | None], default: float = 0.0) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array([default if v is None else v for v in values], dtype=np.float64)


def _by_timeframe[P](pairs: list[tuple[RuleSpec, P]]) -> dict[str, list[tuple[RuleSpec, P]]]:
    groups: dict[str, list[tuple[RuleSpec, P]]] = defaultdict(list)
    for pair in pairs:
        groups[getattr(pair[1], "timeframe")].append(pair)  # noqa: B009  # every cluster rule has one
    return groups


def _cluster_values(timeframe: str, clusters: ClusterSet, index: int, price: float) -> dict[str, JsonValue]:
    level = clusters.level(index)
    return {
        "timeframe": timeframe,
        "side": level.side,
        "cluster_usd": level.usd,
        "peak_price": level.peak_price,
        "price_low": level.price_low,
        "price_high": level.price_high,
        "distance_pct": _num(c.distance_pct(level.peak_price, price)),
        "price": price,
    }


def _price_crosses(group: Sequence[RuleSpec], state: MarketState) -> list[Firing]:
    pairs = _typed(group, PriceCrosses)
    prev, close = float(state.bars.close[-2]), float(state.bars.close[-1])
    bits = np.array([c.DIRECTION_BITS[p.direction] for _, p in pairs], dtype=np.int8)
    fired, up = c.price_crosses(prev, close, _floats(p.price for _, p in pairs), bits)
    return [
        _fire(
            rule,
            state,
            {"price": p.price, "direction": "up" if up[i] else "down", "previous_close": prev, "close": close},
        )
        for i, (rule, p) in enumerate(pairs)
        if fired[i]
    ]


def _price_enters_zone(group: Sequence[RuleSpec], state: MarketState) -> list[Firing]:
    pairs = _typed(group, PriceEntersZone)
    bars = state.bars
    prev_close = float(bars.close[-2])
    move_low, move_high = c.bar_move(prev_close, bars.low[-1], bars.high[-1])
    fired, from_below = c.price_enters_zone(
        bars.low[-2],
        bars.high[-2],
        move_low,
        move_high,
        _floats(p.low for _, p in pairs),
        _floats(p.high for _, p in pairs),
    )
    return [
        _fire(
            rule,
            state,
            {
                "low": p.low,
                "high": p.high,
                "from": "below" if from_below[i] else "above",
                "bar_low": float(bars.low[-1]),
                "bar_high": float(bars.high[-1]),
                "previous_close": prev_close,
            },
        )
        for i, (rule, p) in enumerate(pairs)
        if fired[i]
    ]


def _cluster_within(group: Sequence[RuleSpec], state: MarketState) -> list[Firing]:
    firings = []
    for timeframe, pairs in _by_timeframe(_typed(group, ClusterWithin)).items():
        maps = state.clusters.get(timeframe)
        if maps is None:
            continue
        fired, index = c.cluster_within(
            state.price,
            maps.current,
            _floats(p.percent for _, p in pairs),
            np.array([c.SIDE_BITS[p.side] for _, p in pairs], dtype=np.int8),
            _floats(p.min_usd for _, p in pairs),
        )
        firings += [
            _fire(rule, state, _cluster_values(timeframe, maps.current, int(index[i]), state.price))
            for i, (rule, _) in enumerate(pairs)
            if fired[i]
        ]
    return firings


def _cluster_forms(group: Sequence[RuleSpec], state: MarketState) -> list[Firing]:
    firings = []
    for timeframe, pairs in _by_timeframe(_typed(group, ClusterForms)).items():
        maps = state.clusters.get(timeframe)
        if maps is None or maps.previous is None:
            continue
        fired, index = c.cluster_forms(
            state.price,
            maps.current,
            maps.previous,
            _floats(p.percent for _, p in pairs),
            _floats(p.min_usd for _, p in pairs),
        )
        firings += [
            _fire(rule, state, _cluster_values(timeframe, maps.current, int(index[i]), state.price))
            for i, (rule, _) in enumerate(pairs)
            if fired[i]
        ]
    return firings


def _sweepable(state: MarketState, timeframe: str) -> ClusterSet | None:
    """The newest map computed before the evaluated bar: a map that already includes the bar has
    swept its clusters itself."""
    maps = state.clusters.get(timeframe)
    if maps is None:
        return None
    for clusters in (maps.current, maps.previous):
        if clusters is not None and clusters.through_ms <= state.bar_ms:
            return clusters
    return None


def _cluster_swept(group: Sequence[RuleSpec], state: MarketState) -> list[Firing]:
    bars = state.bars
    move_low, move_high = (float(x) for x in c.bar_move(bars.close[-2], bars.low[-1], bars.high[-1]))
    liquidated = (
        state.liquidations.usd_between(state.bar_ms, state.bar_ms + BAR_MS) if state.liquidations is not None else None
    )
    firings = []
    for timeframe, pairs in _by_timeframe(_typed(group, ClusterSwept)).items():
        clusters = _sweepable(state, timeframe)
        if clusters is None or len(clusters) == 0:
            continue
        standing = c.standing_clusters(clusters, bars)
        fired, swept = c.cluster_swept(move_low, move_high, clusters, standing, _floats(p.min_usd for _, p in pairs))
        for i, (rule, _) in enumerate(pairs):
            if not fired[i]:
                continue
            mine = swept[i]
            largest = int(np.where(mine, clusters.usd, -np.inf).argmax())
            values: dict[str, JsonValue] = {
                "timeframe": timeframe,
                "swept_usd": float(clusters.usd[mine].sum()),
                "clusters": int(mine.sum()),
                "largest_usd": float(clusters.usd[largest]),
                "largest_peak_price": float(clusters.peak_price[largest]),
                "bar_low": float(bars.low[-1]),
                "bar_high": float(bars.high[-1]),
                # Recorded liquidations of the swept sides during the bar; None where none are recorded.
                "liquidated_usd": None,
            }
            if liquidated is not None:
                long_usd, short_usd = liquidated
                values["liquidated_usd"] = (long_usd if bool((mine & ~clusters.short).any()) else 0.0) + (
                    short_usd if bool((mine & clusters.short).any()) else 0.0
                )
            firings.append(_fire(rule, state, values))
    return firings


def _funding(kind: type[FundingAbove] | type[FundingBelow]) -> Evaluator:
    test = c.funding_above if kind is FundingAbove else c.funding_below

    def evaluate(group: Sequence[RuleSpec], state: MarketState) -> list[Firing]:
        previous, current = state.previous_funding_rate, state.funding_rate
        if previous is None or current is None:
            return []
        pairs = _typed(group, kind)
        fired = test(previous, current, _floats(p.rate for _, p in pairs))
        return [
            _fire(rule, state, {"rate": p.rate, "previous_rate": previous, "funding_rate": current})
            for i, (rule, p) in enumerate(pairs)
            if fired[i]
        ]

    return evaluate


def _oi_change(group: Sequence[RuleSpec], state: MarketState) -> list[Firing]:
    if state.open_interest is None:
        return []
    pairs = _typed(group, OIChange)
    windows = np.array([p.window_minutes * 60_000 for _, p in pairs], dtype=np.int64)
    fired, change, oi_now, oi_then = c.oi_change(
        state.open_interest, state.bar_ms + BAR_MS, windows, _floats(p.percent for _, p in pairs)
    )
    return [
        _fire(
            rule,
            state,
            {
                "percent": p.percent,
                "window_minutes": p.window_minutes,
                "change_pct": _num(change[i]),
                "oi_usd": _num(oi_now[i]),
                "oi_usd_before": _num(oi_then[i]),
            },
        )
        for i, (rule, p) in enumerate(pairs)
        if fired[i]
    ]


_EVALUATORS: dict[Condition, Evaluator] = {
    "price_crosses": _price_crosses,
    "price_enters_zone": _price_enters_zone,
    "cluster_within": _cluster_within,
    "cluster_forms": _cluster_forms,
    "cluster_swept": _cluster_swept,
    "funding_above": _funding(FundingAbove),
    "funding_below": _funding(FundingBelow),
    "oi_change": _oi_change,
}
