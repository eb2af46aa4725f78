"""The evaluation cycle against PostgreSQL: real sample candles loaded as ingest would, rules stored
through the services, events stored once per rule and bar."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.alerts.evaluation import evaluate_asset
from accounts.alerts.rule_store import alert_rule_create
from accounts.models import AlertDelivery, AlertEvent, AlertMarketMemory, AlertRule, User
from heatmaps.marketdata import ms_to_dt
from heatmaps.models import Asset
from tests.accounts.alerts.db import FIRST, bar_ms, close, crossing_level, load_bars

pytestmark = pytest.mark.django_db
K = FIRST + 400  # the bar the tests make new


def evaluate(asset: Asset) -> tuple[int, int]:
    return evaluate_asset(asset=asset, on_events=lambda ids: None)


def crosses(user: User, price: float, direction: str = "either", **kwargs: Any) -> AlertRule:
    rule, _ = alert_rule_create(
        user=user, asset="BTCUSDT", condition="price_crosses", params={"price": price, "direction": direction}, **kwargs
    )
    return rule


def test_a_new_bar_crossing_the_level_fires_once(alice: User, btc: Asset) -> None:
    level, direction = crossing_level(K)
    rule = crosses(alice, level, direction)
    load_bars(btc, K)  # up to K - 1: the level is not crossed yet
    assert evaluate(btc) == (1, 0)
    load_bars(btc, K + 1, start=K)
    assert evaluate(btc) == (1, 1)
    event = AlertEvent.objects.get()
    assert (event.rule_id, event.user_id, event.asset_id) == (rule.pk, alice.pk, btc.pk)
    assert event.bar_time == ms_to_dt(bar_ms(K))
    assert event.values == {"price": level, "direction": direction, "previous_close": close(K - 1), "close": close(K)}
    rule.refresh_from_db()
    assert rule.last_fired_bar == event.bar_time and rule.enabled
    assert list(AlertDelivery.objects.values_list("channel", "status")) == [("in_app", "sent")]
    # Rerun: nothing new, nothing twice.
    assert evaluate(btc) == (1, 0)
    assert AlertEvent.objects.count() == 1


def test_the_unique_key_holds_when_everything_else_is_forgotten(alice: User, btc: Asset) -> None:
    """Memory lost and the rule's state reset (a worker that died mid-way): still one event."""
    level, direction = crossing_level(K)
    rule = crosses(alice, level, direction)
    load_bars(btc, K + 1)
    assert evaluate(btc) == (1, 1)
    AlertMarketMemory.objects.all().delete()
    AlertRule.objects.filter(pk=rule.pk).update(last_fired_bar=None)
    assert evaluate(btc) == (1, 0)
    assert AlertEvent.objects.count() == 1
    assert AlertDelivery.objects.count() == 1


def test_a_close_exactly_at_the_level_crosses_and_the_next_bar_does_not(alice: User, btc: Asset) -> None:
    level = close(K - 1) + 50.0
    crosses(alice, level, "up", cooldown_minutes=1)
    load_bars(btc, K)
    evaluate(btc)
    load_bars(btc, K + 1, start=K, close=level, high=max(level, close(K)), low=min(close(K - 1), close(K)))
    assert evaluate(btc) == (1, 1)
    load_bars(btc, K + 2, start=K + 1, open=level, close=level + 20, high=level + 30, low=level - 30)
    assert evaluate(btc) == (1, 0)


def test_a_gap_bar_jumping_over_the_level_crosses_it(alice: User, btc: Asset) -> None:
    level = close(K - 1) * 1.01
    crosses(alice, level, "up")
    load_bars(btc, K)
    evaluate(btc)
    gap = level * 1.01
    load_bars(btc, K + 1, start=K, open=gap, low=gap * 0.999, high=gap * 1.002, close=gap * 1.001)
    assert evaluate(btc) == (1, 1)
    assert AlertEvent.objects.get().values["direction"] == "up"


def test_a_wick_through_the_level_that_closes_back_does_not_cross(alice: User, btc: Asset) -> None:
    level = close(K - 1) * 1.005
    crosses(alice, level)
    load_bars(btc, K)
    evaluate(btc)
    load_bars(btc, K + 1, start=K, high=level * 1.002, close=close(K - 1))
    assert evaluate(btc) == (1, 0)


