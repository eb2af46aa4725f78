"""One evaluation cycle of an asset: load its market state and enabled rules, run the pure
evaluator (accounts.alerts.triggers), store the events, hand them to delivery after commit.

Which bars: every closed bar stored since the previous cycle (at most ``MAX_CATCH_UP_BARS``, so a
worker that was down does not replay hours), or only the newest bar on an asset's first cycle.
"At most one event per rule and bar" rests on the unique (rule, bar_time) key, inserted with
ON CONFLICT DO NOTHING: a rerun, two racing workers or a redelivered task insert nothing twice,
and only rows actually inserted are delivered. A row lock on the asset's memory keeps concurrent
cycles of one asset from doing the same work side by side, but correctness does not depend on it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from django.db import transaction

from accounts.alerts.cycle_reads import NO_MEMORY, StoredRule, lock_memory_and_rules, read_cycle_market
from accounts.alerts.delivery import describe
from accounts.alerts.event_store import NewEvent, store_cycle
from accounts.alerts.market import BAR_MS, Bars, ClusterMaps, ClusterSet, Liquidations, MarketState, Series
from accounts.alerts.rules import OIChange, Params, PriceEntersZone, RuleError, RuleSpec, params_from_json
from accounts.alerts.triggers import Firing, evaluate_rules, record_firing
from accounts.models import AlertEvent
from heatmaps.live import publish_user_events
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset
from liqplatform.celery import app as current_app  # the configured app, whichever process this runs in

log = logging.getLogger(__name__)

MAX_CATCH_UP_BARS = 12  # one hour of 5-minute bars
HISTORY_BARS = 600  # about two days: the bars since a long timeframe's map was computed
DELIVER_EVENTS_TASK = "accounts.deliver_events"


@dataclass(frozen=True)
class CycleResult:
    checked: int
    fired: int
    events: list[NewEvent]


def evaluate_asset(*, asset: Asset, on_events: Callable[[list[int]], None] | None = None) -> tuple[int, int]:
    """Evaluate every enabled rule of ``asset`` on the bars new since the last cycle and store the
    events; returns (rules checked, events fired). ``on_events`` gets the new events' ids after
    commit (default: queue their email and webhook deliveries)."""
    result = evaluate_asset_cycle(asset=asset)
    if result.events:
        deliver = on_events or _queue_deliveries
        ids = [event.id for event in result.events]
        events = result.events
        transaction.on_commit(lambda: deliver(ids))
        transaction.on_commit(lambda: _publish_live(asset, events))
    return result.checked, result.fired


def _publish_live(asset: Asset, events: list[NewEvent]) -> None:
    """Each new event to its owner's open asset pages (their own live stream, no one else's), from
    what the cycle stored: reading the rows back would cost a query per asset."""
    published = []
    for new in events:
        event = AlertEvent(
            pk=new.id,
            rule_id=new.rule_id,
            user_id=new.user_id,
            asset=asset,
            condition=new.condition,
            bar_time=ms_to_dt(new.bar_ms),
            fired_at=new.fired_at,
        )
        payload = {"id": new.id, "rule": new.rule_id, "text": describe(event), "time": dt_to_ms(new.fired_at)}
        published.append((new.user_id, asset.symbol, "alert", payload))
    publish_user_events(published)


def _queue_deliveries(event_ids: list[int]) -> None:
    # By the task's stable name: accounts.tasks imports this module, not the other way round.
    current_app.tasks[DELIVER_EVENTS_TASK].delay(event_ids)


@transaction.atomic
def evaluate_asset_cycle(*, asset: Asset) -> CycleResult:
    memory, rules = lock_memory_and_rules(asset=asset)
    specs = _specs(asset, rules)
    window_ms = max((s.params.window_minutes * 60_000 for s in specs if isinstance(s.params, OIChange)), default=0)
    read = read_cycle_market(
        asset=asset,
        window=timedelta(milliseconds=window_ms + BAR_MS),
        bars=HISTORY_BARS,
        catch_up_bars=MAX_CATCH_UP_BARS,
        last_seen=memory.bar_time,
    )
    market, maps = read.market, read.maps
    current = {tf: _cluster_set(m.through_ms, m.clusters) for tf, m in maps.items()}
    has_memory = memory.bar_time != NO_MEMORY
    previous = {tf: _cluster_set(m["through_ms"], m["clusters"]) for tf, m in memory.clusters.items()}
    if market is None or len(market.bars) == 0:
        return CycleResult(len(specs), 0, [])
    newest_ms = int(market.bars.times_ms[-1])
    new_bar_times: list[int] = []
    firings: list[Firing] = []
    if specs and len(market.bars) >= 2:
        bars = Bars(market.bars.times_ms, market.bars.open, market.bars.high, market.bars.low, market.bars.close)
        last_seen = dt_to_ms(memory.bar_time)
        start = max(1, len(bars) - MAX_CATCH_UP_BARS)
        indexes = [i for i in range(start, len(bars)) if not has_memory or int(bars.times_ms[i]) > last_seen]
        if not has_memory:
            indexes = indexes[-1:]
        new_bar_times = [int(bars.times_ms[i]) for i in indexes]
        liquidations = None
        if indexes:
            recorded = read.liquidations_since(new_bar_times[0])
            if recorded is not None:
                liquidations = Liquidations(recorded.times_ms, recorded.usd, recorded.long)
        oi_times, oi_usd = market.open_interest_usd()
        open_interest = Series(oi_times, oi_usd) if oi_times.size else None
        by_id = {s.id: s for s in specs}
        for position, index in enumerate(indexes):
            newest_bar = position == len(indexes) - 1
            history = bars.upto(index)
            bar_close = int(history.times_ms[-1]) + BAR_MS
            clusters = {tf: ClusterMaps(cs, previous.get(tf, cs) if has_memory else None) for tf, cs in current.items()}
            state = MarketState(
                asset=asset.symbol,
                bars=history,
                price=float(history.close[-1]),
                funding_rate=market.funding_rate_at(bar_close),
                previous_funding_rate=market.funding_rate_at(bar_close - BAR_MS),
                open_interest=open_interest,
                clusters=clusters,
                liquidations=liquidations,
            )
            # A cluster forms between two maps, not on a bar: only the newest bar may report it.
            candidates = [s for s in by_id.values() if newest_bar or s.condition != "cluster_forms"]
            for firing in evaluate_rules(candidates, state):
                firings.append(firing)
                by_id[firing.rule_id] = record_firing(by_id[firing.rule_id], firing)
    seen = {tf: m.get("version") for tf, m in memory.clusters.items()}
    changed = seen != {tf: m.version for tf, m in maps.items()}  # rewritten only when a map changed
    events = store_cycle(
        asset=asset,
        rules=rules,
        firings=firings,
        memory=memory,
        bar_time=ms_to_dt(max([*new_bar_times, dt_to_ms(memory.bar_time), newest_ms])),
        clusters={
            tf: {"version": m.version, "through_ms": m.through_ms, "clusters": m.clusters} for tf, m in maps.items()
        }
        if changed
        else None,
    )
    return CycleResult(len(specs), len(events), events)


def _specs(asset: Asset, rules: Sequence[StoredRule]) -> list[RuleSpec]:
    specs = []
    for rule in rules:
        try:
            spec = _spec(
                rule.id,
                asset.symbol,
                rule.condition,
                rule.params_json,
                rule.zone,
                rule.trigger,
                rule.cooldown_minutes,
                rule.expires_at,
                rule.last_fired_bar,
            )
        except RuleError as exc:  # stored before a limit changed: skipped, not fatal to the others
            log.warning("alert rule %s skipped: %s", rule.id, exc)
            continue
        specs.append(spec)
    return specs


@lru_cache(maxsize=65_536)
def _spec(
    rule_id: int,
    symbol: str,
    condition: str,
    params_json: str,
    zone: tuple[float, float | None] | None,
    trigger: str,
    cooldown_minutes: int,
    expires_at: datetime | None,
    last_fired_bar: datetime | None,
) -> RuleSpec:
    # Keyed by everything a spec is made of: a rule that did not change since the previous cycle
    # (most of them) is not validated again; one that did is a new key. Errors are not cached.
    if condition == "price_enters_zone":
        assert zone is not None and zone[1] is not None  # a database constraint
        params: Params = PriceEntersZone(low=zone[0], high=zone[1])
    else:
        params = _parsed(condition, params_json)
    return RuleSpec(
        id=rule_id,
        asset=symbol,
        params=params,
        trigger=trigger,  # type: ignore[arg-type]
        cooldown_minutes=cooldown_minutes,
        expires_at_ms=dt_to_ms(expires_at) if expires_at else None,
        enabled=True,
        last_fired_bar_ms=dt_to_ms(last_fired_bar) if last_fired_bar else None,
    )


@lru_cache(maxsize=65_536)
def _parsed(condition: str, params_json: str) -> Params:
    # Parameters are frozen values: many rules with the same ones share one, checked once a process.
    return params_from_json(condition, json.loads(params_json))


def _cluster_set(through_ms: int, clusters: Sequence[dict[str, Any]]) -> ClusterSet:
    usable = [c for c in clusters if c.get("peak_price") is not None and c.get("usd") is not None]
    return ClusterSet(
        through_ms=int(through_ms),
        short=np.array([c["side"] == "short" for c in usable], dtype=np.bool_),
        price_low=np.array([c["price_low"] for c in usable], dtype=np.float64),
        price_high=np.array([c["price_high"] for c in usable], dtype=np.float64),
        peak_price=np.array([c["peak_price"] for c in usable], dtype=np.float64),
        usd=np.array([c["usd"] for c in usable], dtype=np.float64),
    )
