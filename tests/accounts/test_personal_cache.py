"""A trader's cached pieces (accounts/personal_cache.py) follow every write of theirs — through the
services, and through plain ORM saves and deletes such as the admin's — and never cross to another
trader, on real PostgreSQL and Redis."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Annotation, User, Watchlist, WatchlistItem
from accounts.watchlists import watchlist_create
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset

pytestmark = pytest.mark.django_db


def _overview(client: Client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_list_made_renamed_or_deleted_outside_the_services_shows_at_once(
    alice: User, alice_client: Client, btc: Asset
) -> None:
    watchlist_create(user=alice, name="Majors", assets=["BTCUSDT"])
    assert "Majors" in _overview(alice_client)
    _overview(alice_client)  # now read from the cache
    # The admin saves the model directly: no service runs, the signal marks the cache stale.
    mine = Watchlist.objects.get(user=alice, name="Majors")
    mine.name = "Renamed"
    mine.save()
    body = _overview(alice_client)
    assert "Renamed" in body and "Majors" not in body
    WatchlistItem.objects.filter(watchlist=mine).delete()
    mine.delete()
    assert "Renamed" not in _overview(alice_client)


def test_cached_pieces_never_cross_to_another_trader(
    alice: User, bob: User, alice_client: Client, bob_client: Client, btc: Asset
) -> None:
    watchlist_create(user=alice, name="Alice only", assets=["BTCUSDT"])
    watchlist_create(user=bob, name="Bob only", assets=["BTCUSDT"])
    for _ in range(2):  # the first read fills each trader's cache, the second reads it
        alice_body, bob_body = _overview(alice_client), _overview(bob_client)
        assert "Alice only" in alice_body and "Bob only" not in alice_body
        assert "Bob only" in bob_body and "Alice only" not in bob_body


def test_an_annotation_saved_directly_reaches_the_asset_page_and_reads_are_cached(
    alice: User, alice_client: Client
) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h"])
    alice_client.get("/assets/BTCUSDT/")
    with CaptureQueriesContext(connection) as first:
        alice_client.get("/assets/BTCUSDT/")
    Annotation.objects.create(user=alice, asset=btc, kind="level", price=91_234.5, label="my wall")
    body = alice_client.get("/assets/BTCUSDT/").content.decode()
    assert "my wall" in body
    with CaptureQueriesContext(connection) as again:
        alice_client.get("/assets/BTCUSDT/")
    assert not any("accounts_annotation" in q["sql"] for q in again.captured_queries)
    assert len(again.captured_queries) <= len(first.captured_queries)
