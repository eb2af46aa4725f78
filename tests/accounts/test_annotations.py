"""Annotations: the services' rules, the database's constraints, the form pages and the panel beside the map."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.annotations import (
    MAX_ANNOTATIONS,
    annotation_create,
    annotation_update,
    annotations_for_user,
)
from accounts.models import Annotation, User
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from tests.accounts.helpers import hx_get, hx_post

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 1, 29, 12, 0, tzinfo=UTC)


def level(user: User, **overrides: Any) -> Annotation:
    fields: dict[str, Any] = {"asset": "BTCUSDT", "kind": "level", "price": 85_000.0, "label": "", "color": "#58a6ff"}
    return annotation_create(user=user, **{**fields, **overrides})


# ---- services -------------------------------------------------------------------------------------


def test_each_kind_keeps_only_its_own_fields(alice: User, btc: Asset) -> None:
    a = level(alice, price_high=90_000.0, time=NOON, label="  support ", color="#3FB950")
    assert (a.kind, a.price, a.price_high, a.time, a.label, a.color) == (
        "level",
        85_000.0,
        None,
        None,
        "support",
        "#3fb950",
    )
    z = annotation_create(user=alice, asset="btcusdt", kind="zone", price=84_000, price_high=86_000, time=NOON)
    assert (z.asset, z.price, z.price_high, z.time) == (btc, 84_000.0, 86_000.0, None)
    n = annotation_create(user=alice, asset="BTCUSDT", kind="note", price=85_500.0, price_high=1.0, time=NOON)
    assert (n.price_high, n.time) == (None, NOON)
    # Listed highest price first, as they sit on the map.
    assert list(annotations_for_user(user=alice, asset=btc).values_list("kind", flat=True)) == ["note", "level", "zone"]


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"price": 0.0}, {"price": ["Give a price above 0."]}),
        ({"price": -5.0}, {"price": ["Give a price above 0."]}),
        ({"price": None}, {"price": ["Give a price above 0."]}),
        ({"price": float("nan")}, {"price": ["Give a price above 0."]}),
        ({"price": float("inf")}, {"price": ["Give a price above 0."]}),
        (
            {"kind": "zone", "price": 85_000.0, "price_high": 85_000.0},
            {"price_high": ["The zone's high price must be above its low price."]},
        ),
        (
            {"kind": "zone", "price": 85_000.0, "price_high": 84_000.0},
            {"price_high": ["The zone's high price must be above its low price."]},
        ),
        ({"kind": "zone", "price": 85_000.0}, {"price_high": ["Give the zone's high price, above 0."]}),
        ({"kind": "zone", "price": -1.0, "price_high": 2.0}, {"price": ["Give the zone's low price, above 0."]}),
        ({"kind": "note"}, {"time": ["Give the note's time."]}),
        (
            {"kind": "note", "time": datetime(2026, 1, 29, 12, 0)},
            {"time": ["Give the note's time with a time zone, e.g. 2026-01-30T14:05Z."]},
        ),
        ({"kind": "arrow"}, {"kind": ["Choose a kind: level, zone, note."]}),
        ({"asset": "NOPEUSDT"}, {"asset": ["Unknown or disabled asset: NOPEUSDT."]}),
        ({"asset": "LUNAUSDT"}, {"asset": ["Unknown or disabled asset: LUNAUSDT."]}),
        ({"color": "red"}, {"color": ["Give the colour as #rrggbb, e.g. #58a6ff."]}),
        ({"color": "#58a6f"}, {"color": ["Give the colour as #rrggbb, e.g. #58a6ff."]}),
        ({"color": "#58a6ffaa"}, {"color": ["Give the colour as #rrggbb, e.g. #58a6ff."]}),
        ({"label": "x" * 81}, {"label": ["Keep the label to 80 characters (this one has 81)."]}),
        (
            {"asset": "", "price": 0.0, "color": "blue"},
            {
                "asset": ["Unknown or disabled asset: (none given)."],
                "price": ["Give a price above 0."],
                "color": ["Give the colour as #rrggbb, e.g. #58a6ff."],
            },
        ),
    ],
)
def test_bad_input_is_refused_field_by_field_and_nothing_is_saved(
    alice: User, btc: Asset, delisted: Asset, fields: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    with pytest.raises(ValidationError) as exc:
        level(alice, **fields)
    assert exc.value.message_dict == errors
    assert not Annotation.objects.exists()


def test_label_of_exactly_80_characters_is_fine(alice: User, btc: Asset) -> None:
    assert len(level(alice, label="x" * 80).label) == 80


def test_update_checks_the_whole_result_and_saves_nothing_when_wrong(alice: User, btc: Asset) -> None:
    a = level(alice)
    fields: dict[str, Any] = {"asset": "BTCUSDT", "price_high": 84_000.0, "time": None, "label": "", "color": "#58a6ff"}
    with pytest.raises(ValidationError):
        annotation_update(annotation=a, kind="zone", price=85_000.0, **fields)
    a.refresh_from_db()
    assert (a.kind, a.price_high) == ("level", None)
    fields["price_high"] = 86_000.0
    annotation_update(annotation=a, kind="zone", price=85_000.0, **fields)
    a.refresh_from_db()
    assert (a.kind, a.price, a.price_high) == ("zone", 85_000.0, 86_000.0)


def test_at_most_500_annotations_per_user(alice: User, bob: User, btc: Asset) -> None:
    Annotation.objects.bulk_create(
        Annotation(user=alice, asset=btc, kind="level", price=1_000.0 + i) for i in range(MAX_ANNOTATIONS)
    )
    with pytest.raises(ValidationError) as exc:
        level(alice)
    assert "already have 500 annotations" in exc.value.message_dict["kind"][0]
    assert Annotation.objects.filter(user=alice).count() == MAX_ANNOTATIONS
    level(bob)  # the limit is per user


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "level", "price": 0.0},
        {"kind": "level", "price": 1.0, "price_high": 2.0},
        {"kind": "zone", "price": 2.0, "price_high": 1.0},
        {"kind": "zone", "price": 2.0},
        {"kind": "note", "price": 2.0},
        {"kind": "level", "price": 2.0, "time": NOON},
        {"kind": "arrow", "price": 2.0},
        {"kind": "level", "price": 2.0, "color": "#GGGGGG"},
    ],
)
def test_the_database_refuses_what_the_service_would(alice: User, btc: Asset, fields: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(user=alice, asset=btc, **fields)


# ---- the form pages -------------------------------------------------------------------------------


def test_new_form_is_prefilled_from_the_query(alice_client: Client, btc: Asset) -> None:
    response = alice_client.get(
        "/annotations/new/?asset=btcusdt&price=85123.5&time=1769688000000&next=/assets/BTCUSDT/"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="asset" value="BTCUSDT"' in body
    assert 'name="price" value="85123.5"' in body
    assert 'value="2026-01-29T12:00"' in body  # 1769688000000 ms = 2026-01-29 12:00 UTC
    assert re.search(r'<option value="note" selected>', body)
    assert 'name="next" value="/assets/BTCUSDT/"' in body


def test_new_form_ignores_unusable_prefills(alice_client: Client, btc: Asset) -> None:
    response = alice_client.get("/annotations/new/?price=abc&time=99999999999999999999&kind=arrow")
    assert response.status_code == 200
    assert 'name="price" value=' not in response.content.decode()


def test_new_form_creates_and_returns_to_the_asset_page(alice_client: Client, alice: User, btc: Asset) -> None:
    data = {
        "asset": "BTCUSDT",
        "kind": "note",
        "price": "85000",
        "time": "2026-01-29T12:00",
        "label": "CPI",
        "color": "#d29922",
    }
    response = alice_client.post("/annotations/new/", data)
    assert response.status_code == 302 and response["Location"] == "/assets/BTCUSDT/"
    note = Annotation.objects.get(user=alice)
    assert (note.kind, note.price, note.time, note.label, note.color) == ("note", 85_000.0, NOON, "CPI", "#d29922")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"price": "0"}, "Give a price above 0."),
        ({"price": "-3"}, "Give a price above 0."),
        ({"price": "abc"}, "Enter a number."),
        (
            {"kind": "zone", "price": "85000", "price_high": "80000"},
            "The zone&#x27;s high price must be above its low price.",
        ),
        ({"asset": "NOPEUSDT"}, "Unknown or disabled asset: NOPEUSDT."),
        ({"color": "#12345"}, "Give the colour as #rrggbb, e.g. #58a6ff."),
        ({"label": "y" * 81}, "Keep the label to 80 characters (this one has 81)."),
    ],
)
def test_new_form_explains_a_refusal_and_saves_nothing(
    alice_client: Client, btc: Asset, data: dict[str, str], message: str
) -> None:
    response = alice_client.post("/annotations/new/", {"asset": "BTCUSDT", "kind": "level", "price": "85000", **data})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Annotation.objects.exists()


def test_new_form_never_returns_off_site(alice_client: Client, btc: Asset) -> None:
    data = {"asset": "BTCUSDT", "kind": "level", "price": "85000", "next": "https://evil.example/"}
    response = alice_client.post("/annotations/new/", data)
    assert response.status_code == 302 and response["Location"] == "/assets/BTCUSDT/"


def test_edit_form_shows_and_saves(alice_client: Client, alice: User, btc: Asset) -> None:
    a = level(alice, label="old")
    body = alice_client.get(f"/annotations/{a.pk}/").content.decode()
    assert 'value="old"' in body and 'name="price" value="85000.0"' in body
    data = {
        "asset": "BTCUSDT",
        "kind": "zone",
        "price": "85000",
        "price_high": "86000",
        "label": "new",
        "color": "#ff0000",
    }
    response = alice_client.post(f"/annotations/{a.pk}/", data)
    assert response.status_code == 302
    a.refresh_from_db()
    assert (a.kind, a.price_high, a.label, a.color) == ("zone", 86_000.0, "new", "#ff0000")
    bad = alice_client.post(f"/annotations/{a.pk}/", {**data, "price_high": "1"})
    assert "high price must be above" in bad.content.decode()
    a.refresh_from_db()
    assert a.price_high == 86_000.0


def test_delete_with_htmx_returns_the_panel_and_without_redirects(
    alice_client: Client, alice: User, btc: Asset
) -> None:
    first, second = level(alice, label="first"), level(alice, price=86_000.0, label="second")
    response = hx_post(alice_client, f"/annotations/{first.pk}/delete/")
    body = response.content.decode()
    assert body.startswith('<section id="annotation-panel"') and "<html" not in body
    assert "second" in body and "first" not in body
    response = alice_client.post(f"/annotations/{second.pk}/delete/", {"next": "/assets/BTCUSDT/?tf=1w"})
    assert response.status_code == 302 and response["Location"] == "/assets/BTCUSDT/?tf=1w"
    assert not Annotation.objects.exists()


# ---- the panel beside the map ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_map(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The sample assets with BTCUSDT's 24h and 1w maps, committed once for the module and removed after."""
    with django_db_blocker.unblock():
        load_sample_data()
        heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["24h", "1w"])
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


