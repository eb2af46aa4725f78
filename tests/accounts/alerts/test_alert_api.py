"""/api/v1/alert-rules/ and /api/v1/alerts/: the issue's field names, 201 with the secret once,
field-named 400s with nothing saved, SSRF refusals at save time, pagination and mark read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.alerts.rule_store import MAX_RULES, alert_rule_create
from accounts.annotations import annotation_create
from accounts.models import AlertEvent, AlertRule, User
from heatmaps.models import Asset

pytestmark = pytest.mark.django_db


def post(client: Client, data: dict[str, Any]) -> Any:
    return client.post("/api/v1/alert-rules/", json.dumps(data), content_type="application/json")


def patch(client: Client, url: str, data: dict[str, Any]) -> Any:
    return client.patch(url, json.dumps(data), content_type="application/json")


def test_create_answers_201_with_the_id_and_the_secret_once(alice_client: Client, btc: Asset) -> None:
    response = post(
        alice_client,
        {
            "asset": "BTCUSDT",
            "condition": "price_crosses",
            "price": 90000,
            "direction": "up",
            "trigger": "once",
            "channels": ["in_app", "email"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    rule = AlertRule.objects.get()
    assert body["id"] == rule.pk and body["webhook_secret"] == rule.webhook_secret
    assert body["webhook_secret"].startswith("whsec_")
    assert {
        k: body[k]
        for k in (
            "asset",
            "condition",
            "price",
            "direction",
            "trigger",
            "cooldown_minutes",
            "enabled",
            "channels",
            "webhook_url",
            "expires_at",
        )
    } == {
        "asset": "BTCUSDT",
        "condition": "price_crosses",
        "price": 90000,
        "direction": "up",
        "trigger": "once",
        "cooldown_minutes": 60,
        "enabled": True,
        "channels": ["in_app", "email"],
        "webhook_url": "",
        "expires_at": None,
    }
    again = alice_client.get(f"/api/v1/alert-rules/{rule.pk}/").json()
    assert "webhook_secret" not in again and again["price"] == 90000
    assert all("webhook_secret" not in r for r in alice_client.get("/api/v1/alert-rules/").json())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"condition": "price_teleports"}, "condition"),
        ({"condition": "cluster_within", "percent": 0, "timeframe": "1w"}, "percent"),
        ({"condition": "cluster_within", "percent": 50.5, "timeframe": "1w"}, "percent"),
        ({"condition": "cluster_within", "percent": -1, "timeframe": "1w"}, "percent"),
        ({"condition": "cluster_within", "percent": 2}, "timeframe"),
        ({"condition": "cluster_within", "percent": 2, "timeframe": "2d"}, "timeframe"),
        ({"condition": "cluster_swept", "min_usd": -5, "timeframe": "1w"}, "min_usd"),
        ({"condition": "cluster_forms", "percent": 2, "timeframe": "1w"}, "min_usd"),
        ({"condition": "price_crosses"}, "price"),
        ({"condition": "price_crosses", "price": "90000"}, "price"),
        ({"condition": "price_crosses", "price": 1, "direction": "sideways"}, "direction"),
        ({"condition": "price_crosses", "price": 1, "percent": 2}, "percent"),
        ({"condition": "price_crosses", "price": 1, "cooldown_minutes": 0}, "cooldown_minutes"),
        ({"condition": "price_crosses", "price": 1, "channels": ["pager"]}, "channels"),
        ({"condition": "price_crosses", "price": 1, "channels": []}, "channels"),
        ({"condition": "price_crosses", "price": 1, "channels": ["webhook"]}, "webhook_url"),
        ({"condition": "price_crosses", "price": 1, "params": {"price": 1}}, "params"),
        ({"condition": "funding_above", "rate": 2}, "rate"),
        ({"condition": "oi_change", "percent": 5, "window_minutes": 2}, "window_minutes"),
        ({"condition": "price_enters_zone"}, "annotation"),
        ({"condition": "price_crosses", "price": 1, "asset": "NOPEUSDT"}, "asset"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    alice_client: Client, btc: Asset, data: dict[str, Any], field: str
) -> None:
    response = post(alice_client, {"asset": "BTCUSDT", **data})
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not AlertRule.objects.exists()


def test_a_zone_must_be_the_users_own(alice_client: Client, alice: User, bob: User, btc: Asset) -> None:
    bobs = annotation_create(user=bob, asset="BTCUSDT", kind="zone", price=80_000, price_high=81_000)
    level = annotation_create(user=alice, asset="BTCUSDT", kind="level", price=80_000)
    for annotation in (bobs.pk, level.pk, 999_999):
        response = post(alice_client, {"asset": "BTCUSDT", "condition": "price_enters_zone", "annotation": annotation})
        assert response.status_code == 400 and "annotation" in response.json()
    assert not AlertRule.objects.exists()
    mine = annotation_create(user=alice, asset="BTCUSDT", kind="zone", price=80_000, price_high=81_000)
    response = post(alice_client, {"asset": "BTCUSDT", "condition": "price_enters_zone", "annotation": mine.pk})
    assert response.status_code == 201 and response.json()["annotation"] == mine.pk


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://[fd00::1]/hook",
        "https://[::1]/hook",
        "https://localhost/hook",  # a host name that resolves to 127.0.0.1
        "ftp://93.184.215.14/hook",
        "http://93.184.215.14/hook",  # plain http: development servers only
        "https://user:pw@93.184.215.14/hook",
    ],
)
def test_webhook_urls_into_our_network_are_refused_at_save(
    alice_client: Client, btc: Asset, settings: Any, url: str
) -> None:
    settings.LIQ_WEBHOOK_ALLOW_LOCAL = False  # production policy (the suite allows loopback for its receiver)
    settings.LIQ_WEBHOOK_ALLOW_HTTP = False
    data = {"asset": "BTCUSDT", "condition": "price_crosses", "price": 1, "channels": ["webhook"], "webhook_url": url}
    response = post(alice_client, data)
    assert response.status_code == 400
    assert "cannot be used" in response.json()["webhook_url"][0]
    page = alice_client.post(
        "/alerts/rules/new/", {**data, "trigger": "every", "cooldown_minutes": 60, "enabled": "on"}
    )
    assert page.status_code == 200 and "This URL cannot be used" in page.content.decode()
    assert not AlertRule.objects.exists()
    data["webhook_url"] = "https://93.184.215.14/hook"  # a public address is fine
    assert post(alice_client, data).status_code == 201


@pytest.mark.parametrize(
    "data, field",
    [
        ({"condition": "price_crosses", "price": 10**400}, "price"),
        ({"condition": "funding_above", "rate": -(10**400)}, "rate"),
        ({"condition": "cluster_within", "percent": 10**400, "timeframe": "24h"}, "percent"),
        ({"condition": "cluster_within", "percent": 1, "timeframe": "24h", "min_usd": 10**400}, "min_usd"),
        ({"condition": "oi_change", "percent": 10**400, "window_minutes": 60}, "percent"),
        (
            {"condition": "price_crosses", "price": 1, "channels": ["webhook"], "webhook_url": "https://[::1"},
            "webhook_url",
        ),
    ],
)
def test_numbers_beyond_a_float_and_unparsable_urls_are_a_400_not_a_500(
    alice_client: Client, alice: User, btc: Asset, data: dict[str, Any], field: str
) -> None:
    # Found by fuzzing: an integer too large for a float and a URL urlsplit cannot parse raised.
    response = post(alice_client, {"asset": "BTCUSDT", **data})
    assert response.status_code == 400 and field in response.json(), response.content
    assert not AlertRule.objects.exists()
    rule, _ = alert_rule_create(user=alice, asset="BTCUSDT", condition="price_crosses", params={"price": 1.0})
    before = (rule.condition, rule.params, rule.webhook_url)
    response = patch(alice_client, f"/api/v1/alert-rules/{rule.pk}/", data)
    assert response.status_code == 400 and field in response.json(), response.content
    rule.refresh_from_db()
    assert (rule.condition, rule.params, rule.webhook_url) == before


def test_patch_changes_only_what_is_given_and_refuses_bad_values(alice_client: Client, alice: User, btc: Asset) -> None:
    rule, _ = alert_rule_create(
        user=alice, asset="BTCUSDT", condition="cluster_within", params={"percent": 2, "timeframe": "1w"}
    )
    url = f"/api/v1/alert-rules/{rule.pk}/"
    body = patch(alice_client, url, {"percent": 3, "enabled": False}).json()
    assert (body["percent"], body["timeframe"], body["side"], body["enabled"]) == (3, "1w", "either", False)
    response = patch(alice_client, url, {"percent": 80})
    assert response.status_code == 400 and "percent" in response.json()
    body = patch(alice_client, url, {"condition": "funding_above", "rate": 0.0005}).json()
    assert body["condition"] == "funding_above" and body["rate"] == 0.0005 and "percent" not in body
    assert alice_client.delete(url).status_code == 204
    assert not AlertRule.objects.exists()


def test_at_most_200_rules(alice_client: Client, alice: User, btc: Asset) -> None:
    AlertRule.objects.bulk_create(
        [
            AlertRule(
                user=alice, asset=btc, condition="price_crosses", params={"price": float(i + 1)}, channels=["in_app"]
            )
            for i in range(MAX_RULES)
        ]
    )
    response = post(alice_client, {"asset": "BTCUSDT", "condition": "price_crosses", "price": 1})
    assert response.status_code == 400 and "200" in json.dumps(response.json())
    assert AlertRule.objects.count() == MAX_RULES


def test_alerts_newest_first_paginated_and_mark_read(alice_client: Client, alice: User, btc: Asset) -> None:
    from datetime import timedelta

    from django.utils import timezone

    rule, _ = alert_rule_create(user=alice, asset="BTCUSDT", condition="price_crosses", params={"price": 1.0})
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    AlertEvent.objects.bulk_create(
        [
            AlertEvent(
                rule=rule,
                user=alice,
                asset=btc,
                condition="price_crosses",
                fired_at=start + timedelta(minutes=5 * i),
                bar_time=start + timedelta(minutes=5 * i),
                values={"close": i},
            )
            for i in range(60)
        ]
    )
    first = alice_client.get("/api/v1/alerts/").json()
    assert first["count"] == 60 and len(first["results"]) == 50 and first["next"]
    assert [e["values"]["close"] for e in first["results"][:3]] == [59, 58, 57]
    assert set(first["results"][0]) >= {"id", "rule", "asset", "condition", "fired_at", "values", "read"}
    second = alice_client.get(first["next"]).json()
    assert len(second["results"]) == 10 and second["results"][-1]["values"]["close"] == 0
    newest = first["results"][0]["id"]
    response = patch(alice_client, f"/api/v1/alerts/{newest}/", {"read": True})
    assert response.status_code == 200 and response.json()["read"] is True
    assert AlertEvent.objects.filter(read=True).count() == 1
    assert patch(alice_client, f"/api/v1/alerts/{newest}/", {"read": "yes"}).status_code == 400
