"""Follow-ups at rest: one row per fired event of a cluster or price rule, created with the
event, resolved once by the worker when its horizon has passed, and each rule's record.

Idempotent throughout: a follow-up's key is its event, creating twice inserts nothing, and
resolving takes only unresolved rows, locked (SKIP LOCKED), so two workers never resolve one twice.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.alerts.followup import (
    BASELINE_BARS,
    FOLLOWED,
    default_horizon_minutes,
    follow_up,
    target_of,
    wilson_interval,
)
from accounts.alerts.market import BAR_MS
from accounts.models import AlertEvent, AlertFollowUp, AlertRule
from heatmaps.marketdata import dt_to_ms, recent_market, recorded_liquidations
from heatmaps.models import Asset, Candle


def create_followups(*, event_ids: Sequence[int]) -> int:
    """A pending follow-up for each new event of a followed condition; returns how many were new."""
    events = AlertEvent.objects.filter(pk__in=event_ids, test=False, condition__in=FOLLOWED).values_list(
        "pk", "rule_id", "asset_id", "condition", "values", "bar_time", "rule__params", "rule__followup_horizon_minutes"
    )
    rows = []
    for pk, rule_id, asset_id, condition, values, bar_time, params, horizon in events:
        target = target_of(condition, values)
        if target is None:
            continue
        minutes = horizon or default_horizon_minutes(condition, params or {})
        fired_close = bar_time + timedelta(milliseconds=BAR_MS)
        rows.append(
            AlertFollowUp(
                event_id=pk,
                rule_id=rule_id,
                asset_id=asset_id,
                target_price=target.price,
                start_price=target.start,
                touched_at_fire=target.touched_at_fire,
                horizon_end=fired_close + timedelta(minutes=minutes),
            )
        )
    return len(AlertFollowUp.objects.bulk_create(rows, ignore_conflicts=True)) if rows else 0


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
    return len(due)


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
