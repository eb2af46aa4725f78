"""Firing at most once with a real Celery worker: the task queued twice while this process runs the
same cycle in two threads, all at once — one event. And the path from new market data (heatmaps'
signal) to an event, through the worker."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.alerts.evaluation import evaluate_asset
from accounts.alerts.rule_store import alert_rule_create
from accounts.models import AlertEvent, User
from accounts.tasks import evaluate_asset_alerts
from heatmaps.events import announce_market_data
from heatmaps.models import Asset
from tests.accounts.alerts.db import FIRST, crossing_level, load_bars
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]
K = FIRST + 400


def test_twice_and_concurrently_one_event(alice: User, btc: Asset) -> None:
    level, direction = crossing_level(K)
    rule, _ = alert_rule_create(
        user=alice, asset="BTCUSDT", condition="price_crosses", params={"price": level, "direction": direction}
    )
    load_bars(btc, K + 1)
    results = [evaluate_asset_alerts.delay(btc.pk), evaluate_asset_alerts.delay(btc.pk)]
    fired: list[int] = []

    def run() -> None:
        try:
            fired.append(evaluate_asset(asset=btc, on_events=lambda ids: None)[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    worker_fired = [r.get(timeout=60)[1] for r in results]
    assert sum(fired) + sum(worker_fired) == 1
    (event,) = AlertEvent.objects.filter(rule=rule)
    assert event.values["price"] == level


def test_new_market_data_reaches_the_worker_and_fires(alice: User, btc: Asset) -> None:
    level, direction = crossing_level(K)
    alert_rule_create(
        user=alice, asset="BTCUSDT", condition="price_crosses", params={"price": level, "direction": direction}
    )
    load_bars(btc, K)
    evaluate_asset(asset=btc, on_events=lambda ids: None)  # the cycle before the new bar
    load_bars(btc, K + 1, start=K)
    announce_market_data(btc.pk)  # what heatmaps' ingest and recompute tasks send after commit
    wait_for(lambda: AlertEvent.objects.filter(user=alice).exists(), timeout=60)
    assert AlertEvent.objects.count() == 1
