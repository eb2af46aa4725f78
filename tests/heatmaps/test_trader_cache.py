"""Market pages shared between signed-in traders (heatmaps/views/trader_cache.py): one render per URL
and look, each trader's own pieces filled in per request. What is shared, with whom, what never is,
and that the forms on a shared page still post. Real PostgreSQL and Redis, a cache key prefix per test."""

from __future__ import annotations

import pickle
import re
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import engines
from django.test import Client, RequestFactory

from accounts.annotations import annotation_create
from accounts.models import User
from accounts.watchlists import watchlist_create
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from heatmaps.views.trader_cache import shared_with_traders
from tests.conftest import record_liquidation, with_verified_email

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["24h"])
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def shared(settings: Any, sample_maps: None) -> str:
    settings.LIQ_PAGE_CACHE_SECONDS = 60
    # A key prefix of its own: nothing another test or run kept can answer this one.
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    return prefix


def fresh(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}nonce={uuid.uuid4().hex}"


def signed_in(user: User, *, csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf_checks)
    client.force_login(user)
    return client


def stored_renders(prefix: str) -> list[str]:
    """Every traders' render in the cache, as stored (holes unfilled)."""
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    renders = []
    for key in client.scan_iter(f"{prefix}:*trader-page:*"):
        stored = pickle.loads(client.get(key))
        renders.append(stored[3])
    return renders


@pytest.fixture
def traders(alice: User, bob: User, sample_maps: None) -> tuple[User, User]:
    """Alice in Tokyo with her level and her star on BTCUSDT; Bob in UTC with his own level, no star."""
    btc = Asset.objects.get(symbol="BTCUSDT")
    watchlist_create(user=alice, name="alice-majors", assets=["BTCUSDT"])
    watchlist_create(user=bob, name="bob-alts", assets=["ETHUSDT"])
    annotation_create(user=alice, asset="BTCUSDT", kind="level", price=81_234.0, label="alice-support")
    annotation_create(user=bob, asset="BTCUSDT", kind="zone", price=92_000.0, price_high=92_500.0, label="bob-zone")
    User.objects.filter(pk=alice.pk).update(time_zone="Asia/Tokyo")
    assert btc.enabled
    return User.objects.get(pk=alice.pk), User.objects.get(pk=bob.pk)


def test_two_traders_get_their_own_pages_from_one_warm_cache(
    client: Client, traders: tuple[User, User], shared: str
) -> None:
    """The pages of two traders who differ in time zone, annotations, lists and star, each read twice
    (render, then the shared copy filled), and a visitor's in between, on every cached page kind."""
    alice, bob = traders
    carol = with_verified_email(User.objects.create_user("carol", "carol@example.org", "carol-password-1"))
    btc = Asset.objects.get(symbol="BTCUSDT")
    when = record_liquidation(btc, hours_before_newest=2, side="long", price=84_000.0, usd=84_000.0)
    mine = {"alice": ("alice-support", "alice-majors", 'class="user-name">alice<'),
            "bob": ("bob-zone", "bob-alts", 'class="user-name">bob<')}  # fmt: skip
    for url, htmx in [
        (fresh("/assets/BTCUSDT/?tf=24h"), False),
        (fresh("/assets/BTCUSDT/?tf=24h"), True),
        (fresh("/"), False),
        (fresh("/?sort=-oi"), True),
    ]:
        extra: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        clients = {"alice": signed_in(alice), "bob": signed_in(bob)}
        seen: dict[str, list[Any]] = {"alice": [], "bob": []}
        for _ in range(2):
            for name, c in clients.items():
                seen[name].append(c.get(url, **extra))
            visitor = client.get(url, **extra)
            assert visitor.status_code == 200
            page = visitor.content.decode()
            assert not any(piece in page for pieces in mine.values() for piece in pieces)
            assert "Time (Asia/Tokyo)" not in page
        # Each look (Tokyo, UTC) is rendered once, then served from its shared copy…
        assert [r["X-Page-Cache"] for r in seen["alice"]] == ["trader-miss", "trader-hit"]
        assert [r["X-Page-Cache"] for r in seen["bob"]] == ["trader-miss", "trader-hit"]
        # …also to another trader of the same look, with her own pieces (none here) and not Bob's.
        carols = signed_in(carol).get(url, **extra)
        assert carols["X-Page-Cache"] == "trader-hit"
        assert "bob" not in carols.content.decode() and "alice" not in carols.content.decode()
        assert htmx or 'class="user-name">carol<' in carols.content.decode()
        for name, other in (("alice", "bob"), ("bob", "alice")):
            for response in seen[name]:
                html = response.content.decode()
                assert response.status_code == 200 and "liq-hole" not in html
                assert "private" in response["Cache-Control"] and "Cookie" in response["Vary"]
                if url.startswith("/assets/"):
                    assert mine[name][0] in html  # their annotations panel
                    assert not htmx or "<html" not in html
                if not htmx:
                    assert all(piece in html for piece in mine[name][1:])  # header: lists and name
                assert not any(piece in html for piece in mine[other])
        if url.startswith("/assets/"):
            # The recorded liquidation in each one's own time zone.
            alice_page, bob_page = seen["alice"][1].content.decode(), seen["bob"][1].content.decode()
            assert "Time (Asia/Tokyo)" in alice_page and "Time (UTC)" in bob_page
            assert when.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%m-%d %H:%M") in alice_page
            assert when.astimezone(UTC).strftime("%m-%d %H:%M") in bob_page
        if not htmx:
            # Alice's star is on for BTCUSDT, Bob's is not; each form carries its own list.
            alice_page, bob_page = seen["alice"][1].content.decode(), seen["bob"][1].content.decode()
            assert 'class="star on"' in star_of(alice_page, btc) and "on" not in star_class(bob_page, btc)


