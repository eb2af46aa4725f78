"""/api/v1/models/: a trader's own heat-map models through the JSON API (session or token)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import PersonalModel, User
from accounts.tokens import api_token_create

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/"
BODY: dict[str, Any] = {
    "name": "Fast decay",
    "tiers": [
        {"leverage": 10, "weight": 0.4, "half_life_hours": 24},
        {"leverage": 25, "weight": 0.35, "half_life_hours": None},
        {"leverage": 100, "weight": 0.25, "half_life_hours": 6},
    ],
    "mmr": 0.005,
}


def send(client: Client, method: str, url: str, payload: Any = None, **extra: Any) -> Any:
    body = json.dumps(payload) if payload is not None else ""
    return getattr(client, method)(url, body, content_type="application/json", **extra)


def test_round_trip(alice_client: Client, alice: User) -> None:
    response = send(alice_client, "post", URL, BODY)
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == {"id", "name", "tiers", "mmr", "max_leverage", "model", "created_at", "updated_at"}
    assert created["name"] == "Fast decay"
    assert created["tiers"] == BODY["tiers"]  # null half-life: never fades, and reads back so
    assert created["mmr"] == 0.005 and created["max_leverage"] is None
    assert created["model"] == f"mine:{created['id']}"
    assert created["created_at"].endswith("Z")
    item = f"{URL}{created['id']}/"

    assert alice_client.get(URL).json() == [created]
    assert alice_client.get(item).json() == created

    patched = send(alice_client, "patch", item, {"mmr": 0.01, "max_leverage": 50}).json()
    assert (patched["name"], patched["tiers"], patched["mmr"], patched["max_leverage"]) == (
        "Fast decay",
        BODY["tiers"],
        0.01,
        50,
    )
    patched = send(
        alice_client,
        "patch",
        item,
        {"name": "One tier", "tiers": [{"leverage": 20, "weight": 1, "half_life_hours": 48}]},
    ).json()
    assert patched["name"] == "One tier" and patched["tiers"] == [{"leverage": 20, "weight": 1, "half_life_hours": 48}]
    assert patched["mmr"] == 0.01  # kept

    assert alice_client.delete(item).status_code == 204
    assert alice_client.get(item).status_code == 404
    assert not PersonalModel.objects.exists()


def test_a_personal_token_reaches_the_models(client: Client, alice: User) -> None:
    _, raw = api_token_create(user=alice, name="script")
    bearer = f"Bearer {raw}"
    response = send(client, "post", URL, BODY, HTTP_AUTHORIZATION=bearer)
    assert response.status_code == 201, response.content
    assert client.get(URL, HTTP_AUTHORIZATION=bearer).json()[0]["name"] == "Fast decay"


def test_anonymous_gets_nothing(client: Client) -> None:
    assert client.get(URL).status_code in (401, 403)
    assert send(client, "post", URL, BODY).status_code in (401, 403)
    assert not PersonalModel.objects.exists()


def _with_tier(index: int, **changes: Any) -> dict[str, Any]:
    tiers = [dict(t) for t in BODY["tiers"]]
    tiers[index].update(changes)
    return {**BODY, "tiers": tiers}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_with_tier(1, leverage=1), "tiers[1].leverage"),
        (_with_tier(1, leverage=250), "tiers[1].leverage"),
        (_with_tier(2, half_life_hours=0.25), "tiers[2].half_life_hours"),
        (_with_tier(2, half_life_hours=3651 * 24), "tiers[2].half_life_hours"),
        (_with_tier(0, weight=-0.1), "tiers[0].weight"),
        (_with_tier(0, weight=1.5), "tiers[0].weight"),
        (_with_tier(0, weight=0.5), "tiers"),  # 1.1 in all
        ({**BODY, "tiers": []}, "tiers"),
        ({**BODY, "mmr": 0.2}, "mmr"),
        ({**BODY, "mmr": -0.001}, "mmr"),
        ({**BODY, "max_leverage": 0.5}, "max_leverage"),
        ({**BODY, "name": ""}, "name"),
        ({**BODY, "name": "x" * 61}, "name"),
        ({**BODY, "mmr": "0.004"}, "mmr"),  # a string is not a number
        ({**BODY, "colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(alice_client: Client, payload: dict[str, Any], field: str) -> None:
    response = send(alice_client, "post", URL, payload)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not PersonalModel.objects.exists()


def test_the_limit_is_a_400(alice_client: Client, settings: Any) -> None:
    settings.LIQ_PERSONAL_MODELS_MAX = 1
    assert send(alice_client, "post", URL, BODY).status_code == 201
    response = send(alice_client, "post", URL, {**BODY, "name": "Second"})
    assert response.status_code == 400
    assert response.json() == {"name": ["You already have 1 models, the most allowed; delete one first."]}


def test_the_endpoints_are_documented(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/models/"])
    assert {"get", "patch", "delete"} <= set(schema["paths"]["/api/v1/models/{model_id}/"])


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "x", "tiers": [{"leverage": 1e999, "weight": 1, "half_life_hours": 1}], "mmr": 0.004}',
        '{"name": "x", "tiers": [{"leverage": 1' + "0" * 400 + ', "weight": 1, "half_life_hours": 1}], "mmr": 0}',
        '{"name": "x", "tiers": "5:1:24", "mmr": 0.004}',
        '{"name": "x", "tiers": [5], "mmr": 0.004}',
        '{"name": "x", "tiers": [{"leverage": true, "weight": 1, "half_life_hours": null}], "mmr": 0.004}',
        '{"name": null, "tiers": [], "mmr": 0.004}',
        '[{"name": "x"}]',
        "not json",
    ],
)
def test_malformed_bodies_are_a_400(alice_client: Client, raw: str) -> None:
    response = alice_client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not PersonalModel.objects.exists()
