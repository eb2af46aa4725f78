"""Nobody reaches another trader's lists or annotations, and visitors reach none at all.

One table of every personal page, partial and endpoint: Bob gets a 404 for each of Alice's objects
(never a 403, which would confirm they exist), and her objects are unchanged afterwards; anonymous
visitors are sent to log in (pages) or get a JSON 403 (API).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client

from accounts.annotations import annotation_create
from accounts.models import Annotation, User, Watchlist
from accounts.watchlists import watchlist_create, watchlist_symbols
from heatmaps.models import Asset

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Call:
    method: str
    url: str  # {w} = Alice's watchlist id, {a} = Alice's annotation id
    data: dict[str, Any] | None = None
    htmx: bool = False
    json: bool = False

    def send(self, client: Client, *, w: int = 0, a: int = 0, r: int = 0, e: int = 0) -> Any:
        url = self.url.format(w=w, a=a, r=r, e=e)
        extra: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if self.htmx else {}
        if self.json and self.method != "get":
            body = json.dumps(self.data or {})
            return getattr(client, self.method)(url, body, content_type="application/json", **extra)
        data = {k: str(v).format(w=w, a=a, r=r, e=e) for k, v in (self.data or {}).items()}
        return getattr(client, self.method)(url, data, **extra)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.url}{' (htmx)' if self.htmx else ''}"


EDIT = {"asset": "BTCUSDT", "kind": "level", "price": "1", "label": "bob was here", "color": "#000000"}

# Everything that names one of Alice's objects.
OWNED_PAGES = [
    Call("get", "/watchlists/{w}/"),
    Call("get", "/watchlists/{w}/", htmx=True),
    Call("post", "/watchlists/{w}/rename/", {"name": "mine now"}),
    Call("post", "/watchlists/{w}/rename/", {"name": "mine now"}, htmx=True),
    Call("post", "/watchlists/{w}/delete/"),
    Call("post", "/watchlists/{w}/delete/", htmx=True),
    Call("post", "/watchlists/{w}/items/", {"asset": "ETHUSDT"}),
    Call("post", "/watchlists/{w}/items/", {"asset": "ETHUSDT"}, htmx=True),
    Call("post", "/watchlists/{w}/items/BTCUSDT/move/", {"direction": "down"}),
    Call("post", "/watchlists/{w}/items/BTCUSDT/move/", {"direction": "down"}, htmx=True),
    Call("post", "/watchlists/{w}/items/BTCUSDT/remove/"),
    Call("post", "/watchlists/{w}/items/BTCUSDT/remove/", htmx=True),
    Call("post", "/watchlists/star/", {"asset": "ETHUSDT", "watchlist": "{w}"}),
    Call("post", "/watchlists/star/", {"asset": "ETHUSDT", "watchlist": "{w}"}, htmx=True),
    Call("get", "/?watchlist={w}"),
    Call("get", "/annotations/{a}/"),
    Call("post", "/annotations/{a}/", EDIT),
    Call("post", "/annotations/{a}/delete/"),
    Call("post", "/annotations/{a}/delete/", htmx=True),
]
OWNED_API = [
    Call("get", "/api/v1/watchlists/{w}/", json=True),
    Call("patch", "/api/v1/watchlists/{w}/", {"name": "mine now", "assets": []}, json=True),
    Call("delete", "/api/v1/watchlists/{w}/", json=True),
    Call("get", "/api/v1/annotations/{a}/", json=True),
    Call("patch", "/api/v1/annotations/{a}/", {"label": "bob was here"}, json=True),
    Call("delete", "/api/v1/annotations/{a}/", json=True),
]
# Personal pages that name nobody's object: only the signed-in user's own data behind them.
OWN_PAGES = [
    Call("get", "/watchlists/"),
    Call("post", "/watchlists/", {"name": "x"}),
    Call("post", "/watchlists/star/", {"asset": "BTCUSDT"}),
    Call("get", "/annotations/new/?asset=BTCUSDT"),
    Call("post", "/annotations/new/", EDIT),
    Call("get", "/annotations/panel/?asset=BTCUSDT"),
]
OWN_API = [
    Call("get", "/api/v1/watchlists/", json=True),
    Call("post", "/api/v1/watchlists/", {"name": "x"}, json=True),
    Call("get", "/api/v1/annotations/", json=True),
    Call("post", "/api/v1/annotations/", {"asset": "BTCUSDT", "kind": "level", "price": 1}, json=True),
]


@pytest.fixture
def alices(alice: User, btc: Asset, eth: Asset) -> tuple[Watchlist, Annotation]:
    watchlist = watchlist_create(user=alice, name="Alice's", assets=["BTCUSDT"])
    annotation = annotation_create(user=alice, asset="BTCUSDT", kind="level", price=85_000.0, label="hers")
    return watchlist, annotation


def assert_untouched(watchlist: Watchlist, annotation: Annotation) -> None:
    fresh = Watchlist.objects.get(pk=watchlist.pk)
    assert fresh.name == "Alice's"
    assert watchlist_symbols(watchlist=fresh) == ["BTCUSDT"]
    kept = Annotation.objects.get(pk=annotation.pk)
    assert (kept.user_id, kept.label, kept.price) == (annotation.user_id, "hers", 85_000.0)


@pytest.mark.parametrize("call", OWNED_PAGES + OWNED_API, ids=str)
def test_bob_gets_a_404_for_alices_objects(
    call: Call, bob_client: Client, alices: tuple[Watchlist, Annotation]
) -> None:
    watchlist, annotation = alices
    response = call.send(bob_client, w=watchlist.pk, a=annotation.pk)
    assert response.status_code == 404, response.content[:300]
    assert_untouched(watchlist, annotation)
    assert not Watchlist.objects.filter(user__username="bob").exists()  # not even a default list


@pytest.mark.parametrize("call", OWNED_PAGES + OWNED_API, ids=str)
def test_alice_reaches_her_own_objects(call: Call, alice_client: Client, alices: tuple[Watchlist, Annotation]) -> None:
    """The control for the table above: the same calls succeed for their owner."""
    watchlist, annotation = alices
    response = call.send(alice_client, w=watchlist.pk, a=annotation.pk)
    assert response.status_code in (200, 201, 204, 302), response.content[:300]


@pytest.mark.parametrize("call", [c for c in OWNED_PAGES + OWN_PAGES if not c.url.startswith("/?")], ids=str)
def test_visitors_are_sent_to_log_in(call: Call, client: Client, alices: tuple[Watchlist, Annotation]) -> None:
    watchlist, annotation = alices
    response = call.send(client, w=watchlist.pk, a=annotation.pk)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{resolve_url(settings.LOGIN_URL)}?next=")
    assert_untouched(watchlist, annotation)
    assert Watchlist.objects.count() == 1 and Annotation.objects.count() == 1


@pytest.mark.parametrize("call", OWNED_API + OWN_API, ids=str)
def test_visitors_get_a_json_403_from_the_api(call: Call, client: Client, alices: tuple[Watchlist, Annotation]) -> None:
    watchlist, annotation = alices
    response = call.send(client, w=watchlist.pk, a=annotation.pk)
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"] == "Authentication credentials were not provided."
    assert_untouched(watchlist, annotation)


def test_visitors_get_a_404_for_a_watchlist_overview(client: Client, alices: tuple[Watchlist, Annotation]) -> None:
    watchlist, _ = alices
    assert client.get(f"/?watchlist={watchlist.pk}").status_code == 404
    assert client.get("/").status_code == 200


def test_listings_hold_only_the_users_own(bob_client: Client, bob: User, alices: tuple[Watchlist, Annotation]) -> None:
    watchlist_create(user=bob, name="Bob's")
    assert [w["name"] for w in bob_client.get("/api/v1/watchlists/").json()] == ["Bob's"]
    assert bob_client.get("/api/v1/annotations/?asset=BTCUSDT").json() == []
    page = bob_client.get("/watchlists/").content.decode()
    assert "Bob&#x27;s" in page and "Alice" not in page
    assert "hers" not in bob_client.get("/annotations/panel/?asset=BTCUSDT").content.decode()


# ---- alert rules and alerts -------------------------------------------------------------------------

RULE_EDIT = {
    "asset": "BTCUSDT",
    "condition": "price_crosses",
    "price": "2",
    "trigger": "every",
    "cooldown_minutes": "5",
    "enabled": "on",
    "channels": "in_app",
}
OWNED_ALERT_PAGES = [
    Call("get", "/alerts/rules/{r}/"),
    Call("get", "/alerts/rules/{r}/?condition=oi_change", htmx=True),
    Call("post", "/alerts/rules/{r}/", RULE_EDIT),
    Call("post", "/alerts/rules/{r}/toggle/"),
    Call("post", "/alerts/rules/{r}/delete/"),
    Call("post", "/alerts/rules/{r}/test/"),
    Call("post", "/alerts/{e}/read/"),
    Call("post", "/alerts/{e}/read/", htmx=True),
]
OWNED_ALERT_API = [
    Call("get", "/api/v1/alert-rules/{r}/", json=True),
    Call("patch", "/api/v1/alert-rules/{r}/", {"price": 2}, json=True),
    Call("delete", "/api/v1/alert-rules/{r}/", json=True),
    Call("get", "/api/v1/alerts/{e}/", json=True),
    Call("patch", "/api/v1/alerts/{e}/", {"read": True}, json=True),
]
OWN_ALERT_PAGES = [
    Call("get", "/alerts/rules/"),
    Call("get", "/alerts/rules/new/?asset=BTCUSDT"),
    Call("post", "/alerts/rules/new/", RULE_EDIT),
    Call("get", "/alerts/"),
    Call("post", "/alerts/read-all/"),
    Call("get", "/alerts/bell/"),
]
OWN_ALERT_API = [
    Call("get", "/api/v1/alert-rules/", json=True),
    Call("post", "/api/v1/alert-rules/", {"asset": "BTCUSDT", "condition": "price_crosses", "price": 2}, json=True),
    Call("get", "/api/v1/alerts/", json=True),
]


@pytest.fixture
def alices_alert(alice: User, btc: Asset) -> tuple[Any, Any]:
    from django.utils import timezone

    from accounts.alerts.rule_store import alert_rule_create
    from accounts.models import AlertEvent

    rule, _ = alert_rule_create(user=alice, asset="BTCUSDT", condition="price_crosses", params={"price": 1.0})
    event = AlertEvent.objects.create(
        rule=rule,
        user=alice,
        asset=btc,
        condition="price_crosses",
        fired_at=timezone.now(),
        bar_time=timezone.now(),
        values={"close": 1.0},
    )
    return rule, event


def assert_alert_untouched(rule: Any, event: Any) -> None:
    from accounts.models import AlertEvent, AlertRule

    kept = AlertRule.objects.get(pk=rule.pk)
    assert (kept.user_id, kept.params["price"], kept.enabled) == (rule.user_id, 1.0, True)
    assert AlertEvent.objects.filter(rule=rule).count() == 1 and not AlertEvent.objects.get(pk=event.pk).read


@pytest.mark.parametrize("call", OWNED_ALERT_PAGES + OWNED_ALERT_API, ids=str)
def test_bob_gets_a_404_for_alices_alerts(call: Call, bob_client: Client, alices_alert: tuple[Any, Any]) -> None:
    rule, event = alices_alert
    response = call.send(bob_client, r=rule.pk, e=event.pk)
    assert response.status_code == 404, response.content[:300]
    assert_alert_untouched(rule, event)


@pytest.mark.parametrize("call", OWNED_ALERT_PAGES + OWNED_ALERT_API, ids=str)
def test_alice_reaches_her_own_alerts(call: Call, alice_client: Client, alices_alert: tuple[Any, Any]) -> None:
    rule, event = alices_alert
    response = call.send(alice_client, r=rule.pk, e=event.pk)
    assert response.status_code in (200, 201, 204, 302), response.content[:300]


@pytest.mark.parametrize("call", OWNED_ALERT_PAGES + OWN_ALERT_PAGES, ids=str)
def test_visitors_are_sent_to_log_in_from_alert_pages(
    call: Call, client: Client, alices_alert: tuple[Any, Any]
) -> None:
    rule, event = alices_alert
    response = call.send(client, r=rule.pk, e=event.pk)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{resolve_url(settings.LOGIN_URL)}?next=")
    assert_alert_untouched(rule, event)


@pytest.mark.parametrize("call", OWNED_ALERT_API + OWN_ALERT_API, ids=str)
def test_visitors_get_a_json_403_from_the_alert_api(call: Call, client: Client, alices_alert: tuple[Any, Any]) -> None:
    rule, event = alices_alert
    response = call.send(client, r=rule.pk, e=event.pk)
    assert response.status_code in (401, 403)
    assert response.json()["detail"] == "Authentication credentials were not provided."
    assert_alert_untouched(rule, event)


def test_alert_listings_hold_only_the_users_own(bob_client: Client, alices_alert: tuple[Any, Any]) -> None:
    assert bob_client.get("/api/v1/alert-rules/").json() == []
    assert bob_client.get("/api/v1/alerts/").json()["count"] == 0
    assert "price_crosses" not in bob_client.get("/alerts/").content.decode()
    assert "price_crosses" not in bob_client.get("/alerts/rules/").content.decode()
    assert 'data-unread="0"' in bob_client.get("/alerts/bell/").content.decode()


# ---- market pages shared between traders (heatmaps/views/trader_cache.py) -----------------------------

# Every market page a trader's request may be answered from a shared render for: whole pages and swaps.
CACHED_MARKET_PAGES = [
    Call("get", "/"),
    Call("get", "/?sort=-oi", htmx=True),
    Call("get", "/?q=BTC"),
    Call("get", "/assets/BTCUSDT/"),
    Call("get", "/assets/BTCUSDT/?tf=24h"),
    Call("get", "/assets/BTCUSDT/?tf=1w", htmx=True),
    Call("get", "/assets/BTCUSDT/?tf=24h&side=long"),
    Call("get", "/assets/BTCUSDT/?tf=2h"),  # unknown timeframe: a 400 page, never stored
]


@pytest.mark.parametrize("call", CACHED_MARKET_PAGES, ids=str)
def test_a_shared_market_page_carries_only_its_readers_pieces(
    call: Call, settings: Any, client: Client, alice_client: Client, bob_client: Client, bob: User,
    alices: tuple[Watchlist, Annotation],
) -> None:  # fmt: skip
    """Alice's request makes the render, Bob (the same look) and a visitor read it: neither gets
    anything of hers, Bob gets his own header."""
    settings.LIQ_PAGE_CACHE_SECONDS = 60
    _, annotation = alices
    watchlist_create(user=bob, name="Bob's", assets=["ETHUSDT"])
    hers = ("Alice&#x27;s", 'class="user-name">alice<', f'data-annotation-id="{annotation.pk}"')
    warm = call.send(alice_client)
    assert warm.status_code in (200, 400)
    if not call.htmx:
        assert all(piece in warm.content.decode() for piece in hers[:2])
    answers = {"bob": call.send(bob_client), "visitor": call.send(client)}
    assert answers["bob"].status_code == warm.status_code == answers["visitor"].status_code
    if warm.status_code == 200:  # Bob's answer is the render Alice's request made, filled for him
        assert answers["bob"]["X-Page-Cache"] == "trader-hit"
    for who, response in answers.items():
        html = response.content.decode()
        assert not any(piece in html for piece in hers), who
        assert "liq-hole" not in html, who
    if not call.htmx:
        assert "Bob&#x27;s" in answers["bob"].content.decode()
        assert 'class="user-name">bob<' in answers["bob"].content.decode()
