"""Following up fired alerts: the pure measurement over bars (touch, time, moves, liquidations,
reversal, the same-distance baseline without look-ahead), the 95 % interval, and at rest: created
with the event, resolved once by the worker when the horizon has passed, the record on the pages
and the API, and nobody else's record."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.test import Client, TestCase

from accounts.alerts.evaluation import evaluate_asset
from accounts.alerts.followup import (
    MIN_BASELINE_SAMPLES,
    Target,
    default_horizon_minutes,
    follow_up,
    same_distance_rate,
    target_of,
    wilson_interval,
)
from accounts.alerts.followup_store import resolve_followups, rule_record
from accounts.alerts.market import BAR_MS
from accounts.alerts.rule_store import alert_rule_create
from accounts.alerts.webhooks import verify
from accounts.models import AlertDelivery, AlertEvent, AlertFollowUp, AlertRule, User
from accounts.tasks import evaluate_asset_alerts
from heatmaps.models import Asset
from liqplatform.celery import app as celery_app
from tests.accounts.alerts.db import FIRST, crossing_level, load_bars
from tests.accounts.alerts.receiver import Receiver
from tests.accounts.alerts.sample import btc_bars

T0 = 1_700_000_000_000 - 1_700_000_000_000 % BAR_MS


def bars(highs: list[float], lows: list[float], closes: list[float] | None = None) -> dict[str, Any]:
    n = len(highs)
    return {
        "times_ms": T0 + np.arange(n, dtype=np.int64) * BAR_MS,
        "high": np.array(highs, dtype=float),
        "low": np.array(lows, dtype=float),
        "close": np.array(closes if closes is not None else [(h + lo) / 2 for h, lo in zip(highs, lows, strict=True)]),
    }


def test_a_cluster_above_touched_then_reversed() -> None:
    # Fired on bar 0 at 100 with the cluster at 105; bar 3 reaches it, bar 5 falls back 5 % below it.
    data = bars([101, 102, 104, 105.5, 103, 99, 100], [99, 100, 101, 103, 101, 98, 99])
    target = Target(price=105.0, start=100.0, up=True, touched_at_fire=False, distance=0.05)
    liq_times = np.array([T0 + BAR_MS + 10, T0 + 3 * BAR_MS + 10, T0 + 5 * BAR_MS], dtype=np.int64)
    liq_usd = np.array([1_000.0, 2_000.0, 4_000.0])
    liq_long = np.array([False, False, False])
    outcome = follow_up(
        target=target,
        fired_bar_ms=T0,
        horizon_end_ms=T0 + 7 * BAR_MS,
        liquidations=(liq_times, liq_usd, liq_long),
        **data,
    )
    assert outcome.touched and outcome.minutes_to_touch == 15  # the close of bar 3, three bars after firing
    assert outcome.max_toward_pct == pytest.approx(5.5) and outcome.max_against_pct == pytest.approx(2.0)
    assert outcome.liquidated_usd == 3_000.0  # shorts until the touch, not the one after it
    assert outcome.reversed is True  # 98 <= 105 × 0.95


def test_not_touched_within_the_horizon() -> None:
    data = bars([101, 102, 110, 111], [99, 100, 104, 105])
    target = Target(price=105.0, start=100.0, up=True, touched_at_fire=False, distance=0.05)
    # The horizon ends before bar 2, which would have touched.
    outcome = follow_up(target=target, fired_bar_ms=T0, horizon_end_ms=T0 + 2 * BAR_MS, **data)
    assert not outcome.touched and outcome.minutes_to_touch is None and outcome.reversed is None
    assert outcome.liquidated_usd is None  # no recording: unknown, not zero
    assert outcome.max_toward_pct == pytest.approx(2.0)


def test_a_level_below_is_followed_the_other_way() -> None:
    data = bars([100, 99, 97, 99.5], [99, 96, 94.5, 96])
    target = Target(price=95.0, start=100.0, up=False, touched_at_fire=False, distance=0.05)
    outcome = follow_up(target=target, fired_bar_ms=T0, horizon_end_ms=T0 + 4 * BAR_MS, **data)
    assert outcome.touched and outcome.minutes_to_touch == 10 and outcome.reversed is False  # bar 2's low
    assert outcome.max_toward_pct == pytest.approx(5.5) and outcome.max_against_pct == pytest.approx(0.0)


def test_targets_of_each_condition() -> None:
    crossed = target_of("price_crosses", {"price": 100.0, "direction": "down", "previous_close": 101.0, "close": 99})
    assert crossed is not None and (crossed.price, crossed.start, crossed.up, crossed.touched_at_fire) == (
        100.0,
        101.0,
        False,
        True,
    )
    assert crossed.distance == pytest.approx(1 / 101)
    zone = target_of("price_enters_zone", {"low": 90.0, "high": 95.0, "from": "above", "previous_close": 97.0})
    assert zone is not None and zone.price == 95.0 and not zone.up
    cluster = target_of("cluster_within", {"peak_price": 103.0, "price": 100.0, "side": "short"})
    assert (
        cluster is not None and cluster.up and not cluster.touched_at_fire and cluster.distance == pytest.approx(0.03)
    )
    assert target_of("funding_above", {"rate": 0.001}) is None
    assert target_of("cluster_within", {"price": 100.0}) is None
    assert default_horizon_minutes("cluster_within", {"timeframe": "1w"}) == 24 * 60
    assert default_horizon_minutes("cluster_within", {"timeframe": "24h"}) == 4 * 60


def test_same_distance_baseline_counts_reached_levels_and_never_looks_ahead() -> None:
    rng = np.random.default_rng(7)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, 400)))
    highs, lows = closes * 1.002, closes * 0.998
    times = T0 + np.arange(400, dtype=np.int64) * BAR_MS
    before = int(times[300]) + BAR_MS
    args: dict[str, Any] = {
        "times_ms": times,
        "close": closes,
        "before_ms": before,
        "up": True,
        "distance": 0.01,
        "horizon_bars": 12,
    }
    rate = same_distance_rate(high=highs, low=lows, **args)
    # Independently: from each close up to bar 300 whose 12 following bars all closed by then.
    expected = np.mean([highs[t + 1 : t + 13].max() >= closes[t] * 1.01 for t in range(0, 301 - 12)])
    assert rate is not None and rate == pytest.approx(expected) and 0 < rate < 1
    later = highs.copy()
    later[301:] *= 10  # what happened after the event must not move its baseline
    assert same_distance_rate(high=later, low=lows, **args) == rate
    short = {**args, "before_ms": int(times[MIN_BASELINE_SAMPLES]) + BAR_MS}
    assert same_distance_rate(high=highs, low=lows, **short) is None


def test_wilson_interval() -> None:
    low, high = wilson_interval(7, 10)  # type: ignore[misc]
    assert low == pytest.approx(0.3968, abs=1e-4) and high == pytest.approx(0.8922, abs=1e-4)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 5)[0] == 0.0  # type: ignore[index]


# ---- at rest ----------------------------------------------------------------------------------------

K = FIRST + 400
HORIZON = 60  # minutes: twelve bars


def crossing_rule(user: User) -> AlertRule:
    level, direction = crossing_level(K)
    rule, _ = alert_rule_create(
        user=user,
        asset="BTCUSDT",
        condition="price_crosses",
        params={"price": level, "direction": direction},
        followup_horizon_minutes=HORIZON,
    )
    return rule


@pytest.mark.django_db
def test_followed_up_once_by_the_worker_when_the_horizon_passes(alice: User, btc: Asset) -> None:
    rule = crossing_rule(alice)
    load_bars(btc, K + 1)
    evaluate_asset(asset=btc, on_events=lambda ids: None)
    followup = AlertFollowUp.objects.get(rule=rule)
    event = AlertEvent.objects.get(rule=rule)
    assert followup.resolved_at is None and followup.touched_at_fire
    assert followup.horizon_end == event.bar_time + np.timedelta64(5 + HORIZON, "m").item()
    assert resolve_followups(asset=btc) == 0  # the horizon has not passed yet
    load_bars(btc, K + 1 + 6)
    evaluate_asset_alerts(btc.pk)
    followup.refresh_from_db()
    assert followup.resolved_at is None  # half way
    load_bars(btc, K + 1 + 12)
    evaluate_asset_alerts(btc.pk)  # the worker's task resolves what is due
    followup.refresh_from_db()
    assert followup.resolved_at is not None and followup.touched and followup.minutes_to_touch == 0
    # Independently from the sample: the largest move in the crossing direction over the twelve bars.
    sample = btc_bars()
    start, level = float(sample.close[K - 1]), rule.params["price"]
    up = rule.params["direction"] == "up"
    window = slice(K + 1, K + 13)
    toward = (sample.high[window].max() - start) / start if up else (start - sample.low[window].min()) / start
    assert followup.max_toward_pct == pytest.approx(max(toward, 0) * 100, abs=1e-3)
    reversed_ = (
        sample.low[window].min() <= level * (1 - followup_distance(start, level))
        if up
        else sample.high[window].max() >= level * (1 + followup_distance(start, level))
    )
    assert followup.reversed == bool(reversed_)
    resolved_at = followup.resolved_at
    assert resolve_followups(asset=btc) == 0  # resolved once
    followup.refresh_from_db()
    assert followup.resolved_at == resolved_at
    record = rule_record(rule=rule)
    assert (record.fired, record.resolved, record.touched, record.pending) == (1, 1, 1, 0)


def followup_distance(start: float, level: float) -> float:
    return max(abs(level - start) / start, 0.0025)


@pytest.mark.django_db
def test_record_on_the_pages_and_the_api_and_nobody_elses(
    alice: User, alice_client: Client, bob_client: Client, btc: Asset
) -> None:
    rule = crossing_rule(alice)
    load_bars(btc, K + 1)
    evaluate_asset(asset=btc, on_events=lambda ids: None)
    load_bars(btc, K + 1 + 12)
    resolve_followups(asset=btc)
    answer = alice_client.get(f"/api/v1/alert-rules/{rule.pk}/record/").json()
    assert answer["record"]["fired"] == 1 and answer["record"]["touched"] == 1
    assert answer["record"]["touched_interval_95"][1] == 1.0
    (row,) = answer["events"]
    assert row["resolved"] and row["minutes_to_touch"] == 0 and row["event"] == AlertEvent.objects.get().pk
    rules_page = alice_client.get("/alerts/rules/").content.decode()
    assert "fired 1×" in rules_page and f"/alerts/rules/{rule.pk}/record/" in rules_page
    record_page = alice_client.get(f"/alerts/rules/{rule.pk}/record/").content.decode()
    assert 'class="alert-followups"' in record_page and "1 h" in record_page
    history = alice_client.get("/alerts/").content.decode()
    followed = AlertFollowUp.objects.get(rule=rule)
    assert ("reversed" if followed.reversed else "held") in history and "% back" in history
    assert bob_client.get(f"/api/v1/alert-rules/{rule.pk}/record/").status_code == 404
    assert bob_client.get(f"/alerts/rules/{rule.pk}/record/").status_code == 404


@pytest.mark.django_db
def test_test_events_and_funding_rules_are_not_followed(alice: User, alice_client: Client, btc: Asset) -> None:
    rule = crossing_rule(alice)
    alice_client.post(f"/alerts/rules/{rule.pk}/test/")
    assert AlertEvent.objects.filter(test=True).exists() and not AlertFollowUp.objects.exists()


@pytest.mark.django_db
def test_the_follow_up_is_posted_to_the_webhook_when_asked(alice: User, btc: Asset) -> None:
    level, direction = crossing_level(K)
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=False)
    try:
        with Receiver() as receiver:
            url = f"http://127.0.0.1:{receiver.port}/ok"
            rule, secret = alert_rule_create(
                user=alice,
                asset="BTCUSDT",
                condition="price_crosses",
                params={"price": level, "direction": direction},
                channels=["webhook"],
                webhook_url=url,
                followup_horizon_minutes=HORIZON,
                followup_webhook=True,
            )
            quiet, _ = alert_rule_create(
                user=alice,
                asset="BTCUSDT",
                condition="price_crosses",
                params={"price": level, "direction": direction},
                channels=["webhook"],
                webhook_url=url,
                followup_horizon_minutes=HORIZON,
            )
            load_bars(btc, K + 1)
            evaluate_asset(asset=btc, on_events=lambda ids: None)
            load_bars(btc, K + 1 + 12)
            with TestCase.captureOnCommitCallbacks(execute=True):  # the message is queued after commit
                evaluate_asset_alerts(btc.pk)
            bodies = [r for r in receiver.requests if b'"type":"followup"' in r.body]
            assert len(bodies) == 1  # the rule that asked, not the quiet one
            request = bodies[0]
            assert verify(request.body, secret, request.headers["x-liq-timestamp"], request.headers["x-liq-signature"])
            body = json.loads(request.body)
            followed = AlertFollowUp.objects.get(rule=rule)
            assert body["event_id"] == followed.event_id and body["rule_id"] == rule.pk
            assert body["followup"]["touched"] is True and body["followup"]["minutes_to_touch"] == 0
            assert body["followup"]["max_toward_pct"] == followed.max_toward_pct
            assert AlertDelivery.objects.get(channel="followup").status == "sent"
            assert not AlertDelivery.objects.filter(channel="followup", event__rule=quiet).exists()
    finally:
        celery_app.conf.update(task_always_eager=False, task_eager_propagates=True)


@pytest.mark.django_db
def test_follow_ups_to_the_webhook_need_the_webhook(alice: User, btc: Asset) -> None:
    with pytest.raises(ValidationError) as refused:
        alert_rule_create(
            user=alice, asset="BTCUSDT", condition="price_crosses", params={"price": 1.0}, followup_webhook=True
        )
    assert "followup_webhook" in refused.value.message_dict