def star_of(html: str, asset: Asset) -> str:
    start = html.index(f'id="star-{asset.pk}"')
    return html[start : html.index("</span>", start)]


def star_class(html: str, asset: Asset) -> str:
    match = re.search(r'class="(star[^"]*)"', star_of(html, asset))
    assert match
    return match.group(1)


def test_the_shared_renders_hold_nothing_personal(traders: tuple[User, User], shared: str) -> None:
    alice, bob = traders
    for user in (alice, bob):
        c = signed_in(user)
        for url in ("/assets/BTCUSDT/?tf=24h", "/", "/?sort=oi"):
            assert c.get(url).status_code == 200
            assert c.get(url, HTTP_HX_REQUEST="true").status_code == 200
    renders = stored_renders(shared)
    assert len(renders) == 6 * 2  # six pages, two looks (Tokyo, UTC)
    for html in renders:
        assert "liq-hole" in html  # the personal pieces are holes…
        for personal in ("alice", "bob", "csrfmiddlewaretoken", "Your annotations", "manage lists"):
            assert personal not in html  # …and nothing of theirs is in the shared part


def test_forms_on_a_shared_page_post_with_the_traders_own_token(traders: tuple[User, User], shared: str) -> None:
    alice, bob = traders
    eth = Asset.objects.get(symbol="ETHUSDT")
    User.objects.filter(pk=alice.pk).update(time_zone="UTC")  # Bob's look: he gets the render she warmed
    warm = signed_in(User.objects.get(pk=alice.pk), csrf_checks=True)
    assert warm.get("/")["X-Page-Cache"] == "trader-miss"
    bobs = signed_in(bob, csrf_checks=True)
    page = bobs.get("/")
    assert page["X-Page-Cache"] == "trader-hit"
    form = star_of(page.content.decode(), eth)
    token = TOKEN.search(form)
    assert token, form
    starred = bobs.post("/watchlists/star/", {"asset": "ETHUSDT", "csrfmiddlewaretoken": token.group(1)})
    assert starred.status_code == 302  # accepted: the token in the filled hole is his
    assert bobs.post("/watchlists/star/", {"asset": "ETHUSDT"}).status_code == 403  # the control: no token
    # Sign out is a form in the header's hole.
    sign_out = re.search(r'action="/accounts/logout/">.*?value="([^"]+)"', page.content.decode())
    assert sign_out
    assert bobs.post("/accounts/logout/", {"csrfmiddlewaretoken": sign_out.group(1)}).status_code == 302
    assert "_auth_user_id" not in bobs.session


def test_a_watchlist_overview_is_never_shared(traders: tuple[User, User], shared: str) -> None:
    alice, bob = traders
    listed = alice.watchlists.get()
    url = f"/?watchlist={listed.pk}"
    alices = signed_in(alice)
    for _ in range(2):
        response = alices.get(url)
        assert response.status_code == 200 and "alice-majors" in response.content.decode()
        assert "X-Page-Cache" not in response and "private" in response["Cache-Control"]
    assert signed_in(bob).get(url).status_code == 404  # not Alice's page from the cache
    assert stored_renders(shared) == []


