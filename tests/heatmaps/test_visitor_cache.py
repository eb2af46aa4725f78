"""Public pages shared between visitors for a few seconds (heatmaps/views/visitor_cache.py), and the
asset page's market panel shared between traders with each one's own levels put in: what is shared,
with whom, and what never is. Real PostgreSQL and Redis, a cache key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from accounts.annotations import annotation_create
from accounts.models import User
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset, AssetSummary
from heatmaps.views import format_price
from tests.conftest import record_liquidation

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["24h"])
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def shared(settings: Any, sample_maps: None) -> None:
    settings.LIQ_PAGE_CACHE_SECONDS = 60
    # A key prefix of its own: nothing another test or run kept can answer this one.
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


def fresh(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}nonce={uuid.uuid4().hex}"


def reprice(price: float) -> None:
    AssetSummary.objects.filter(asset__symbol="BTCUSDT").update(price=price)


def test_visitors_share_one_render_until_it_expires(client: Client, shared: None) -> None:
    url = fresh("/?q=BTC")
    reprice(12_345.6)
    first = client.get(url)
    assert first.status_code == 200 and first["X-Page-Cache"] == "miss"
    assert format_price(12_345.6) in first.content.decode()
    reprice(23_456.7)
    second = client.get(url)
    # The shared copy: the render of a moment ago, byte for byte, not the price written since.
    assert second["X-Page-Cache"] == "hit" and second.content == first.content
    assert format_price(23_456.7) not in second.content.decode()
    assert "Cookie" in second["Vary"] and "HX-Request" in second["Vary"]
    # Another page (another query) is its own render, with the new price.
    other = client.get(fresh("/?q=BTC"))
    assert other["X-Page-Cache"] == "miss" and format_price(23_456.7) in other.content.decode()


def test_nothing_is_shared_when_switched_off(client: Client, settings: Any, sample_maps: None) -> None:
    settings.LIQ_PAGE_CACHE_SECONDS = 0
    url = fresh("/?q=BTC")
    reprice(12_345.6)
    client.get(url)
    reprice(23_456.7)
    again = client.get(url)
    assert "X-Page-Cache" not in again and format_price(23_456.7) in again.content.decode()
    assert "Cookie" in again["Vary"]


def test_signed_in_traders_never_get_the_visitors_copy(client: Client, alice_client: Client, shared: None) -> None:
    url = fresh("/assets/BTCUSDT/?tf=24h")
    visitor = client.get(url)
    assert visitor["X-Page-Cache"] == "miss" and "alice" not in visitor.content.decode()
    theirs = alice_client.get(url)
    html = theirs.content.decode()
    # Theirs is the traders' render (tests/heatmaps/test_trader_cache.py), with her own pieces in it.
    assert theirs.status_code == 200 and theirs["X-Page-Cache"] == "trader-miss"
    assert 'class="user-name">alice<' in html and "Alert me" in html and "Sign in" not in html
    assert "Cookie" in theirs["Vary"] and "private" in theirs["Cache-Control"]
    # …and her page was not kept for the next visitor.
    after = client.get(url)
    assert after["X-Page-Cache"] == "hit" and after.content == visitor.content


def test_the_htmx_partial_and_the_whole_page_are_kept_apart(client: Client, shared: None) -> None:
    url = fresh("/assets/BTCUSDT/?tf=24h")
    whole = client.get(url)
    partial = client.get(url, HTTP_HX_REQUEST="true")
    assert partial["X-Page-Cache"] == "miss" and "<html" not in partial.content.decode()
    assert client.get(url)["X-Page-Cache"] == "hit" and "<html" in whole.content.decode()
    restore = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert restore["X-Page-Cache"] == "miss" and "<html" in restore.content.decode()
    assert client.get(url, HTTP_HX_REQUEST="true").content == partial.content


@pytest.mark.parametrize("cookie", ["csrftoken", "sessionid", "messages"])
def test_a_visitor_with_one_of_our_cookies_gets_a_fresh_render(client: Client, shared: None, cookie: str) -> None:
    url = fresh("/?q=BTC")
    client.get(url)
    personal = Client()
    personal.cookies[cookie] = "x" * 32
    response = personal.get(url)
    assert response.status_code == 200 and "X-Page-Cache" not in response


def test_only_successful_pages_are_shared(client: Client, shared: None) -> None:
    url = fresh("/assets/BTCUSDT/?tf=2h")  # no such timeframe: the page itself answers 400
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 400 and "X-Page-Cache" not in response
    assert client.get(fresh("/assets/NOSUCH/")).status_code == 404


def test_traders_share_the_market_panel_but_each_sees_only_their_own_levels(
    alice: Any, bob: Any, alice_client: Client, bob_client: Client, shared: None
) -> None:
    btc = Asset.objects.get(symbol="BTCUSDT")
    annotation_create(user=alice, asset="BTCUSDT", kind="level", price=81_234.0, label="alice-support")
    annotation_create(user=bob, asset="BTCUSDT", kind="level", price=92_345.0, label="bob-resistance")
    when = record_liquidation(btc, hours_before_newest=2, side="long", price=84_000.0, usd=84_000.0)
    User.objects.filter(pk=alice.pk).update(time_zone="Asia/Tokyo")
    url = fresh("/assets/BTCUSDT/?tf=24h")
    extras: list[dict[str, Any]] = [{}, {"HTTP_HX_REQUEST": "true"}]
    for extra in extras:
        pages = {
            name: c.get(url, **extra).content.decode() for name, c in (("alice", alice_client), ("bob", bob_client))
        }
        assert "alice-support" in pages["alice"] and "bob-resistance" not in pages["alice"]
        assert "bob-resistance" in pages["bob"] and "alice-support" not in pages["bob"]
        # The recorded liquidation in each one's own time zone, the market figures alike.
        assert "Time (Asia/Tokyo)" in pages["alice"] and "Time (UTC)" in pages["bob"]
        assert when.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%m-%d %H:%M") in pages["alice"]
        assert when.astimezone(UTC).strftime("%m-%d %H:%M") in pages["bob"]
        assert pages["alice"].count("Alert me") == pages["bob"].count("Alert me") > 0
        assert "<!--liq:annotations-->" not in pages["alice"] + pages["bob"]


def test_a_popular_map_is_answered_from_the_cache_within_the_window(
    client: Client, shared: None, django_assert_num_queries: Any
) -> None:
    url = "/api/v1/assets/BTCUSDT/heatmap/?timeframe=24h&cells=packed"
    first = client.get(url)
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = client.get(url)
        unchanged = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert unchanged.status_code == 304 and unchanged["ETag"] == first["ETag"]
    # A wrong request is never answered from another one's copy.
    assert client.get(url + "&side=sideways").status_code == 400
    assert client.get(url.replace("BTCUSDT", "NOSUCH")).status_code == 404


def test_a_new_map_version_is_served_at_once_despite_the_window(
    client: Client, shared: None, django_capture_on_commit_callbacks: Any
) -> None:
    """A page that refetches on a live ``map`` event must get the new map, not the tag cached for 60 s."""
    from django.db.models import F

    from heatmaps.maps import heatmap_generation, heatmap_generation_bump
    from heatmaps.models import Heatmap

    url = "/api/v1/assets/BTCUSDT/heatmap/?timeframe=24h&cells=packed"
    first = client.get(url)
    Heatmap.objects.filter(asset__symbol="BTCUSDT", timeframe="24h").update(version=F("version") + 1)
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304  # cached: the stale tag
    heatmap_generation_bump(symbol="BTCUSDT")
    second = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200 and second["ETag"] != first["ETag"]
    # Storing a map bumps it once the transaction commits.
    before = heatmap_generation("BTCUSDT")
    with django_capture_on_commit_callbacks(execute=True):
        heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["12h"])
    assert heatmap_generation("BTCUSDT") == before + 1
