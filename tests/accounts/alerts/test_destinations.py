"""Alert destinations end to end: added on the profile page (sealed, shown masked), a test
message, picked on a rule, delivered by the worker's task to a stand-in Telegram or Discord API on
127.0.0.1, transient failures retried, permanent ones shown, switched off after ten in a row; and
nobody reaches another user's destination."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.alerts.destinations import destination_attempt, destination_create
from accounts.alerts.evaluation import evaluate_asset
from accounts.alerts.rule_store import alert_rule_create
from accounts.alerts.webhooks import DISABLE_AFTER_FAILURES
from accounts.models import AlertDelivery, AlertDestination, AlertEvent, AlertRule, User
from accounts.tasks import deliver_events
from heatmaps.models import Asset
from liqplatform.celery import app as celery_app
from tests.accounts.alerts.db import FIRST, crossing_level, load_bars
from tests.accounts.alerts.standin import Answer, StandIn
from tests.accounts.alerts.test_channels import DISCORD_ID, DISCORD_TOKEN, DISCORD_URL, TOKEN

pytestmark = pytest.mark.django_db
K = FIRST + 400
OK = Answer(200, {"ok": True, "result": {"message_id": 1}})


@pytest.fixture
def stand_in(settings: Any) -> Iterator[StandIn]:
    with StandIn() as server:
        settings.LIQ_TELEGRAM_API_URL = server.url
        settings.LIQ_DISCORD_API_URL = server.url + "/api/v10"
        yield server


@pytest.fixture
def eager() -> Iterator[None]:
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=False)
    try:
        yield
    finally:
        celery_app.conf.update(task_always_eager=False, task_eager_propagates=True)


def telegram_of(user: User, name: str = "desk") -> AlertDestination:
    return destination_create(user=user, kind="telegram", name=name, fields={"bot_token": TOKEN, "chat_id": "4242"})


def crossing_rule(user: User, destination: AlertDestination, **kwargs: Any) -> AlertRule:
    level, direction = crossing_level(K)
    rule, _ = alert_rule_create(
        user=user,
        asset="BTCUSDT",
        condition="price_crosses",
        params={"price": level, "direction": direction},
        destinations=[destination.pk],
        **kwargs,
    )
    return rule


def fire(asset: Asset) -> list[int]:
    load_bars(asset, K + 1)
    fired: list[int] = []
    evaluate_asset(asset=asset, on_events=fired.extend)
    return list(AlertEvent.objects.values_list("pk", flat=True))


def test_the_secret_is_sealed_and_never_shown_again(alice: User, alice_client: Client) -> None:
    response = alice_client.post(
        "/account/destinations/",
        {"kind": "discord", "name": "signals", "discord_webhook_url": DISCORD_URL},
    )
    assert response.status_code == 302 and response["Location"].endswith("#alert-destinations")
    stored = AlertDestination.objects.get(user=alice)
    assert DISCORD_TOKEN not in stored.sealed and DISCORD_ID not in stored.sealed  # encrypted at rest
    page = alice_client.get("/account/profile/").content.decode()
    assert 'id="alert-destinations"' in page and "signals" in page and stored.hint in page
    assert DISCORD_TOKEN not in page and DISCORD_TOKEN[:20] not in page


def test_a_bad_destination_is_refused_with_its_reason(alice: User, alice_client: Client) -> None:
    response = alice_client.post(
        "/account/destinations/",
        {"kind": "telegram", "name": "x", "telegram_bot_token": "nope", "telegram_chat_id": "42"},
        follow=True,
    )
    assert not AlertDestination.objects.exists()
    assert "bot token BotFather gave you" in response.content.decode()


def test_send_test_reaches_the_chat_and_a_bad_token_is_shown(
    alice: User, alice_client: Client, stand_in: StandIn
) -> None:
    destination = telegram_of(alice)
    page = alice_client.post(f"/account/destinations/{destination.pk}/test/", follow=True).content.decode()
    assert "Test message sent" in page
    (request,) = stand_in.requests
    assert request.path == f"/bot{TOKEN}/sendMessage" and request.json()["chat_id"] == 4242
    assert "test message" in request.json()["text"]
    stand_in.answers = [Answer(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})]
    page = alice_client.post(f"/account/destinations/{destination.pk}/test/", follow=True).content.decode()
    assert "failed" in page and "Unauthorized" in page
    destination.refresh_from_db()
    assert "Unauthorized" in destination.last_error and destination.failures == 0  # tests do not count


def test_a_fired_rule_reaches_its_destination_in_plain_words(
    alice: User, btc: Asset, stand_in: StandIn, eager: None
) -> None:
    destination = telegram_of(alice)
    rule = crossing_rule(alice, destination, channels=[])
    deliver_events(fire(btc))
    (request,) = stand_in.requests
    text = request.json()["text"]
    level = rule.params["price"]
    assert text.startswith("BTCUSDT: Price crosses ") and f"{level:,.1f}"[:-2] in text
    assert "bar closed" in text and "/assets/BTCUSDT/" in text
    delivery = AlertDelivery.objects.get(destination=destination)
    assert (delivery.channel, delivery.status, delivery.attempts) == ("telegram", "sent", 1)
    deliver_events(list(AlertEvent.objects.values_list("pk", flat=True)))  # a redelivered task sends nothing
    assert len(stand_in.requests) == 1


def test_transient_failures_are_retried_then_succeed(alice: User, btc: Asset, stand_in: StandIn, eager: None) -> None:
    stand_in.answers = [
        Answer(502, {"description": "bad gateway"}),
        Answer(429, {"ok": False}, {"Retry-After": "0"}),
        OK,
    ]
    destination = telegram_of(alice)
    crossing_rule(alice, destination)
    deliver_events(fire(btc))
    assert len(stand_in.requests) == 3
    delivery = AlertDelivery.objects.get(destination=destination)
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    destination.refresh_from_db()
    assert destination.failures == 0 and destination.last_success_at is not None


def test_a_permanent_failure_is_not_retried_and_is_shown(
    alice: User, alice_client: Client, btc: Asset, stand_in: StandIn, eager: None
) -> None:
    stand_in.answers = [Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})]
    destination = telegram_of(alice)
    crossing_rule(alice, destination)
    deliver_events(fire(btc))
    assert len(stand_in.requests) == 1
    delivery = AlertDelivery.objects.get(destination=destination)
    assert delivery.status == "failed" and "chat not found" in delivery.last_error
    page = alice_client.get("/account/profile/").content.decode()
    assert "chat not found" in page and "(permanent)" in page


def test_ten_failures_in_a_row_switch_it_off(alice: User, btc: Asset, stand_in: StandIn) -> None:
    stand_in.answers = [Answer(500, {"ok": False})]
    destination = telegram_of(alice)
    crossing_rule(alice, destination)
    fire(btc)
    delivery = AlertDelivery.objects.get(destination=destination)
    for _ in range(DISABLE_AFTER_FAILURES):
        assert destination_attempt(delivery_id=delivery.pk).retry
    destination.refresh_from_db()
    assert destination.failures == DISABLE_AFTER_FAILURES and "Switched off" in destination.disabled_reason
    result = destination_attempt(delivery_id=delivery.pk)
    assert not result.ok and not result.retry and len(stand_in.requests) == DISABLE_AFTER_FAILURES


def test_a_switched_off_destination_gets_no_new_deliveries(alice: User, btc: Asset) -> None:
    destination = telegram_of(alice)
    destination.disabled_reason = "switched off"
    destination.save()
    crossing_rule(alice, destination)
    fire(btc)
    assert AlertEvent.objects.count() == 1 and not AlertDelivery.objects.filter(destination=destination).exists()


def test_discord_destination_delivers_its_documented_payload(
    alice: User, btc: Asset, stand_in: StandIn, eager: None
) -> None:
    stand_in.answers = [Answer(200, {"id": "9"})]
    destination = destination_create(user=alice, kind="discord", name="chan", fields={"webhook_url": DISCORD_URL})
    crossing_rule(alice, destination, channels=["in_app"])
    deliver_events(fire(btc))
    (request,) = stand_in.requests
    assert request.path == f"/api/v10/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}?wait=true"
    body = request.json()
    assert body["allowed_mentions"] == {"parse": []} and body["content"].startswith("BTCUSDT: Price crosses")


def test_nobody_reaches_another_users_destination(
    alice: User, bob: User, bob_client: Client, btc: Asset, stand_in: StandIn
) -> None:
    destination = telegram_of(alice)
    assert bob_client.post(f"/account/destinations/{destination.pk}/test/").status_code == 404
    assert bob_client.post(f"/account/destinations/{destination.pk}/delete/").status_code == 404
    assert not stand_in.requests and AlertDestination.objects.filter(pk=destination.pk).exists()
    assert "desk" not in bob_client.get("/account/profile/").content.decode()
    # Nor can a rule of his send to it, by the API or the form.
    response = bob_client.post(
        "/api/v1/alert-rules/",
        {"asset": "BTCUSDT", "condition": "price_crosses", "price": 1.0, "destinations": [destination.pk]},
        content_type="application/json",
    )
    assert response.status_code == 400 and "destinations" in response.json()
    form = bob_client.get("/alerts/rules/new/").content.decode()
    assert f'value="{destination.pk}"' not in form or "desk" not in form
    assert not AlertRule.objects.filter(user=bob).exists()


def test_rule_api_and_form_pick_destinations(alice: User, alice_client: Client, btc: Asset) -> None:
    destination = telegram_of(alice)
    created = alice_client.post(
        "/api/v1/alert-rules/",
        {"asset": "BTCUSDT", "condition": "price_crosses", "price": 90000, "destinations": [destination.pk]},
        content_type="application/json",
    ).json()
    assert created["destinations"] == [destination.pk]
    assert created["description"] == "Price crosses 90,000 either way"
    form = alice_client.get(f"/alerts/rules/{created['id']}/").content.decode()
    assert "Telegram: desk" in form and f'value="{destination.pk}"' in form
    alice_client.patch(f"/api/v1/alert-rules/{created['id']}/", {"destinations": []}, content_type="application/json")
    assert not AlertRule.objects.get(pk=created["id"]).destinations.exists()


def test_send_test_on_a_rule_reaches_its_destinations(
    alice: User, alice_client: Client, btc: Asset, stand_in: StandIn
) -> None:
    destination = telegram_of(alice)
    rule = crossing_rule(alice, destination, channels=["in_app"])
    page = alice_client.post(f"/alerts/rules/{rule.pk}/test/", follow=True).content.decode()
    assert "Test in-app: shown on your alerts page" in page and "Test Telegram “desk”: answered HTTP 200" in page
    (request,) = stand_in.requests
    assert request.json()["text"].startswith("TEST · BTCUSDT: Price crosses")
    assert AlertDelivery.objects.get(destination=destination).status == "sent"


@pytest.mark.parametrize("bad", [[2**70], [True], ["x"], "1", [1.5], [[1]], {"a": 1}])
def test_unusable_destination_ids_are_a_400(alice_client: Client, btc: Asset, bad: object) -> None:
    response = alice_client.post(
        "/api/v1/alert-rules/",
        {"asset": "BTCUSDT", "condition": "price_crosses", "price": 1.0, "destinations": bad},
        content_type="application/json",
    )
    assert response.status_code == 400 and "destinations" in response.json()
    assert not AlertRule.objects.exists()


def test_deleting_destinations_keeps_their_delivery_history(alice: User, btc: Asset) -> None:
    first, second = telegram_of(alice, "one"), telegram_of(alice, "two")
    level, direction = crossing_level(K)
    rule, _ = alert_rule_create(
        user=alice,
        asset="BTCUSDT",
        condition="price_crosses",
        params={"price": level, "direction": direction},
        destinations=[first.pk, second.pk],
    )
    fire(btc)
    assert AlertDelivery.objects.filter(channel="telegram").count() == 2
    first.delete()
    second.delete()  # two telegram rows of one event, both without a destination now: allowed
    kept = AlertDelivery.objects.filter(event__rule=rule, channel="telegram")
    assert kept.count() == 2 and all(d.destination_id is None for d in kept)
    assert not rule.destinations.exists()
