"""Follow-ups at rest: one row per fired event of a cluster or price rule, inserted with the
event, resolved once by the worker when its horizon has passed, and each rule's record.

Idempotent throughout: a follow-up's key is its event, creating twice inserts nothing, and
resolving takes only unresolved rows, locked (SKIP LOCKED), so two workers never resolve one twice.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.alerts.followup import (
    BASELINE_BARS,
    Pending,
    follow_up,
    target_of,
    wilson_interval,
)
from accounts.alerts.market import BAR_MS
from accounts.models import AlertDelivery, AlertEvent, AlertFollowUp, AlertRule
from heatmaps.marketdata import dt_to_ms, ms_to_dt, recent_market, recorded_liquidations
from heatmaps.models import Asset, Candle
from liqplatform.celery import app as celery_app

WEBHOOK_TASK = "accounts.deliver_webhook"


def insert_followups(*, asset_id: int, rows: Sequence[tuple[int, int, Pending]]) -> int:
    """Insert pending follow-ups (event id, rule id, what to follow); one that exists is kept.
    One statement for the lot on PostgreSQL: a cycle can fire thousands of events."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        made = [
            AlertFollowUp(
                event_id=event_id,
                rule_id=rule_id,
                asset_id=asset_id,
                target_price=p.target.price,
                start_price=p.target.start,
                touched_at_fire=p.target.touched_at_fire,
                horizon_end=ms_to_dt(p.horizon_end_ms),
            )
            for event_id, rule_id, p in rows
        ]
        return len(AlertFollowUp.objects.bulk_create(made, ignore_conflicts=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AlertFollowUp._meta.db_table} "
            "(event_id, rule_id, asset_id, target_price, start_price, touched_at_fire, horizon_end) "
            "SELECT e, r, %s, t, s, f, to_timestamp(h / 1000.0) "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::float8[], %s::boolean[], %s::bigint[]) "
            "AS x(e, r, t, s, f, h) ON CONFLICT DO NOTHING",
            [
                asset_id,
                [e for e, _, _ in rows],
                [r for _, r, _ in rows],
                [p.target.price for _, _, p in rows],
                [p.target.start for _, _, p in rows],
                [p.target.touched_at_fire for _, _, p in rows],
                [p.horizon_end_ms for _, _, p in rows],
            ],
        )
        return int(cursor.rowcount)


