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
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from accounts.alerts.cycle_reads import read_cycle_market
from accounts.alerts.delivery import describe
from accounts.alerts.followup import pending_followup
from accounts.alerts.followup_store import insert_followups
from accounts.alerts.market import BAR_MS, Bars, ClusterMaps, ClusterSet, Liquidations, MarketState, Series
from accounts.alerts.rules import OIChange, Params, PriceEntersZone, RuleError, RuleSpec, params_from_json
from accounts.alerts.triggers import Firing, evaluate_rules, record_firing
from accounts.models import AlertDelivery, AlertEvent, AlertMarketMemory, AlertRule
from heatmaps.live import publish_user_events
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset
from liqplatform.celery import app as current_app  # the configured app, whichever process this runs in

log = logging.getLogger(__name__)

MAX_CATCH_UP_BARS = 12  # one hour of 5-minute bars
HISTORY_BARS = 600  # about two days: the bars since a long timeframe's map was computed
NO_MEMORY = datetime(1970, 1, 1, tzinfo=UTC)
DELIVER_EVENTS_TASK = "accounts.deliver_events"


@dataclass(frozen=True)
class CycleResult:
    checked: int
    fired: int
    event_ids: list[int]


def evaluate_asset(*, asset: Asset, on_events: Callable[[list[int]], None] | None = None) -> tuple[int, int]:
    """Evaluate every enabled rule of ``asset`` on the bars new since the last cycle and store the
    events; returns (rules checked, events fired). ``on_events`` gets the new events' ids after
    commit (default: queue their email and webhook deliveries)."""
    result = evaluate_asset_cycle(asset=asset)
    if result.event_ids:
        deliver = on_events or _queue_deliveries
        ids = result.event_ids
        transaction.on_commit(lambda: deliver(ids))
        transaction.on_commit(lambda: _publish_live(ids))
    return result.checked, result.fired


def _publish_live(event_ids: list[int]) -> None:
    """Each new event to its owner's open asset pages (their own live stream, no one else's)."""
    publish_user_events(
        [
            (
                event.user_id,
                event.asset.symbol,
                "alert",
                {"id": event.pk, "rule": event.rule_id, "text": describe(event), "time": dt_to_ms(event.fired_at)},
            )
            for event in AlertEvent.objects.filter(pk__in=event_ids).select_related("asset")
        ]
    )


def _queue_deliveries(event_ids: list[int]) -> None:
    # By the task's stable name: accounts.tasks imports this module, not the other way round.
    current_app.tasks[DELIVER_EVENTS_TASK].delay(event_ids)


@transaction.atomic
def evaluate_asset_cycle(*, asset: Asset) -> CycleResult:
    memory = _lock_memory(asset)
    rules = _enabled_rules(asset)
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
    event_ids = _store(asset=asset, rules=rules, firings=firings)
    memory.bar_time = ms_to_dt(max([*new_bar_times, dt_to_ms(memory.bar_time), newest_ms]))
    fields = ["bar_time", "updated_at"]
    seen = {tf: m.get("version") for tf, m in memory.clusters.items()}
    if seen != {tf: m.version for tf, m in maps.items()}:  # rewritten only when a map changed
        memory.clusters = {
            tf: {"version": m.version, "through_ms": m.through_ms, "clusters": m.clusters} for tf, m in maps.items()
        }
        fields.append("clusters")
    memory.save(update_fields=fields)
    return CycleResult(len(specs), len(event_ids), event_ids)


def _lock_memory(asset: Asset) -> AlertMarketMemory:
    if connection.vendor == "postgresql":
        # Created or locked in one statement: the no-op update takes the same row lock as FOR UPDATE.
        table = AlertMarketMemory._meta.db_table
        memory = AlertMarketMemory.objects.raw(
            f"INSERT INTO {table} (asset_id, bar_time, clusters, updated_at) VALUES (%s, %s, '{{}}'::jsonb, now()) "
            f"ON CONFLICT (asset_id) DO UPDATE SET bar_time = {table}.bar_time RETURNING *",
            [asset.pk, NO_MEMORY],
        )
        return next(iter(memory))
    AlertMarketMemory.objects.bulk_create(
        [AlertMarketMemory(asset=asset, bar_time=NO_MEMORY, clusters={})], ignore_conflicts=True
    )
    return AlertMarketMemory.objects.select_for_update().get(asset=asset)


