"""Personal API tokens: created on the profile page (shown once, stored hashed), used as a Bearer token,
expired, revoked; a token never reaches another user's objects."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Annotation, ApiToken, User, Watchlist
from accounts.tokens import api_token_create, token_digest
from heatmaps.models import Asset

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"liq_[A-Za-z0-9_-]{43}")


def bearer(raw: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def send(client: Client, method: str, url: str, body: Any = None, **extra: Any) -> Any:
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **extra)


def test_profile_creates_a_token_shown_once_and_stored_hashed(alice_client: Client, alice: User) -> None:
    response = alice_client.post("/account/tokens/", {"name": "grafana", "expires_in": "30"})
    body = response.content.decode()
    assert response.status_code == 200
    (raw,) = set(TOKEN.findall(body))
    token = ApiToken.objects.get(user=alice)
    assert token.name == "grafana" and token.digest == token_digest(raw) and raw.startswith(token.prefix)
    assert raw not in {token.digest, token.prefix, token.name}  # the token itself is stored nowhere
    assert token.expires_at is not None
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    # The next view of the page lists it by name and prefix only.
    page = alice_client.get("/account/profile/").content.decode()
    assert "grafana" in page and f"{token.prefix}…" in page and raw not in page
    # It works at once.
    me = Client().get("/api/v1/me/", **bearer(raw))
    assert me.status_code == 200 and me.json()["username"] == "alice" and me.json()["authenticated_by"] == "token"


def test_profile_token_form_over_htmx_returns_only_the_section(alice_client: Client, alice: User) -> None:
    response = alice_client.post("/account/tokens/", {"name": "bot"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<section id="api-tokens"')
    assert "<html" not in body and len(TOKEN.findall(body)) == 1
    assert ApiToken.objects.get(user=alice).expires_at is None
    refused = alice_client.post("/account/tokens/", {"name": "  "}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert ApiToken.objects.count() == 1


def test_revoking_on_the_profile_stops_the_token(alice_client: Client, alice: User, bob_client: Client) -> None:
    token, raw = api_token_create(user=alice, name="old script")
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 200
    # Bob cannot revoke it: for him it does not exist.
    assert bob_client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    response = alice_client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and not ApiToken.objects.exists()
    again = Client().get("/api/v1/me/", **bearer(raw))
    assert again.status_code == 401 and "revoked" in again.json()["detail"]


def test_expired_malformed_and_unknown_tokens_are_401s_with_a_challenge(alice: User) -> None:
    token, raw = api_token_create(user=alice, name="short-lived", expires_at=timezone.now() + timedelta(minutes=5))
    client = Client()
    assert client.get("/api/v1/watchlists/", **bearer(raw)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for header in (f"Bearer {raw}", "Bearer liq_nope", "Bearer", f"Bearer {raw} extra", "Bearer liq_\u00e9"):
        response = client.get("/api/v1/watchlists/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer") and response.json()["detail"]
    anonymous = client.get("/api/v1/watchlists/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    # The public market endpoints need no token at all.
    assert client.get("/api/v1/assets/").status_code == 200


def test_last_used_time_is_recorded(alice: User) -> None:
    token, raw = api_token_create(user=alice, name="poller")
    assert token.last_used_at is None
    Client().get("/api/v1/me/", **bearer(raw))
    token.refresh_from_db()
    assert token.last_used_at is not None and timezone.now() - token.last_used_at < timedelta(seconds=30)


def test_a_deactivated_user_s_tokens_stop_working(alice: User) -> None:
    _, raw = api_token_create(user=alice, name="bot")
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert Client().get("/api/v1/me/", **bearer(raw)).status_code == 401


def test_tokens_endpoint_lists_and_revokes_but_only_a_session_creates(alice_client: Client, alice: User) -> None:
    created = send(alice_client, "post", "/api/v1/tokens/", {"name": "api-made", "expires_at": None})
    assert created.status_code == 201
    raw = created.json()["token"]
    assert TOKEN.fullmatch(raw) and created.json()["expired"] is False
    listed = Client().get("/api/v1/tokens/", **bearer(raw)).json()
    assert [t["name"] for t in listed] == ["api-made"] and "token" not in listed[0]
    # A token cannot mint another token.
    refused = send(Client(), "post", "/api/v1/tokens/", {"name": "child"}, **bearer(raw))
    assert refused.status_code == 403 and "signed in" in refused.json()["detail"]
    for bad in ({"name": 7}, {"name": ""}, {"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, ["name"]):
        assert send(alice_client, "post", "/api/v1/tokens/", bad).status_code == 400, bad
    # Revoking through the API, with the token itself.
    token_id = listed[0]["id"]
    assert Client().delete(f"/api/v1/tokens/{token_id}/", **bearer(raw)).status_code == 204
    assert Client().get("/api/v1/tokens/", **bearer(raw)).status_code == 401


def test_token_writes_need_no_csrf_token(alice: User, btc: Asset) -> None:
    _, raw = api_token_create(user=alice, name="bot")
    client = Client(enforce_csrf_checks=True)
    response = send(client, "post", "/api/v1/watchlists/", {"name": "Bots", "assets": ["BTCUSDT"]}, **bearer(raw))
    assert response.status_code == 201 and Watchlist.objects.get(user=alice).name == "Bots"


def test_alices_token_never_reads_or_changes_bobs_objects(alice: User, bob: User, btc: Asset) -> None:
    _, raw = api_token_create(user=alice, name="bot")
    bobs_list = Watchlist.objects.create(user=bob, name="Bob's")
    bobs_note = Annotation.objects.create(user=bob, asset=btc, kind="level", price=80_000, label="bob")
    bobs_token, _ = api_token_create(user=bob, name="bob's bot")
    client = Client()
    for url in (
        f"/api/v1/watchlists/{bobs_list.pk}/",
        f"/api/v1/annotations/{bobs_note.pk}/",
        f"/api/v1/tokens/{bobs_token.pk}/",
    ):
        assert client.get(url, **bearer(raw)).status_code == 404, url
        assert client.delete(url, **bearer(raw)).status_code == 404, url
    assert (
        send(client, "patch", f"/api/v1/watchlists/{bobs_list.pk}/", {"name": "mine"}, **bearer(raw)).status_code == 404
    )
    assert (
        send(client, "patch", f"/api/v1/annotations/{bobs_note.pk}/", {"price": 1.0}, **bearer(raw)).status_code == 404
    )
    assert client.get("/api/v1/watchlists/", **bearer(raw)).json() == []
    assert client.get("/api/v1/annotations/", **bearer(raw)).json() == []
    assert client.get("/api/v1/tokens/", **bearer(raw)).json()[0]["name"] == "bot"
    bobs_list.refresh_from_db()
    bobs_note.refresh_from_db()
    assert bobs_list.name == "Bob's" and bobs_note.price == 80_000 and ApiToken.objects.filter(user=bob).exists()