def test_bars_that_landed_together_are_each_evaluated(alice: User, btc: Asset) -> None:
    level, direction = crossing_level(K)
    crosses(alice, level, direction)
    load_bars(btc, K)
    evaluate(btc)
    load_bars(btc, K + 4, start=K)  # four bars in one ingest; the crossing is the first of them
    assert evaluate(btc)[1] >= 1
    assert AlertEvent.objects.order_by("bar_time").first().bar_time == ms_to_dt(bar_ms(K))  # type: ignore[union-attr]


def test_a_once_rule_switches_itself_off(alice: User, btc: Asset) -> None:
    level, _ = crossing_level(K)
    rule = crosses(alice, level, "either", trigger="once")
    load_bars(btc, K)
    evaluate(btc)
    load_bars(btc, K + 1, start=K)
    assert evaluate(btc) == (1, 1)
    rule.refresh_from_db()
    assert not rule.enabled
    assert evaluate(btc) == (0, 0)


def test_an_expired_rule_does_not_fire(alice: User, btc: Asset) -> None:
    level, direction = crossing_level(K)
    rule = crosses(alice, level, direction)
    # Expiry counts in bar time: it ended before bar K closed.
    AlertRule.objects.filter(pk=rule.pk).update(expires_at=ms_to_dt(bar_ms(K)))
    load_bars(btc, K + 1)
    assert evaluate(btc) == (1, 0)


def test_only_the_assets_rules_are_checked_and_other_users_events_stay_theirs(
    alice: User, bob: User, btc: Asset, eth: Asset
) -> None:
    level, direction = crossing_level(K)
    crosses(alice, level, direction)
    crosses(bob, level, direction)
    alert_rule_create(user=bob, asset="ETHUSDT", condition="price_crosses", params={"price": 1.0})
    load_bars(btc, K + 1)
    assert evaluate(btc) == (2, 2)
    assert sorted(AlertEvent.objects.values_list("user__username", flat=True)) == ["alice", "bob"]


def test_the_command_runs_one_cycle_and_prints_the_counts(
    alice: User, btc: Asset, capsys: pytest.CaptureFixture[str]
) -> None:
    level, direction = crossing_level(K)
    crosses(alice, level, direction)
    load_bars(btc, K + 1)
    call_command("evaluate_alerts", "--asset", "btcusdt")
    out = capsys.readouterr().out
    assert out.startswith("1 rules checked, 1 fired (1 assets")
    call_command("evaluate_alerts")
    assert capsys.readouterr().out.startswith("1 rules checked, 0 fired")


def test_expiry_in_the_past_is_refused_at_save(alice: User, btc: Asset) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        crosses(alice, 1.0, expires_at=timezone.now() - timedelta(minutes=1))
    assert "expires_at" in caught.value.message_dict
    assert not AlertRule.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_in_a_fresh_process_queues_the_deliveries(alice: User, btc: Asset) -> None:
    """The command as an operator runs it: in its own process, where no worker has imported the task
    modules, a rule that fires stores its event and queues its email and webhook deliveries."""
    import json
    import os
    import subprocess
    import sys

    import redis
    from django.conf import settings

    from tests.conftest import _database_url

    level, direction = crossing_level(K)
    crosses(alice, level, direction)
    load_bars(btc, K + 1)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("notify")
    env = {**os.environ, "DATABASE_URL": _database_url(settings.DATABASES["default"]), "REDIS_URL": settings.REDIS_URL}
    done = subprocess.run(
        [sys.executable, "manage.py", "evaluate_alerts", "--asset", "BTCUSDT"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "NotRegistered" not in done.stderr
    assert done.stdout.startswith("1 rules checked, 1 fired")
    event = AlertEvent.objects.get()
    queued = [json.loads(m)["headers"] for m in broker.lrange("notify", 0, -1)]
    assert [(h["task"], h["argsrepr"]) for h in queued] == [("accounts.deliver_events", f"([{event.pk}],)")]
