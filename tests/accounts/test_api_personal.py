"""The personal JSON API under /api/v1/: watchlists and annotations, session-authenticated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import Annotation, User, Watchlist, WatchlistItem
from accounts.watchlists import watchlist_create
from heatmaps.models import Asset

pytestmark = pytest.mark.django_db


def send(client: Client, method: str, url: str, payload: Any = None, **extra: Any) -> Any:
    body = json.dumps(payload) if payload is not None else ""
    return getattr(client, method)(url, body, content_type="application/json", **extra)


# ---- watchlists -----------------------------------------------------------------------------------


def test_watchlist_round_trip(alice_client: Client, btc: Asset, eth: Asset) -> None:
    response = send(alice_client, "post", "/api/v1/watchlists/", {"name": "Majors", "assets": ["ETHUSDT", "BTCUSDT"]})
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "name", "assets", "created_at"}
    assert (created["name"], created["assets"]) == ("Majors", ["ETHUSDT", "BTCUSDT"])
    assert created["created_at"].endswith("Z")
    url = f"/api/v1/watchlists/{created['id']}/"

    assert alice_client.get("/api/v1/watchlists/").json() == [created]
    assert alice_client.get(url).json() == created

    patched = send(alice_client, "patch", url, {"assets": ["BTCUSDT"]}).json()
    assert (patched["name"], patched["assets"]) == ("Majors", ["BTCUSDT"])
    patched = send(alice_client, "patch", url, {"name": "Big caps", "assets": ["BTCUSDT", "ETHUSDT"]}).json()
    assert (patched["name"], patched["assets"]) == ("Big caps", ["BTCUSDT", "ETHUSDT"])

    assert alice_client.delete(url).status_code == 204
    assert alice_client.get(url).status_code == 404
    assert not Watchlist.objects.exists()


def test_watchlist_without_assets(alice_client: Client) -> None:
    response = send(alice_client, "post", "/api/v1/watchlists/", {"name": "Later"})
    assert response.status_code == 201 and response.json()["assets"] == []


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"name": ""}, {"name": ["Give the watchlist a name."]}),
        ({"name": "MAJORS"}, {"name": ["You already have a watchlist called “MAJORS”."]}),
        ({"name": "New", "assets": ["BTCUSDT", "DOGEUSDT"]}, {"assets": ["Unknown or disabled asset: DOGEUSDT."]}),
        ({"name": "New", "assets": ["LUNAUSDT"]}, {"assets": ["Unknown or disabled asset: LUNAUSDT."]}),
        ({"name": 12}, {"name": ["Not a valid string."]}),
        ({"name": ["New"]}, {"name": ["Not a valid string."]}),
        ({"name": "New", "assets": "BTCUSDT"}, {"assets": ['Expected a list of items but got type "str".']}),
        ({"name": "New", "assets": [1]}, {"assets": {"0": ["Not a valid string."]}}),
        ({}, {"name": ["This field is required."]}),
        (["New"], {"non_field_errors": ["Send a JSON object."]}),
    ],
)
def test_watchlist_bad_input_is_a_400_naming_the_field(
    alice_client: Client, alice: User, btc: Asset, delisted: Asset, payload: Any, errors: Any
) -> None:
    watchlist_create(user=alice, name="Majors")
    response = send(alice_client, "post", "/api/v1/watchlists/", payload)
    assert response.status_code == 400
    assert response.json() == errors
    assert Watchlist.objects.count() == 1 and not WatchlistItem.objects.exists()


def test_watchlist_patch_is_all_or_nothing(alice_client: Client, alice: User, btc: Asset) -> None:
    majors = watchlist_create(user=alice, name="Majors", assets=["BTCUSDT"])
    response = send(alice_client, "patch", f"/api/v1/watchlists/{majors.pk}/", {"name": "Renamed", "assets": ["NOPE"]})
    assert response.status_code == 400 and response.json() == {"assets": ["Unknown or disabled asset: NOPE."]}
    majors.refresh_from_db()
    assert majors.name == "Majors"
    assert list(WatchlistItem.objects.values_list("asset__symbol", flat=True)) == ["BTCUSDT"]


def test_fifty_first_watchlist_is_refused(alice_client: Client, alice: User) -> None:
    Watchlist.objects.bulk_create(Watchlist(user=alice, name=f"l{i}") for i in range(50))
    response = send(alice_client, "post", "/api/v1/watchlists/", {"name": "one more"})
    assert response.status_code == 400 and "50 watchlists" in response.json()["name"][0]
    assert Watchlist.objects.count() == 50


# ---- annotations ----------------------------------------------------------------------------------


def test_annotation_round_trip(alice_client: Client, btc: Asset, eth: Asset) -> None:
    payload = {
        "asset": "BTCUSDT",
        "kind": "zone",
        "price": 84_000,
        "price_high": 86_000.5,
        "label": "range",
        "color": "#D29922",
    }
    response = send(alice_client, "post", "/api/v1/annotations/", payload)
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {
        "id",
        "asset",
        "kind",
        "price",
        "price_high",
        "time",
        "label",
        "color",
        "created_at",
        "updated_at",
    }
    assert {k: created[k] for k in ("asset", "kind", "price", "price_high", "time", "label", "color")} == {
        "asset": "BTCUSDT",
        "kind": "zone",
        "price": 84_000.0,
        "price_high": 86_000.5,
        "time": None,
        "label": "range",
        "color": "#d29922",
    }
    url = f"/api/v1/annotations/{created['id']}/"
    note = send(
        alice_client,
        "post",
        "/api/v1/annotations/",
        {"asset": "ETHUSDT", "kind": "note", "price": 3000, "time": "2026-01-29T14:05:00+02:00"},
    ).json()
    assert note["time"] == "2026-01-29T12:05:00Z" and note["color"] == "#58a6ff"

    assert [a["id"] for a in alice_client.get("/api/v1/annotations/?asset=BTCUSDT").json()] == [created["id"]]
    assert {a["id"] for a in alice_client.get("/api/v1/annotations/").json()} == {created["id"], note["id"]}
    assert alice_client.get(url).json() == created

    # PATCH merges with what is stored: turning the zone into a level drops its high edge.
    patched = send(alice_client, "patch", url, {"kind": "level", "label": "pivot"}).json()
    assert (patched["kind"], patched["price"], patched["price_high"], patched["label"]) == (
        "level",
        84_000.0,
        None,
        "pivot",
    )

    assert alice_client.delete(url).status_code == 204
    assert alice_client.get(url).status_code == 404
    assert Annotation.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"price": 0}, {"price": ["Give a price above 0."]}),
        ({"price": -1.5}, {"price": ["Give a price above 0."]}),
        (
            {"kind": "zone", "price_high": 80_000},
            {"price_high": ["The zone's high price must be above its low price."]},
        ),
        (
            {"kind": "zone", "price_high": 85_000},
            {"price_high": ["The zone's high price must be above its low price."]},
        ),
        ({"kind": "note"}, {"time": ["Give the note's time."]}),
        ({"asset": "DOGEUSDT"}, {"asset": ["Unknown or disabled asset: DOGEUSDT."]}),
        ({"asset": "LUNAUSDT"}, {"asset": ["Unknown or disabled asset: LUNAUSDT."]}),
        ({"color": "#abc"}, {"color": ["Give the colour as #rrggbb, e.g. #58a6ff."]}),
        ({"color": "green"}, {"color": ["Give the colour as #rrggbb, e.g. #58a6ff."]}),
        ({"label": "z" * 81}, {"label": ["Keep the label to 80 characters (this one has 81)."]}),
        ({"price": "85000"}, {"price": ["A number is required."]}),
        ({"price": True}, {"price": ["A number is required."]}),
        ({"price": None}, {"price": ["This field may not be null."]}),
        ({"kind": "arrow"}, {"kind": ['"arrow" is not a valid choice.']}),
        (
            {"kind": "note", "time": "yesterday"},
            {
                "time": [
                    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
        ),
        ({"asset": ["BTCUSDT"]}, {"asset": ["Not a valid string."]}),
        ({"label": 5}, {"label": ["Not a valid string."]}),
    ],
)
def test_annotation_bad_input_is_a_400_naming_the_field(
    alice_client: Client, btc: Asset, delisted: Asset, payload: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    base = {"asset": "BTCUSDT", "kind": "level", "price": 85_000}
    response = send(alice_client, "post", "/api/v1/annotations/", {**base, **payload})
    assert response.status_code == 400
    assert response.json() == errors
    assert not Annotation.objects.exists()


def test_annotation_patch_refused_leaves_it_as_it_was(alice_client: Client, btc: Asset) -> None:
    created = send(
        alice_client, "post", "/api/v1/annotations/", {"asset": "BTCUSDT", "kind": "level", "price": 1.0}
    ).json()
    response = send(alice_client, "patch", f"/api/v1/annotations/{created['id']}/", {"kind": "zone", "price_high": 0.5})
    assert response.status_code == 400
    assert Annotation.objects.get().kind == "level"


def test_five_hundred_and_first_annotation_is_refused(alice_client: Client, alice: User, btc: Asset) -> None:
    Annotation.objects.bulk_create(Annotation(user=alice, asset=btc, kind="level", price=1.0 + i) for i in range(500))
    response = send(alice_client, "post", "/api/v1/annotations/", {"asset": "BTCUSDT", "kind": "level", "price": 2.5})
    assert response.status_code == 400 and "500 annotations" in response.json()["kind"][0]
    assert Annotation.objects.count() == 500


# ---- authentication and CSRF ----------------------------------------------------------------------


def test_session_writes_need_the_csrf_token(alice: User, btc: Asset) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    payload = {"asset": "BTCUSDT", "kind": "level", "price": 85_000}
    for url, body in (("/api/v1/annotations/", payload), ("/api/v1/watchlists/", {"name": "Majors"})):
        response = send(client, "post", url, body)
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
    assert not Annotation.objects.exists() and not Watchlist.objects.exists()

    # With the token from the cookie, as annotations.js sends it, the same request goes through.
    client.get("/assets/BTCUSDT/")  # any page with a form sets the cookie
    token = client.cookies["csrftoken"].value
    response = send(client, "post", "/api/v1/annotations/", payload, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    # Reads need no token.
    assert client.get("/api/v1/annotations/").status_code == 200
