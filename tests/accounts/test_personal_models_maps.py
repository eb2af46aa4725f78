"""A saved model on the maps, through the registration accounts.apps makes (not a test's stand-in):
its owner's "draw with this model" link draws the asset page with it, another trader following the
same link gets model v1 and never its name, and the shareable link (parameters in the URL) draws the
very same map for anyone."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import PersonalModel, User
from accounts.personal_models import TierInput, list_personal_models, personal_model_create, resolve_personal_model
from heatmaps import personal_hook
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset

pytestmark = pytest.mark.django_db

NAME = "Alice fast fade"


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["1w"])
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def registered() -> Iterator[None]:
    """accounts.apps' registration, whatever an earlier test in this process left in its place."""
    previous = personal_hook._hook
    personal_hook.register_personal_models(resolve=resolve_personal_model, list_models=list_personal_models)
    yield
    personal_hook._hook = previous


@pytest.fixture
def alices(alice: User, sample_maps: None, registered: None) -> PersonalModel:
    return personal_model_create(
        user=alice, name=NAME, tiers=[TierInput(10, 0.6, 48.0), TierInput(50, 0.4, 12.0)], mmr=0.005
    )


def _shown(html: str) -> str:
    found = re.search(r'data-testid="model-shown"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def _link(html: str, css_class: str) -> str:
    found = re.search(rf'class="{css_class}" href="([^"]+)"', html)
    assert found, f"no {css_class} link"
    return found.group(1).replace("&amp;", "&")


def test_the_owner_draws_the_map_with_her_model(alice_client: Client, alices: PersonalModel) -> None:
    page = alice_client.get(f"/account/models/{alices.pk}/").content.decode()
    draw = _link(page, "draw-link")
    assert draw == f"/assets/BTCUSDT/?model=mine:{alices.pk}"
    shown = _shown(alice_client.get(f"{draw}&tf=1w").content.decode())
    assert NAME in shown
    # The asset page's model switcher lists it too.
    asset_page = alice_client.get("/assets/BTCUSDT/?tf=1w").content.decode()
    assert NAME in asset_page and f"model=mine%3A{alices.pk}" in asset_page.replace(":", "%3A")


def test_another_trader_following_the_link_gets_model_v1(
    bob_client: Client, alices: PersonalModel, alice_client: Client
) -> None:
    draw = _link(alice_client.get(f"/account/models/{alices.pk}/").content.decode(), "draw-link")
    html = bob_client.get(f"{draw}&tf=1w").content.decode()
    assert NAME not in html and "Ignored model" in html
    assert "model v1" in _shown(html)


def test_the_shareable_link_draws_the_same_map_for_anyone(
    alice_client: Client, client: Client, alices: PersonalModel
) -> None:
    share = _link(alice_client.get(f"/account/models/{alices.pk}/").content.decode(), "share-link")
    assert "model=custom" in share and "mine" not in share  # nothing in it points at her model
    html = client.get(f"{share}&tf=1w").content.decode()
    assert "custom model v2" in _shown(html) and NAME not in html
    query = share.split("?", 1)[1]
    shared = client.get(f"/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&{query}")
    own = alice_client.get(f"/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&model=mine:{alices.pk}")
    assert shared.status_code == own.status_code == 200
    v1 = client.get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w").json()
    a, b = shared.json(), own.json()
    # The same parameters, the same computed map; and it is not model v1's.
    for key in ("prices", "times", "cells", "liquidation_map"):
        assert a[key] == b[key], key
    assert a["cells"] != v1["cells"]


def test_a_model_with_a_never_fading_tier_and_a_ceiling_shares_the_same_map(
    alice_client: Client, client: Client, alice: User, sample_maps: None, registered: None
) -> None:
    # Both were once left without a link: "inf" was refused in mp, and the ceiling had nowhere to go.
    saved = personal_model_create(
        user=alice,
        name="Never fades, capped",
        tiers=[TierInput(10, 0.5, math.inf), TierInput(25, 0.3, 36.0), TierInput(50, 0.2, 12.0)],
        mmr=0.004,
        max_leverage=20,
    )
    page = alice_client.get(f"/account/models/{saved.pk}/").content.decode()
    assert "No shareable link" not in page
    share = _link(page, "share-link")
    assert "never" in share and "maxlev=20" in share and "mine" not in share
    query = share.split("?", 1)[1]
    shared = client.get(f"/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&{query}")
    own = alice_client.get(f"/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&model=mine:{saved.pk}")
    assert shared.status_code == own.status_code == 200
    a, b = shared.json(), own.json()
    for key in ("prices", "times", "cells", "liquidation_map"):
        assert a[key] == b[key], key
    # The ceiling counts: without it the 50x tier is drawn too, and the map differs.
    uncapped = client.get(f"/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&{query.replace('maxlev=20', 'maxlev=50')}")
    assert uncapped.status_code == 200 and uncapped.json()["cells"] != a["cells"]
    # The page draws the link as a custom model too, never as hers.
    html = client.get(f"{share}&tf=1w").content.decode()
    assert "custom model v2" in _shown(html) and "Never fades" not in html


@pytest.mark.parametrize("maxlev", ["lots", "1", "500", "nan"])
def test_a_bad_maxlev_is_a_400_naming_it(client: Client, sample_maps: None, maxlev: str) -> None:
    response = client.get(
        f"/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&model=custom&mp=10:0.5:never,25:0.5:24&maxlev={maxlev}"
    )
    assert response.status_code == 400
    assert "maxlev" in response.json()
    breakdown = client.get(
        f"/api/v1/assets/BTCUSDT/heatmap/breakdown/?timeframe=1w&model=custom&mp=10:1:24&maxlev={maxlev}"
    )
    assert breakdown.status_code == 400 and "maxlev" in breakdown.json()


def test_the_switcher_links_each_trader_to_their_model_settings_and_never_a_visitor(
    settings: Any, client: Client, alice_client: Client, bob_client: Client, alices: PersonalModel, bob: User
) -> None:
    # The shared renders on (one per look, for visitors and for traders), under a key prefix of their own,
    # so the second trader's page is the first one's render with the personal piece filled for him.
    settings.LIQ_PAGE_CACHE_SECONDS = 60
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    bobs = personal_model_create(user=bob, name="Bob's scalper", tiers=[TierInput(50, 1.0, 6.0)], mmr=0.004)
    url = "/assets/BTCUSDT/?tf=1w"
    settings_link = f'href="{reverse("accounts:personal-models")}" class="model-settings'
    for _ in range(2):  # the first render and the shared one
        alice_page = alice_client.get(url).content.decode()
        bob_page = bob_client.get(url).content.decode()
        visitor_page = client.get(url).content.decode()
        assert settings_link in alice_page and settings_link in bob_page
        assert NAME in alice_page and bobs.name.replace("'", "&#x27;") not in alice_page
        assert bobs.name.replace("'", "&#x27;") in bob_page and NAME not in bob_page
        assert f"model=mine%3A{alices.pk}" in alice_page and f"model=mine%3A{alices.pk}" not in bob_page
        assert "model-settings" not in visitor_page and "Model settings" not in visitor_page
        assert 'data-testid="model-switcher"' in visitor_page


def test_a_trader_without_models_still_gets_the_settings_link(
    alice_client: Client, sample_maps: None, registered: None
) -> None:
    page = alice_client.get("/assets/BTCUSDT/?tf=1w").content.decode()
    assert "Model settings…" in page and "My models" not in page