def panel_json(body: str) -> list[dict[str, Any]]:
    match = re.search(r'<script id="annotations-data" type="application/json">(.*?)</script>', body, re.S)
    assert match, "no annotation data on the page"
    return json.loads(match.group(1))


def test_asset_page_lists_the_owners_annotations_beside_the_map(
    sample_map: None, alice_client: Client, bob_client: Client, client: Client, alice: User
) -> None:
    a = level(alice, label="support", color="#3fb950")
    n = annotation_create(user=alice, asset="BTCUSDT", kind="note", price=85_500.0, time=NOON, label="CPI")
    body = alice_client.get("/assets/BTCUSDT/").content.decode()
    aside = body[body.index('<aside class="side">') :]
    assert '<section id="annotation-panel"' in aside and "Your annotations" in aside
    assert "85,000.0" in aside and "support" in aside and "at 2026-01-29 12:00 UTC" in aside
    assert panel_json(body) == [
        {
            "id": n.pk,
            "kind": "note",
            "price": 85_500.0,
            "price_high": None,
            "time": 1_769_688_000_000,
            "label": "CPI",
            "color": "#58a6ff",
        },
        {
            "id": a.pk,
            "kind": "level",
            "price": 85_000.0,
            "price_high": None,
            "time": None,
            "label": "support",
            "color": "#3fb950",
        },
    ]
    assert "static/accounts/annotations.js" in body
    # The panel comes back with each timeframe switch.
    partial = hx_get(alice_client, "/assets/BTCUSDT/?tf=1w").content.decode()
    assert "<html" not in partial and [x["id"] for x in panel_json(partial)] == [n.pk, a.pk]
    # Bob has a panel of his own, empty; visitors have none and no overlay script.
    assert panel_json(bob_client.get("/assets/BTCUSDT/").content.decode()) == []
    anonymous = client.get("/assets/BTCUSDT/").content.decode()
    assert "annotation-panel" not in anonymous and "annotations.js" not in anonymous


def test_panel_endpoint_renders_the_panel_alone(sample_map: None, alice_client: Client, alice: User) -> None:
    level(alice, label="support")
    body = alice_client.get("/annotations/panel/?asset=BTCUSDT").content.decode()
    assert body.startswith('<section id="annotation-panel"') and "support" in body
    assert alice_client.get("/annotations/panel/?asset=NOPEUSDT").status_code == 404
