"""model= on the asset page: the switcher (v1, v2, the custom model of the URL, a trader's own models),
kept by the other links; an unusable model ignored with a message; and a page drawn with a trader's
own model never shared with other traders. Real PostgreSQL and Redis, a cache key prefix per test."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from heatmaps.engine.model_v2 import ModelV2Params, TierV2
from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from heatmaps.personal_hook import PersonalModelSpec, personal_models_registered
from tests.heatmaps.test_trader_cache import signed_in, stored_renders

pytestmark = pytest.mark.django_db

PAGE = "/assets/BTCUSDT/"
OWN = ModelV2Params(tiers=(TierV2(10.0, 0.6, 48.0), TierV2(50.0, 0.4, 12.0)), mmr=0.005)


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        btc = Asset.objects.get(symbol="BTCUSDT")
        heatmap_compute(asset=btc, timeframes=["24h", "1w"])
        heatmap_compute(asset=btc, timeframes=["24h", "1w"], model="v2", summary=False)
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def shared(settings: Any, sample_maps: None) -> str:
    settings.LIQ_PAGE_CACHE_SECONDS = 60
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    return prefix


@pytest.fixture
def alices_model(alice: User) -> Iterator[int]:
    """Alice's own model, through a resolver registered as the user side registers its own."""
    spec = PersonalModelSpec(id=41, name="alice-fast-fade", params=OWN)

    def resolve(user: Any, model_id: int) -> PersonalModelSpec | None:
        return spec if model_id == spec.id and user.pk == alice.pk else None

    def list_models(user: Any) -> list[PersonalModelSpec]:
        return [spec] if user.pk == alice.pk else []

    with personal_models_registered(resolve=resolve, list_models=list_models):
        yield spec.id


def _shown(html: str) -> str:
    found = re.search(r'data-testid="model-shown"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def test_the_switcher_draws_each_model_and_keeps_the_other_settings(client: Client, shared: str) -> None:
    html = client.get(f"{PAGE}?tf=1w&side=long&lev=high").content.decode()
    assert "Drawn with model v1" in _shown(html)
    assert 'href="?tf=1w&amp;side=long&amp;lev=high&amp;model=v2"' in html  # the switcher keeps the rest
    v2 = client.get(f"{PAGE}?tf=1w&side=long&lev=high&model=v2").content.decode()
    assert "model v2" in _shown(v2) and "swept on" in _shown(v2)
    # The timeframe tabs, the sides, the bands and the map's own API URL keep the model.
    for kept in ("?tf=24h&amp;side=long&amp;model=v2&amp;lev=high", "?tf=1w&amp;side=short&amp;model=v2&amp;lev=high",
                 "?tf=1w&amp;side=long&amp;model=v2&amp;lev=low"):  # fmt: skip
        assert f'href="{kept}"' in v2
    assert '<input type="hidden" name="model" value="v2">' in v2  # the intensity form
    api = re.search(r'data-heatmap-src="([^"]+)"', v2)
    assert api is not None and "model=v2" in api.group(1) and "lev=high" in api.group(1)
    assert re.search(r'class="button export-png" href="[^"]*model=v2', v2)
    custom = client.get(f"{PAGE}?tf=1w&model=custom&mp=10:0.5:240,50:0.5:24&mmr=0.004").content.decode()
    assert "custom model v2" in _shown(custom) and "computed on request" in _shown(custom)
    assert "mp=10%3A0.5%3A240%2C50%3A0.5%3A24" in custom  # the link reproduces it


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("model=v9", "Ignored model"),
        ("model=custom&mp=10:2:24", "Ignored mp"),
        ("model=custom&mp=10:1:24&mmr=nope", "Ignored mmr"),
        ("model=mine:41", "Ignored model"),
    ],
)
def test_an_unusable_model_is_ignored_with_a_message(client: Client, shared: str, query: str, words: str) -> None:
    response = client.get(f"{PAGE}?tf=1w&{query}")
    html = response.content.decode()
    assert response.status_code == 200 and words in html
    assert "Drawn with model v1" in _shown(html)


def test_a_trader_s_own_model_never_reaches_another_trader(
    alice: User, bob: User, alices_model: int, shared: str
) -> None:
    alice_client, bob_client = signed_in(alice), signed_in(bob)
    # Alice's page lists her model in the switcher; Bob's, shared render and all, never does.
    for _ in range(2):
        assert "alice-fast-fade" in alice_client.get(f"{PAGE}?tf=1w").content.decode()
        assert "alice-fast-fade" not in bob_client.get(f"{PAGE}?tf=1w").content.decode()
    own = alice_client.get(f"{PAGE}?tf=1w&model=mine:{alices_model}")
    assert own.status_code == 200 and "private" in own["Cache-Control"]
    assert not own.get("X-Page-Cache")  # rendered for her alone: neither a shared hit nor stored
    assert "alice-fast-fade" in _shown(own.content.decode())
    theirs = bob_client.get(f"{PAGE}?tf=1w&model=mine:{alices_model}").content.decode()
    assert "alice-fast-fade" not in theirs and "Ignored model" in theirs
    assert "Drawn with model v1" in _shown(theirs)
    # Nothing of hers was stored for traders to share.
    assert not any("alice-fast-fade" in render for render in stored_renders(shared))
    again = alice_client.get(f"{PAGE}?tf=1w&model=mine:{alices_model}").content.decode()
    assert "alice-fast-fade" in _shown(again)
