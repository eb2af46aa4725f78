"""Public pages shared between visitors for a few seconds (heatmaps/views/visitor_cache.py): what is
shared, with whom, and what never is. Real PostgreSQL and Redis; every URL carries a fresh nonce so a
copy kept by another test or run can never answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset, AssetSummary
from heatmaps.views import format_price

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


def test_signed_in_traders_always_get_their_own_render(client: Client, alice_client: Client, shared: None) -> None:
    url = fresh("/assets/BTCUSDT/?tf=24h")
    visitor = client.get(url)
    assert visitor["X-Page-Cache"] == "miss" and "alice" not in visitor.content.decode()
    theirs = alice_client.get(url)
    html = theirs.content.decode()
    assert theirs.status_code == 200 and "X-Page-Cache" not in theirs
    assert 'class="user-name">alice<' in html and "Alert me" in html and "Sign in" not in html
    assert "Cookie" in theirs["Vary"]
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
