"""Delivering events: email (one per event, a digest for several), signed webhooks to a receiver on
127.0.0.1 with retries and the switch-off after ten failures in a row, and "send test"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail

from accounts.alerts.delivery import webhook_attempt
from accounts.alerts.evaluation import evaluate_asset
from accounts.alerts.rule_store import alert_rule_create
from accounts.alerts.webhooks import DISABLE_AFTER_FAILURES, verify
from accounts.models import AlertDelivery, AlertEvent, AlertRule, User
from accounts.tasks import deliver_events
from heatmaps.models import Asset
from liqplatform.celery import app as celery_app
from tests.accounts.alerts.db import FIRST, crossing_level, load_bars
from tests.accounts.alerts.receiver import Receiver

pytestmark = pytest.mark.django_db
K = FIRST + 400


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run in this process, retries included (their countdowns skipped)."""
    # Not propagating: an eager retry is then run again at once instead of raised to the caller.
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=False)
    try:
        yield
    finally:
        celery_app.conf.update(task_always_eager=False, task_eager_propagates=True)


def fire(asset: Asset, *rules: AlertRule) -> list[int]:
    """Load bars up to K and evaluate: every rule crossing at K fires once."""
    load_bars(asset, K + 1)
    fired: list[int] = []
    evaluate_asset(asset=asset, on_events=fired.extend)
    return AlertEvent.objects.filter(rule__in=rules).values_list("pk", flat=True)  # type: ignore[return-value]


def crosses(user: User, **kwargs: Any) -> tuple[AlertRule, str]:
    level, direction = crossing_level(K)
    return alert_rule_create(
        user=user, asset="BTCUSDT", condition="price_crosses", params={"price": level, "direction": direction}, **kwargs
    )


def test_one_email_per_event(alice: User, btc: Asset) -> None:
    rule, _ = crosses(alice, channels=["in_app", "email"])
    deliver_events(list(fire(btc, rule)))
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert "BTCUSDT" in message.subject and "price crosses a level" in message.subject
    assert "previous_close" in message.body and "/alerts/" in message.body
    assert "Closed at " in message.body and " through " in message.body  # in words first
    assert AlertDelivery.objects.get(channel="email").status == "sent"
    deliver_events(list(AlertEvent.objects.values_list("pk", flat=True)))  # redelivered task: nothing again
    assert len(mail.outbox) == 1


def test_several_events_in_one_cycle_make_one_digest(alice: User, bob: User, btc: Asset) -> None:
    a1, _ = crosses(alice, channels=["email"])
    a2, _ = crosses(alice, channels=["email"])
    b1, _ = crosses(bob, channels=["email"])
    deliver_events(list(fire(btc, a1, a2, b1)))
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.org", "bob@example.org"]
    digest = next(m for m in mail.outbox if m.to == ["alice@example.org"])
    assert digest.subject.startswith("[liqplatform] 2 alerts")
    assert digest.body.count("BTCUSDT: price crosses a level") == 2


def test_webhook_is_signed_with_the_rules_secret(alice: User, btc: Asset, receiver: Receiver, eager: None) -> None:
    rule, secret = crosses(alice, channels=["webhook"], webhook_url=f"http://127.0.0.1:{receiver.port}/ok")
    (event_id,) = fire(btc, rule)
    deliver_events([event_id])
    (request,) = receiver.requests
    assert verify(request.body, secret, request.headers["x-liq-timestamp"], request.headers["x-liq-signature"])
    assert not verify(
        request.body, "another-secret", request.headers["x-liq-timestamp"], request.headers["x-liq-signature"]
    )
    payload = json.loads(request.body)
    assert payload["event_id"] == event_id and payload["rule_id"] == rule.pk and payload["asset"] == "BTCUSDT"
    assert payload["condition"] == "price_crosses" and payload["values"]["price"] == rule.params["price"]
    delivery = AlertDelivery.objects.get(channel="webhook")
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("sent", 1, 200)


def test_transient_failures_are_retried_and_recorded(alice: User, btc: Asset, receiver: Receiver, eager: None) -> None:
    rule, _ = crosses(alice, channels=["webhook"], webhook_url=f"http://127.0.0.1:{receiver.port}/fail")
    from accounts.tasks import WEBHOOK_MAX_RETRIES

    deliver_events(list(fire(btc, rule)))
    delivery = AlertDelivery.objects.get(channel="webhook")
    assert len(receiver.requests) == delivery.attempts == 1 + WEBHOOK_MAX_RETRIES
    assert (delivery.status, delivery.last_error, delivery.response_status) == ("failed", "HTTP 500", 500)
    rule.refresh_from_db()
    assert rule.webhook_failures == 1 + WEBHOOK_MAX_RETRIES