@dataclass(frozen=True, slots=True)
class StoredRule:
    """What a cycle reads of a rule: one row of a values query, not a model instance (10 000 of
    those cost more than the whole evaluation)."""

    id: int
    user_id: int
    condition: str
    params: dict[str, Any]
    zone: tuple[float, float | None] | None
    trigger: str
    cooldown_minutes: int
    expires_at: datetime | None
    last_fired_bar: datetime | None
    channels: list[str]
    webhook_active: bool
    followup_horizon_minutes: int | None = None


def _enabled_rules(asset: Asset) -> list[StoredRule]:
    rows = AlertRule.objects.filter(asset=asset, enabled=True).values_list(
        "id",
        "user_id",
        "condition",
        "params",
        "annotation__price",
        "annotation__price_high",
        "trigger",
        "cooldown_minutes",
        "expires_at",
        "last_fired_bar",
        "channels",
        "webhook_url",
        "webhook_disabled_reason",
        "followup_horizon_minutes",
    )
    return [
        StoredRule(
            id=r[0],
            user_id=r[1],
            condition=r[2],
            params=r[3],
            zone=(r[4], r[5]) if r[4] is not None else None,
            trigger=r[6],
            cooldown_minutes=r[7],
            expires_at=r[8],
            last_fired_bar=r[9],
            channels=r[10],
            webhook_active="webhook" in r[10] and bool(r[11]) and not r[12],
            followup_horizon_minutes=r[13],
        )
        for r in rows
    ]


def _params(rule: StoredRule) -> Params:
    if rule.condition == "price_enters_zone":
        assert rule.zone is not None and rule.zone[1] is not None  # a database constraint
        return PriceEntersZone(low=rule.zone[0], high=rule.zone[1])
    return _parsed(rule.condition, tuple(sorted(rule.params.items())))


@lru_cache(maxsize=65_536)
def _parsed(condition: str, items: tuple[tuple[str, Any], ...]) -> Params:
    # Parameters are frozen values: many rules with the same ones share one, checked once a process.
    return params_from_json(condition, dict(items))


def _specs(asset: Asset, rules: Sequence[StoredRule]) -> list[RuleSpec]:
    specs = []
    for rule in rules:
        try:
            spec = RuleSpec(
                id=rule.id,
                asset=asset.symbol,
                params=_params(rule),
                trigger=rule.trigger,  # type: ignore[arg-type]
                cooldown_minutes=rule.cooldown_minutes,
                expires_at_ms=dt_to_ms(rule.expires_at) if rule.expires_at else None,
                enabled=True,
                last_fired_bar_ms=dt_to_ms(rule.last_fired_bar) if rule.last_fired_bar else None,
            )
        except RuleError as exc:  # stored before a limit changed: skipped, not fatal to the others
            log.warning("alert rule %s skipped: %s", rule.id, exc)
            continue
        specs.append(spec)
    return specs


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


