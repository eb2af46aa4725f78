"""Watchlists: the services' rules, the pages, the star widget and the overview filter."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.shortcuts import resolve_url
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User, Watchlist, WatchlistItem
from accounts.watchlists import (
    MAX_WATCHLISTS,
    asset_star_toggle,
    get_watchlist_for_user,
    watchlist_create,
    watchlist_move_asset,
    watchlist_remove_asset,
    watchlist_rename,
    watchlist_set_assets,
    watchlist_symbols,
)
from heatmaps.models import Asset, Exchange
from tests.accounts.helpers import hx_post

pytestmark = pytest.mark.django_db


def symbols(watchlist: Watchlist) -> list[str]:
    return watchlist_symbols(watchlist=get_watchlist_for_user(user=watchlist.user, watchlist_id=watchlist.pk))


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


# ---- services -------------------------------------------------------------------------------------


def test_create_keeps_the_given_order_and_strips_the_name(alice: User, btc: Asset, eth: Asset, sol: Asset) -> None:
    watchlist = watchlist_create(user=alice, name="  Majors ", assets=["SOLUSDT", "btcusdt", "ETHUSDT"])
    assert watchlist.name == "Majors"
    assert symbols(watchlist) == ["SOLUSDT", "BTCUSDT", "ETHUSDT"]
    assert list(WatchlistItem.objects.filter(watchlist=watchlist).values_list("position", flat=True)) == [0, 1, 2]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the watchlist a name."),
        ("   ", "Give the watchlist a name."),
        ("x" * 61, "Keep the name to 60 characters (this one has 61)."),
        ("majors", "You already have a watchlist called “majors”."),
        ("MAJORS ", "You already have a watchlist called “MAJORS”."),
    ],
)
def test_bad_names_are_refused_and_nothing_is_saved(alice: User, btc: Asset, name: str, message: str) -> None:
    watchlist_create(user=alice, name="Majors")
    with pytest.raises(ValidationError) as exc:
        watchlist_create(user=alice, name=name, assets=["BTCUSDT"])
    assert errors_of(exc) == {"name": [message]}
    assert Watchlist.objects.filter(user=alice).count() == 1
    assert not WatchlistItem.objects.exists()


def test_the_same_name_is_fine_for_another_user(alice: User, bob: User) -> None:
    watchlist_create(user=alice, name="Majors")
    assert watchlist_create(user=bob, name="majors").name == "majors"


def test_the_database_refuses_a_case_insensitive_duplicate_too(alice: User) -> None:
    Watchlist.objects.create(user=alice, name="Majors")
    with pytest.raises(IntegrityError), transaction.atomic():
        Watchlist.objects.create(user=alice, name="MAJORS")


@pytest.mark.parametrize(
    ("assets", "message"),
    [
        (["BTCUSDT", "NOPEUSDT"], "Unknown or disabled asset: NOPEUSDT."),
        (["LUNAUSDT"], "Unknown or disabled asset: LUNAUSDT."),
        (["BTCUSDT", "btcusdt"], "BTCUSDT is listed twice."),
    ],
)
def test_unknown_disabled_or_repeated_assets_are_named(
    alice: User, btc: Asset, delisted: Asset, assets: list[str], message: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        watchlist_create(user=alice, name="Mine", assets=assets)
    assert errors_of(exc) == {"assets": [message]}
    assert not Watchlist.objects.exists()


def test_at_most_fifty_lists(alice: User, bob: User) -> None:
    Watchlist.objects.bulk_create(Watchlist(user=alice, name=f"list {i}") for i in range(MAX_WATCHLISTS))
    with pytest.raises(ValidationError) as exc:
        watchlist_create(user=alice, name="one more")
    assert "already have 50 watchlists" in errors_of(exc)["name"][0]
    assert Watchlist.objects.filter(user=alice).count() == MAX_WATCHLISTS
    watchlist_create(user=bob, name="one more")  # the limit is per user


def test_rename_checks_like_create_but_allows_a_case_change(alice: User) -> None:
    majors = watchlist_create(user=alice, name="Majors")
    watchlist_create(user=alice, name="Alts")
    with pytest.raises(ValidationError) as exc:
        watchlist_rename(watchlist=majors, name="alts")
    assert errors_of(exc) == {"name": ["You already have a watchlist called “alts”."]}
    watchlist_rename(watchlist=majors, name="MAJORS")
    majors.refresh_from_db()
    assert majors.name == "MAJORS"


def test_set_assets_replaces_in_order_or_not_at_all(alice: User, btc: Asset, eth: Asset, sol: Asset) -> None:
    watchlist = watchlist_create(user=alice, name="Mine", assets=["BTCUSDT"])
    watchlist_set_assets(watchlist=watchlist, assets=["ETHUSDT", "SOLUSDT", "BTCUSDT"])
    assert symbols(watchlist) == ["ETHUSDT", "SOLUSDT", "BTCUSDT"]
    with pytest.raises(ValidationError):
        watchlist_set_assets(watchlist=watchlist, assets=["SOLUSDT", "XRPUSDT"])
    assert symbols(watchlist) == ["ETHUSDT", "SOLUSDT", "BTCUSDT"]


def test_moves_swap_neighbours_and_stop_at_the_ends(alice: User, btc: Asset, eth: Asset, sol: Asset) -> None:
    watchlist = watchlist_create(user=alice, name="Mine", assets=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    watchlist_move_asset(watchlist=watchlist, symbol="SOLUSDT", direction="up")
    assert symbols(watchlist) == ["BTCUSDT", "SOLUSDT", "ETHUSDT"]
    watchlist_move_asset(watchlist=watchlist, symbol="BTCUSDT", direction="up")
    watchlist_move_asset(watchlist=watchlist, symbol="ETHUSDT", direction="down")
    assert symbols(watchlist) == ["BTCUSDT", "SOLUSDT", "ETHUSDT"]
    watchlist_move_asset(watchlist=watchlist, symbol="BTCUSDT", direction="down")
    assert symbols(watchlist) == ["SOLUSDT", "BTCUSDT", "ETHUSDT"]
    with pytest.raises(ValidationError):
        watchlist_move_asset(watchlist=watchlist, symbol="XRPUSDT", direction="up")


def test_remove_keeps_positions_dense(alice: User, btc: Asset, eth: Asset, sol: Asset) -> None:
    watchlist = watchlist_create(user=alice, name="Mine", assets=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    watchlist_remove_asset(watchlist=watchlist, asset=eth)
    assert symbols(watchlist) == ["BTCUSDT", "SOLUSDT"]
    assert list(WatchlistItem.objects.filter(watchlist=watchlist).values_list("position", flat=True)) == [0, 1]


def test_first_star_makes_a_default_list_then_toggles_it(alice: User, btc: Asset, eth: Asset) -> None:
    watchlist, starred = asset_star_toggle(user=alice, asset=btc)
    assert (watchlist.name, starred) == ("Watchlist", True)
    assert asset_star_toggle(user=alice, asset=eth) == (watchlist, True)
    assert symbols(watchlist) == ["BTCUSDT", "ETHUSDT"]
    assert asset_star_toggle(user=alice, asset=btc, watchlist_id=watchlist.pk) == (watchlist, False)
    assert symbols(watchlist) == ["ETHUSDT"]


def test_starring_into_another_users_list_is_a_404(alice: User, bob: User, btc: Asset) -> None:
    alices = watchlist_create(user=alice, name="Mine")
    with pytest.raises(Http404):
        asset_star_toggle(user=bob, asset=btc, watchlist_id=alices.pk)
    assert not WatchlistItem.objects.exists()


# ---- pages ----------------------------------------------------------------------------------------


def test_list_page_creates_a_list_with_assets_and_redirects(alice_client: Client, btc: Asset, eth: Asset) -> None:
    response = alice_client.post("/watchlists/", {"name": "Majors", "assets": "ETHUSDT, btcusdt"})
    assert response.status_code == 302 and response["Location"] == "/watchlists/"
    watchlist = Watchlist.objects.get(name="Majors")
    assert symbols(watchlist) == ["ETHUSDT", "BTCUSDT"]
    body = alice_client.get("/watchlists/").content.decode()
    assert f'href="/watchlists/{watchlist.pk}/">Majors</a>' in body and "ETHUSDT, BTCUSDT" in body


def test_list_page_create_with_htmx_swaps_only_the_list(alice_client: Client, btc: Asset) -> None:
    response = hx_post(alice_client, "/watchlists/", {"name": "Majors", "assets": "BTCUSDT"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and body.lstrip().startswith('<section id="watchlist-list">')
    assert ">Majors</a>" in body
    # The header's links are refreshed out of band.
    assert 'id="watchlist-nav"' in body and 'hx-swap-oob="true"' in body and "★ Majors</a>" in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": " ", "assets": ""}, "Give the watchlist a name."),
        ({"name": "majors", "assets": ""}, "You already have a watchlist called “majors”."),
        ({"name": "New", "assets": "BTCUSDT NOPEUSDT"}, "Unknown or disabled asset: NOPEUSDT."),
    ],
)
def test_list_page_explains_a_refusal_and_saves_nothing(
    alice_client: Client, alice: User, btc: Asset, data: dict[str, str], message: str
) -> None:
    watchlist_create(user=alice, name="Majors")
    for response in (alice_client.post("/watchlists/", data), hx_post(alice_client, "/watchlists/", data)):
        assert response.status_code == 200
        assert message in response.content.decode()
    assert list(Watchlist.objects.values_list("name", flat=True)) == ["Majors"]
    assert not WatchlistItem.objects.exists()


def test_detail_page_moves_and_removes_with_and_without_htmx(
    alice_client: Client, alice: User, btc: Asset, eth: Asset, sol: Asset
) -> None:
    watchlist = watchlist_create(user=alice, name="Mine", assets=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    base = f"/watchlists/{watchlist.pk}/"
    body = alice_client.get(base).content.decode()
    assert body.index(">BTCUSDT</a>") < body.index(">ETHUSDT</a>") < body.index(">SOLUSDT</a>")

    response = alice_client.post(f"{base}items/SOLUSDT/move/", {"direction": "up"})
    assert response.status_code == 302 and response["Location"] == base
    assert symbols(watchlist) == ["BTCUSDT", "SOLUSDT", "ETHUSDT"]

    response = hx_post(alice_client, f"{base}items/BTCUSDT/move/", {"direction": "down"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="watchlist-items">') and "<html" not in body
    assert body.index(">SOLUSDT</a>") < body.index(">BTCUSDT</a>") < body.index(">ETHUSDT</a>")

    response = hx_post(alice_client, f"{base}items/SOLUSDT/remove/")
    assert ">SOLUSDT</a>" not in response.content.decode()
    assert symbols(watchlist) == ["BTCUSDT", "ETHUSDT"]

    response = alice_client.post(f"{base}items/", {"asset": "SOLUSDT"})
    assert response.status_code == 302
    assert symbols(watchlist) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_rename_and_delete_pages(alice_client: Client, alice: User) -> None:
    majors = watchlist_create(user=alice, name="Majors")
    watchlist_create(user=alice, name="Alts")
    response = hx_post(alice_client, f"/watchlists/{majors.pk}/rename/", {"name": "ALTS"})
    assert "You already have a watchlist called “ALTS”." in response.content.decode()
    assert "hx-swap-oob" not in response.content.decode()
    response = hx_post(alice_client, f"/watchlists/{majors.pk}/rename/", {"name": "Large caps"})
    assert "<h1>Large caps</h1>" in response.content.decode() and "★ Large caps</a>" in response.content.decode()
    response = alice_client.post(f"/watchlists/{majors.pk}/rename/", {"name": "Big caps"})
    assert response.status_code == 302
    majors.refresh_from_db()
    assert majors.name == "Big caps"
    response = alice_client.post(f"/watchlists/{majors.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/watchlists/"
    assert list(Watchlist.objects.values_list("name", flat=True)) == ["Alts"]


def test_delete_needs_a_post(alice_client: Client, alice: User) -> None:
    majors = watchlist_create(user=alice, name="Majors")
    assert alice_client.get(f"/watchlists/{majors.pk}/delete/").status_code == 405
    assert Watchlist.objects.filter(pk=majors.pk).exists()


# ---- the star widget ------------------------------------------------------------------------------


def test_star_with_htmx_returns_only_the_widget(alice_client: Client, alice: User, btc: Asset) -> None:
    response = hx_post(alice_client, "/watchlists/star/", {"asset": "BTCUSDT", "next": "/"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith(f'<span class="star-widget" id="star-{btc.pk}">') and "<html" not in body
    assert 'aria-pressed="true"' in body and "★" in body
    # The first star made a list: the header's links are refreshed out of band.
    assert 'id="watchlist-nav"' in body and 'hx-swap-oob="true"' in body and "★ Watchlist</a>" in body
    watchlist = Watchlist.objects.get(user=alice)
    assert symbols(watchlist) == ["BTCUSDT"]

    body = hx_post(alice_client, "/watchlists/star/", {"asset": "BTCUSDT", "watchlist": watchlist.pk}).content.decode()
    assert 'aria-pressed="false"' in body and "☆" in body and "hx-swap-oob" not in body
    assert symbols(watchlist) == []


def test_star_without_htmx_redirects_back(alice_client: Client, btc: Asset) -> None:
    response = alice_client.post("/watchlists/star/", {"asset": "BTCUSDT", "next": "/assets/BTCUSDT/?tf=1w"})
    assert response.status_code == 302 and response["Location"] == "/assets/BTCUSDT/?tf=1w"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", ""])
def test_star_never_redirects_off_site(alice_client: Client, btc: Asset, next_url: str) -> None:
    response = alice_client.post("/watchlists/star/", {"asset": "BTCUSDT", "next": next_url})
    assert response.status_code == 302 and response["Location"] == "/"


def test_star_for_an_unknown_or_disabled_asset_is_a_404(alice_client: Client, delisted: Asset) -> None:
    assert alice_client.post("/watchlists/star/", {"asset": "NOPEUSDT"}).status_code == 404
    assert alice_client.post("/watchlists/star/", {"asset": "LUNAUSDT"}).status_code == 404
    assert not Watchlist.objects.exists()


def test_with_several_lists_the_widget_offers_each(alice_client: Client, alice: User, btc: Asset) -> None:
    watchlist_create(user=alice, name="Majors", assets=["BTCUSDT"])
    alts = watchlist_create(user=alice, name="Alts")
    body = alice_client.get("/").content.decode()
    widget = body[body.index(f'id="star-{btc.pk}"') :]
    widget = widget[: widget.index("</form>")]
    assert "<details" in widget
    assert re.search(r'aria-pressed="true">★ Majors</button>', widget)
    assert re.search(r'aria-pressed="false">☆ Alts</button>', widget)
    body = hx_post(alice_client, "/watchlists/star/", {"asset": "BTCUSDT", "watchlist": alts.pk}).content.decode()
    assert '<details class="star-lists" open>' in body and 'aria-pressed="true">★ Alts</button>' in body


def test_anonymous_visitors_get_a_sign_in_link_instead(client: Client, btc: Asset) -> None:
    body = client.get("/").content.decode()
    # No star forms for them (the overview's search form is a GET form for everyone).
    assert f'href="{resolve_url(settings.LOGIN_URL)}?next=/"' in body and 'method="post"' not in body


def test_star_widgets_cost_the_same_queries_for_two_or_ten_assets(
    alice_client: Client, alice: User, binance: Exchange
) -> None:
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert alice_client.get("/").status_code == 200
        return len(queries)

    for i in range(2):
        Asset.objects.create(symbol=f"A{i}USDT", display_name=f"A{i}", base=f"A{i}", reference_exchange=binance)
    watchlist_create(user=alice, name="Mine", assets=["A0USDT"])
    watchlist_create(user=alice, name="More", assets=["A1USDT"])
    first = count_queries()  # the trader's lists read, then kept in the cache until they change
    few = count_queries()
    assert few < first
    for i in range(2, 10):
        Asset.objects.create(symbol=f"A{i}USDT", display_name=f"A{i}", base=f"A{i}", reference_exchange=binance)
    assert count_queries() == few


# ---- the overview filter and the header's links ---------------------------------------------------


def test_overview_shows_one_list_in_its_order(
    alice_client: Client, alice: User, btc: Asset, eth: Asset, sol: Asset
) -> None:
    watchlist = watchlist_create(user=alice, name="Majors", assets=["SOLUSDT", "BTCUSDT"])
    body = alice_client.get(f"/?watchlist={watchlist.pk}").content.decode()
    assert "<h1>Watchlist: Majors</h1>" in body
    assert body.index(">SOLUSDT</a>") < body.index(">BTCUSDT</a>")
    assert ">ETHUSDT</a>" not in body
    full = alice_client.get("/").content.decode()
    assert "<h1>Assets</h1>" in full and ">ETHUSDT</a>" in full


def test_overview_of_an_empty_list_says_so(alice_client: Client, alice: User, btc: Asset) -> None:
    watchlist = watchlist_create(user=alice, name="Empty")
    body = alice_client.get(f"/?watchlist={watchlist.pk}").content.decode()
    assert "This watchlist has no assets yet" in body and ">BTCUSDT</a>" not in body


@pytest.mark.parametrize("raw", ["abc", "", "1.5", "-1", "999999"])
def test_overview_filter_with_a_bad_id_is_a_404(alice_client: Client, btc: Asset, raw: str) -> None:
    assert alice_client.get(f"/?watchlist={raw}").status_code == 404


def test_header_links_the_users_lists(alice_client: Client, bob_client: Client, alice: User, btc: Asset) -> None:
    majors = watchlist_create(user=alice, name="Majors")
    body = alice_client.get("/assets/BTCUSDT/").content.decode()
    assert f'href="/?watchlist={majors.pk}"' in body and "★ Majors</a>" in body
    assert "Majors" not in bob_client.get("/").content.decode()


def test_header_lists_cost_one_query_and_none_for_visitors(
    client: Client, alice_client: Client, alice: User, btc: Asset
) -> None:
    for i in range(3):
        watchlist_create(user=alice, name=f"list {i}", assets=["BTCUSDT"] if i == 0 else [])
    with CaptureQueriesContext(connection) as queries:
        body = alice_client.get("/").content.decode()
    assert "★ list 2</a>" in body
    # The header's links and the star widgets share one fetch of the lists.
    assert len([q for q in queries if 'FROM "accounts_watchlist" ' in q["sql"]]) == 1
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    assert not [q for q in queries if "accounts_" in q["sql"]]
