"""Storing what one evaluation cycle of an asset fired, and its memory, in one statement.

On PostgreSQL one statement of data-modifying CTEs inserts the events (a conflict on the unique
(rule, bar_time) inserts nothing), moves the fired rules' last bar on (and switches off "once"
rules), creates the deliveries — every channel of the rule and every destination switched on at
that moment — and the follow-ups of the events actually inserted, and updates the asset's memory.
Five round trips become one. Other backends (embedded SQLite) take the step-by-step path
(``_store_orm``), which stores the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.alerts.cycle_reads import StoredRule
from accounts.alerts.followup import Pending, pending_followup
from accounts.alerts.followup_store import insert_followups
from accounts.alerts.triggers import Firing
from accounts.models import AlertDelivery, AlertDestination, AlertEvent, AlertFollowUp, AlertMarketMemory, AlertRule
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event this cycle inserted: enough to publish it without reading it back."""

    id: int
    rule_id: int
    user_id: int
    condition: str
    bar_ms: int
    fired_at: datetime


def store_cycle(
    *,
    asset: Asset,
    rules: Sequence[StoredRule],
    firings: Sequence[Firing],
    memory: AlertMarketMemory,
    bar_time: datetime,
    clusters: dict[str, Any] | None,
) -> list[NewEvent]:
    """Store the firings and set the memory's bar time (and its clusters unless None); returns the
    events actually inserted, in firing order."""
    now = timezone.now()
    owner = {r.id: r for r in rules}
    by_key = {(f.rule_id, f.bar_ms): f for f in firings}
    if connection.vendor == "postgresql":
        rows = _store_sql(
            asset=asset, owner=owner, firings=firings, memory=memory, bar_time=bar_time, clusters=clusters, now=now
        )
    else:
        rows = _store_orm(asset=asset, rules=rules, firings=firings)
        memory.bar_time = bar_time
        fields = ["bar_time", "updated_at"]
        if clusters is not None:
            memory.clusters = clusters
            fields.append("clusters")
        memory.save(update_fields=fields)
    return [
        NewEvent(event_id, rule_id, owner[rule_id].user_id, by_key[(rule_id, bar_ms)].condition, bar_ms, now)
        for event_id, rule_id, bar_ms in sorted(rows)
    ]


_SQL = f"""
WITH f AS (
    SELECT * FROM unnest(%(rule)s::bigint[], %(user)s::bigint[], %(condition)s::text[], %(bar)s::timestamptz[],
                         %(values)s::text[], %(once)s::boolean[], %(position)s::int[])
        AS f(rule_id, user_id, condition, bar_time, vals, once, position)
), ins AS (
    INSERT INTO {AlertEvent._meta.db_table} (rule_id, user_id, asset_id, condition, fired_at, bar_time, "values", read, test)
    SELECT rule_id, user_id, %(asset)s, condition, %(now)s, bar_time, vals::jsonb, false, false FROM f ORDER BY position
    ON CONFLICT (rule_id, bar_time) DO NOTHING RETURNING id, rule_id, bar_time
), moved AS (
    -- Firings are in bar order: a rule's newest firing is its last bar, "once" rules are switched off.
    UPDATE {AlertRule._meta.db_table} r SET last_fired_bar = x.bar, enabled = r.enabled AND NOT x.once
    FROM (SELECT rule_id, max(bar_time) AS bar, bool_or(once) AS once FROM f
          WHERE rule_id IN (SELECT rule_id FROM ins) GROUP BY rule_id) x
    WHERE r.id = x.rule_id
), deliveries AS (
    INSERT INTO {AlertDelivery._meta.db_table}
        (event_id, channel, destination_id, status, attempts, last_error, created_at, delivered_at)
    SELECT e, c, d, CASE WHEN c = 'in_app' THEN 'sent' ELSE 'pending' END, CASE WHEN c = 'in_app' THEN 1 ELSE 0 END,
           '', %(now)s, CASE WHEN c = 'in_app' THEN %(now)s::timestamptz END
    FROM (
        SELECT ins.id AS e, x.c, NULL::bigint AS d
        FROM ins JOIN unnest(%(channel_rule)s::bigint[], %(channel)s::text[]) AS x(r, c) ON x.r = ins.rule_id
        UNION ALL
        SELECT ins.id, dest.kind, dest.id
        FROM ins JOIN {AlertRule.destinations.through._meta.db_table} t ON t.alertrule_id = ins.rule_id
        JOIN {AlertDestination._meta.db_table} dest
            ON dest.id = t.alertdestination_id AND dest.disabled_reason = ''
    ) y
    ON CONFLICT DO NOTHING
), followups AS (
    INSERT INTO {AlertFollowUp._meta.db_table}
        (event_id, rule_id, asset_id, target_price, start_price, touched_at_fire, horizon_end)
    SELECT ins.id, ins.rule_id, %(asset)s, x.t, x.s, x.f, to_timestamp(x.h / 1000.0)
    FROM ins JOIN unnest(%(f_rule)s::bigint[], %(f_bar)s::timestamptz[], %(f_target)s::float8[], %(f_start)s::float8[],
                         %(f_touched)s::boolean[], %(f_horizon)s::bigint[]) AS x(r, b, t, s, f, h)
        ON x.r = ins.rule_id AND x.b = ins.bar_time
    ON CONFLICT DO NOTHING
), memory AS (
    UPDATE {AlertMarketMemory._meta.db_table}
    SET bar_time = %(memory_bar)s, updated_at = %(now)s, clusters = COALESCE(%(clusters)s::jsonb, clusters)
    WHERE id = %(memory)s
)
SELECT id, rule_id, (floor(EXTRACT(EPOCH FROM bar_time) * 1000))::bigint FROM ins
"""