def test_staff_and_each_default_timeframe_have_their_own_render(
    traders: tuple[User, User], olga: User, shared: str
) -> None:
    alice, bob = traders
    missing = fresh("/assets/BTCUSDT/?tf=1y")  # not computed: staff get a link to the admin
    assert "Recompute it from the admin" in signed_in(olga).get(missing).content.decode()
    bobs = signed_in(bob).get(missing)
    assert bobs["X-Page-Cache"] == "trader-miss" and "Recompute it from the admin" not in bobs.content.decode()
    User.objects.filter(pk=bob.pk).update(default_timeframe="1w", time_zone="Asia/Tokyo")
    User.objects.filter(pk=alice.pk).update(default_timeframe="24h")
    url = fresh("/assets/BTCUSDT/")
    assert 'data-timeframe="24h"' in signed_in(alice).get(url).content.decode()
    assert 'data-timeframe="1w"' in signed_in(User.objects.get(pk=bob.pk)).get(url).content.decode()


def test_messages_are_shown_once_to_their_trader_only(traders: tuple[User, User], shared: str) -> None:
    _, bob = traders
    carol = with_verified_email(User.objects.create_user("carol", "carol@example.org", "carol-password-1"))
    url = "/assets/BTCUSDT/?tf=24h"
    signed_in(bob).get(url)  # the shared render is warm
    carols = signed_in(carol)
    carols.post("/watchlists/star/", {"asset": "BTCUSDT"})  # a first star: a message about the new list
    page = carols.get(url)
    assert page["X-Page-Cache"] == "trader-hit" and "is in your new watchlist" in page.content.decode()
    assert "is in your new watchlist" not in carols.get(url).content.decode()  # shown once
    assert "is in your new watchlist" not in signed_in(bob).get(url).content.decode()


# ---- the guards: a shared render that reads something personal is the trader's own ----------------

PERSONAL_TEMPLATES = {
    "name outside a hole": "<p>{{ user.email }}</p>",
    "a CSRF token outside a hole": "<form>{% csrf_token %}</form>",
    "messages outside a hole": "{% for m in messages %}{{ m }}{% endfor %}",
    "the session outside a hole": "<p>{{ request.session.visits }}</p>",
}


@pytest.mark.parametrize("source", PERSONAL_TEMPLATES.values(), ids=PERSONAL_TEMPLATES.keys())
def test_a_render_that_reads_something_personal_is_not_shared(alice: User, bob: User, shared: str, source: str) -> None:
    # With a personal piece in a hole, as the market pages have: only the guards keep it from being shared.
    template = engines["django"].from_string("{% load personal %}<nav>{% account_nav %}</nav>" + source)

    @shared_with_traders()
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(template.render({}, request))

    pages = []
    for user in (alice, bob):
        request = signed_in_request(user)
        response = view(request)
        assert response.status_code == 200 and "X-Page-Cache" not in response
        pages.append(response.content.decode())
    assert stored_renders(shared) == []
    for user, page in zip((alice, bob), pages, strict=True):
        assert f'class="user-name">{user.username}<' in page
    if "email" in source:
        assert "<p>alice@example.org</p>" in pages[0] and "<p>bob@example.org</p>" in pages[1]
    if "session" in source:
        assert "<p>alice&#x27;s visits</p>" in pages[0] and "<p>bob&#x27;s visits</p>" in pages[1]


def test_a_view_that_reads_the_user_is_not_shared(alice: User, bob: User, shared: str) -> None:
    @shared_with_traders()
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, "base.html", {"greeting": request.user.get_username()})

    for user in (alice, bob):
        response = view(signed_in_request(user))
        assert "X-Page-Cache" not in response and f'class="user-name">{user.username}<' in response.content.decode()
    assert stored_renders(shared) == []


def signed_in_request(user: User) -> HttpRequest:
    """A GET as the middleware leaves it for a signed-in user (session, CSRF cookie, messages)."""
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.cache import SessionStore
    from django.middleware.csrf import CsrfViewMiddleware

    request = RequestFactory().get("/guarded/")
    request.user = user
    request.session = SessionStore()
    request.session["visits"] = f"{user.username}'s visits"
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    request.COOKIES[settings.CSRF_COOKIE_NAME] = "x" * 32
    CsrfViewMiddleware(lambda r: HttpResponse()).process_request(request)
    return request