def _store(*, asset: Asset, rules: Sequence[StoredRule], firings: Sequence[Firing]) -> list[int]:
    """Insert the events (a conflict on (rule, bar_time) inserts nothing), then update the rules and
    create the deliveries of what was actually inserted. Returns the new events' ids."""
    if not firings:
        return []
    now = timezone.now()
    owner = {r.id: r for r in rules}
    table = AlertEvent._meta.db_table
    json_param = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    values_sql = ", ".join([f"(%s, %s, %s, %s, %s, %s, {json_param}, false, false)"] * len(firings))
    params: list[Any] = []
    for f in firings:
        params += [f.rule_id, owner[f.rule_id].user_id, asset.pk, f.condition, now, ms_to_dt(f.bar_ms)]
        params.append(json.dumps(f.values))
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} (rule_id, user_id, asset_id, condition, fired_at, bar_time, "values", read, test) '
            f"VALUES {values_sql} ON CONFLICT (rule_id, bar_time) DO NOTHING RETURNING id, rule_id, bar_time",
            params,
        )
        returned: list[tuple[int, int, Any]] = cursor.fetchall()
    inserted = [(event_id, rule_id) for event_id, rule_id, _ in returned]
    if not inserted:
        return []
    # Only rules whose event was inserted move on; firings are in bar order, so the last one wins.
    fired_ids = {rule_id for _, rule_id in inserted}
    last_bar: dict[int, int] = {f.rule_id: f.bar_ms for f in firings if f.rule_id in fired_ids}
    by_bar: dict[int, list[int]] = {}
    for rule_id, bar in last_bar.items():
        by_bar.setdefault(bar, []).append(rule_id)
    for bar, ids in by_bar.items():  # one UPDATE per bar time (one, unless a cycle caught up)
        AlertRule.objects.filter(pk__in=ids).update(last_fired_bar=ms_to_dt(bar))
    once = [rule_id for rule_id in last_bar if owner[rule_id].trigger == AlertRule.Trigger.ONCE]
    if once:
        AlertRule.objects.filter(pk__in=once).update(enabled=False)
    deliveries: list[tuple[int, str, int | None]] = [
        (event_id, channel, None)
        for event_id, rule_id in inserted
        for channel in owner[rule_id].channels
        if channel != "webhook" or owner[rule_id].webhook_active
    ]
    targets = _destinations(list(fired_ids))
    deliveries += [(event_id, kind, dest) for event_id, rule_id in inserted for dest, kind in targets.get(rule_id, [])]
    _create_deliveries(deliveries, now)
    # Follow-ups from the firings in hand (no second read of the events): one row per new event.
    by_key = {(f.rule_id, f.bar_ms): f for f in firings}
    followups = []
    for event_id, rule_id, bar_time in returned:
        firing = by_key[(rule_id, _as_ms(bar_time))]
        rule = owner[rule_id]
        pending = pending_followup(
            condition=firing.condition,
            values=firing.values,
            bar_ms=firing.bar_ms,
            params=rule.params,
            horizon_minutes=rule.followup_horizon_minutes,
        )
        if pending is not None:
            followups.append((event_id, rule_id, pending))
    insert_followups(asset_id=asset.pk, rows=followups)
    return [event_id for event_id, _ in inserted]


def _as_ms(value: Any) -> int:
    """A RETURNING timestamp as UTC ms (SQLite hands back text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    return dt_to_ms(value)


def _destinations(rule_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Each fired rule's destinations that are switched on: rule id → [(destination id, kind)]."""
    through = AlertRule.destinations.through
    rows = through.objects.filter(alertrule_id__in=rule_ids, alertdestination__disabled_reason="").values_list(
        "alertrule_id", "alertdestination_id", "alertdestination__kind"
    )
    found: dict[int, list[tuple[int, str]]] = {}
    for rule_id, destination_id, kind in rows:
        found.setdefault(rule_id, []).append((destination_id, kind))
    return found


def _create_deliveries(deliveries: Sequence[tuple[int, str, int | None]], now: datetime) -> None:
    """In-app deliveries are done once the event row exists; the others wait for their task."""
    if connection.vendor != "postgresql":
        AlertDelivery.objects.bulk_create([_delivery(e, c, d, now) for e, c, d in deliveries], ignore_conflicts=True)
        return
    sent = [channel == AlertDelivery.Channel.IN_APP for _, channel, _ in deliveries]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AlertDelivery._meta.db_table} "
            "(event_id, channel, destination_id, status, attempts, last_error, created_at, delivered_at) "
            "SELECT e, c, d, CASE WHEN s THEN 'sent' ELSE 'pending' END, CASE WHEN s THEN 1 ELSE 0 END, '', %s, "
            "CASE WHEN s THEN %s::timestamptz END "
            "FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::boolean[]) AS x(e, c, d, s) ON CONFLICT DO NOTHING",
            [
                now,
                now,
                [e for e, _, _ in deliveries],
                [c for _, c, _ in deliveries],
                [d for _, _, d in deliveries],
                sent,
            ],
        )


def _delivery(event_id: int, channel: str, destination_id: int | None, now: datetime) -> AlertDelivery:
    if channel == AlertDelivery.Channel.IN_APP:  # the event row is the in-app notification
        return AlertDelivery(
            event_id=event_id, channel=channel, status=AlertDelivery.Status.SENT, attempts=1, delivered_at=now
        )
    return AlertDelivery(event_id=event_id, channel=channel, destination_id=destination_id)