def _store_sql(
    *,
    asset: Asset,
    owner: dict[int, StoredRule],
    firings: Sequence[Firing],
    memory: AlertMarketMemory,
    bar_time: datetime,
    clusters: dict[str, Any] | None,
    now: datetime,
) -> list[tuple[int, int, int]]:
    channel_rule: list[int] = []
    channel: list[str] = []
    for rule_id in dict.fromkeys(f.rule_id for f in firings):
        rule = owner[rule_id]
        for name in rule.channels:
            if name != "webhook" or rule.webhook_active:
                channel_rule.append(rule_id)
                channel.append(name)
    followups = [(f, _pending(f, owner[f.rule_id])) for f in firings]
    followups_due = [(f, p) for f, p in followups if p is not None]
    params: dict[str, Any] = {
        "asset": asset.pk,
        "now": now,
        "rule": [f.rule_id for f in firings],
        "user": [owner[f.rule_id].user_id for f in firings],
        "condition": [f.condition for f in firings],
        "bar": [ms_to_dt(f.bar_ms) for f in firings],
        "values": [json.dumps(f.values) for f in firings],
        "once": [owner[f.rule_id].trigger == AlertRule.Trigger.ONCE for f in firings],
        "position": list(range(len(firings))),
        "channel_rule": channel_rule,
        "channel": channel,
        "f_rule": [f.rule_id for f, _ in followups_due],
        "f_bar": [ms_to_dt(f.bar_ms) for f, _ in followups_due],
        "f_target": [p.target.price for _, p in followups_due],
        "f_start": [p.target.start for _, p in followups_due],
        "f_touched": [p.target.touched_at_fire for _, p in followups_due],
        "f_horizon": [p.horizon_end_ms for _, p in followups_due],
        "memory": memory.pk,
        "memory_bar": bar_time,
        "clusters": json.dumps(clusters) if clusters is not None else None,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SQL, params)
        return [(int(i), int(r), int(b)) for i, r, b in cursor.fetchall()]


def _pending(firing: Firing, rule: StoredRule) -> Pending | None:
    return pending_followup(
        condition=firing.condition,
        values=firing.values,
        bar_ms=firing.bar_ms,
        params=rule.params,
        horizon_minutes=rule.followup_horizon_minutes,
    )


def _store_orm(*, asset: Asset, rules: Sequence[StoredRule], firings: Sequence[Firing]) -> list[tuple[int, int, int]]:
    """Insert the events (a conflict on (rule, bar_time) inserts nothing), then update the rules and
    create the deliveries of what was actually inserted. Returns the new events (id, rule id, bar ms)."""
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
    return [(event_id, rule_id, _as_ms(bar_time)) for event_id, rule_id, bar_time in returned]


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