def test_a_redirect_is_not_retried(alice: User, btc: Asset, receiver: Receiver, eager: None) -> None:
    rule, _ = crosses(alice, channels=["webhook"], webhook_url=f"http://127.0.0.1:{receiver.port}/redirect")
    deliver_events(list(fire(btc, rule)))
    assert [r.path for r in receiver.requests] == ["/redirect"]  # neither followed nor retried
    assert AlertDelivery.objects.get(channel="webhook").last_error.startswith("redirect refused")


def test_ten_failures_in_a_row_switch_the_webhook_off(
    alice: User, btc: Asset, receiver: Receiver, alice_client: object
) -> None:
    rule, _ = crosses(alice, channels=["in_app", "webhook"], webhook_url=f"http://127.0.0.1:{receiver.port}/fail")
    (event_id,) = fire(btc, rule)
    delivery = AlertDelivery.objects.get(channel="webhook")
    for _ in range(DISABLE_AFTER_FAILURES - 1):
        assert webhook_attempt(delivery_id=delivery.pk).retry
    rule.refresh_from_db()
    assert rule.webhook_active and rule.webhook_failures == DISABLE_AFTER_FAILURES - 1
    outcome = webhook_attempt(delivery_id=delivery.pk)
    rule.refresh_from_db()
    assert not rule.webhook_active and "10 failed deliveries in a row" in rule.webhook_disabled_reason
    assert "HTTP 500" in rule.webhook_disabled_reason and not outcome.ok
    assert len(receiver.requests) == DISABLE_AFTER_FAILURES
    assert not webhook_attempt(delivery_id=delivery.pk).retry  # switched off: nothing more is sent
    assert len(receiver.requests) == DISABLE_AFTER_FAILURES
    page = alice_client.get("/alerts/rules/").content.decode()
    assert "failed deliveries in a row" in page and "HTTP 500" in page
    # Saving a new URL switches it on again.
    alice_client.post(
        f"/alerts/rules/{rule.pk}/",
        {
            "asset": "BTCUSDT",
            "condition": "price_crosses",
            "price": rule.params["price"],
            "trigger": "every",
            "cooldown_minutes": 60,
            "enabled": "on",
            "channels": ["in_app", "webhook"],
            "webhook_url": f"http://127.0.0.1:{receiver.port}/ok",
        },
    )
    rule.refresh_from_db()
    assert rule.webhook_active and rule.webhook_failures == 0
    assert event_id


def test_a_success_resets_the_failure_count(alice: User, btc: Asset, receiver: Receiver) -> None:
    rule, _ = crosses(alice, channels=["webhook"], webhook_url=f"http://127.0.0.1:{receiver.port}/fail")
    fire(btc, rule)
    delivery = AlertDelivery.objects.get(channel="webhook")
    webhook_attempt(delivery_id=delivery.pk)
    AlertRule.objects.filter(pk=rule.pk).update(webhook_url=f"http://127.0.0.1:{receiver.port}/ok")
    assert webhook_attempt(delivery_id=delivery.pk).ok
    rule.refresh_from_db()
    assert rule.webhook_failures == 0


def test_send_test_goes_through_every_channel(
    alice: User, btc: Asset, receiver: Receiver, alice_client: object
) -> None:
    rule, secret = crosses(
        alice, channels=["in_app", "email", "webhook"], webhook_url=f"http://127.0.0.1:{receiver.port}/ok"
    )
    response = alice_client.post(f"/alerts/rules/{rule.pk}/test/", follow=True)  # type: ignore[attr-defined]
    page = response.content.decode()
    assert "Test in-app: shown on your alerts page" in page and "Test webhook: answered HTTP 200" in page
    assert "Test email: sent to alice@example.org" in page
    event = AlertEvent.objects.get(rule=rule)
    assert event.test and len(mail.outbox) == 1 and mail.outbox[0].subject.startswith("[liqplatform] TEST")
    (request,) = receiver.requests
    assert json.loads(request.body)["test"] is True
    assert verify(request.body, secret, request.headers["x-liq-timestamp"], request.headers["x-liq-signature"])
    assert set(AlertDelivery.objects.values_list("channel", "status")) == {
        ("in_app", "sent"),
        ("email", "sent"),
        ("webhook", "sent"),
    }