@transaction.atomic
def resolve_followups(*, asset: Asset) -> int:
    """Resolve every pending follow-up of ``asset`` whose horizon the stored bars have reached."""
    newest = (
        Candle.objects.filter(asset=asset, exchange_id=asset.reference_exchange_id)
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    if newest is None:
        return 0
    newest_close = newest + timedelta(milliseconds=BAR_MS)
    due = list(
        AlertFollowUp.objects.select_for_update(skip_locked=True)
        .filter(asset=asset, resolved_at__isnull=True, horizon_end__lte=newest_close)
        .select_related("event")
    )
    if not due:
        return 0
    earliest = min(f.event.bar_time for f in due)
    reach = newest_close - earliest + timedelta(milliseconds=BAR_MS * (BASELINE_BARS + 2))
    market = recent_market(asset=asset, window=reach, bars=2)
    assert market is not None
    bars = market.bars
    recorded = recorded_liquidations(asset=asset, since=earliest)
    liquidations = (recorded.times_ms, recorded.usd, recorded.long) if recorded is not None else None
    now = timezone.now()
    for row in due:
        target = target_of(row.event.condition, row.event.values)
        if target is None:  # cannot happen for a row created from the same values; resolved empty
            row.resolved_at = now
            row.save(update_fields=["resolved_at"])
            continue
        outcome = follow_up(
            target=target,
            fired_bar_ms=dt_to_ms(row.event.bar_time),
            horizon_end_ms=dt_to_ms(row.horizon_end),
            times_ms=bars.times_ms,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            liquidations=liquidations,
        )
        for name in (
            "touched",
            "minutes_to_touch",
            "max_toward_pct",
            "max_against_pct",
            "liquidated_usd",
            "reversed",
            "baseline_rate",
        ):
            setattr(row, name, getattr(outcome, name))
        row.resolved_at = now
        row.save()
    _queue_followup_webhooks([row.event_id for row in due], now=now)
    return len(due)


def _queue_followup_webhooks(event_ids: list[int], *, now: datetime) -> None:
    """A signed follow-up message for each resolved event whose rule asks for one (after commit)."""
    wanted = list(
        AlertEvent.objects.filter(pk__in=event_ids, rule__followup_webhook=True, rule__webhook_disabled_reason="")
        .exclude(rule__webhook_url="")
        .values_list("pk", "rule__channels")
    )
    rows = [
        AlertDelivery(event_id=pk, channel=AlertDelivery.Channel.FOLLOWUP)
        for pk, channels in wanted
        if "webhook" in channels
    ]
    made = AlertDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(
        AlertDelivery.objects.filter(
            event_id__in=[d.event_id for d in made], channel=AlertDelivery.Channel.FOLLOWUP, status="pending"
        ).values_list("pk", flat=True)
    )
    if ids:
        # By the task's stable name: accounts.tasks imports this module, not the other way round.
        transaction.on_commit(lambda: [celery_app.tasks[WEBHOOK_TASK].delay(i) for i in ids])


@dataclass(frozen=True)
class RuleRecord:
    """How a rule's alerts turned out (docs/alerts.md, "Follow-up")."""

    fired: int
    resolved: int
    pending: int
    touched: int
    touched_interval: tuple[float, float] | None
    median_minutes_to_touch: float | None
    reversals: int
    baseline_rate: float | None
    touched_at_fire: bool

    @property
    def touched_rate(self) -> float | None:
        return self.touched / self.resolved if self.resolved else None

    def to_json(self) -> dict[str, Any]:
        return {
            "fired": self.fired,
            "resolved": self.resolved,
            "pending": self.pending,
            "touched": self.touched,
            "touched_rate": self.touched_rate,
            "touched_interval_95": list(self.touched_interval) if self.touched_interval else None,
            "median_minutes_to_touch": self.median_minutes_to_touch,
            "reversals": self.reversals,
            "baseline_rate": self.baseline_rate,
            "touched_at_fire": self.touched_at_fire,
        }


def followups_for_rule(*, rule: AlertRule) -> QuerySet[AlertFollowUp]:
    return AlertFollowUp.objects.filter(rule=rule).select_related("event").order_by("-event__bar_time")


def record_of(rows: Sequence[Any], *, fired: int) -> RuleRecord:
    """The record over follow-ups (model rows or anything with the same attributes)."""
    resolved = [r for r in rows if r.touched is not None]
    touched = [r for r in resolved if r.touched]
    times = [r.minutes_to_touch for r in touched if r.minutes_to_touch is not None]
    baselines = [r.baseline_rate for r in resolved if r.baseline_rate is not None]
    return RuleRecord(
        fired=fired,
        resolved=len(resolved),
        pending=len(rows) - len(resolved),
        touched=len(touched),
        touched_interval=wilson_interval(len(touched), len(resolved)),
        median_minutes_to_touch=float(statistics.median(times)) if times else None,
        reversals=sum(1 for r in touched if r.reversed),
        baseline_rate=float(np.mean(baselines)) if baselines else None,
        touched_at_fire=bool(rows) and all(r.touched_at_fire for r in rows),
    )


def rule_record(*, rule: AlertRule) -> RuleRecord:
    rows = list(followups_for_rule(rule=rule))
    fired = AlertEvent.objects.filter(rule=rule, test=False).count()
    return record_of(rows, fired=fired)


def rule_records(*, rules: Sequence[AlertRule]) -> dict[int, RuleRecord]:
    """Records of many rules in two queries (the rules page)."""
    by_rule: dict[int, list[AlertFollowUp]] = {r.pk: [] for r in rules}
    for row in AlertFollowUp.objects.filter(rule__in=rules).only(
        "rule_id", "touched", "minutes_to_touch", "reversed", "baseline_rate", "touched_at_fire"
    ):
        by_rule[row.rule_id].append(row)
    counts: dict[int, int] = {}
    for rule_id in AlertEvent.objects.filter(rule__in=rules, test=False).values_list("rule_id", flat=True):
        counts[rule_id] = counts.get(rule_id, 0) + 1
    return {pk: record_of(rows, fired=counts.get(pk, 0)) for pk, rows in by_rule.items()}
