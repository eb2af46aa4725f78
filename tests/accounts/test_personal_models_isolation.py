"""One trader's models are theirs alone: Bob gets a 404 for every page, partial and endpoint naming one
of Alice's models, her model is unchanged afterwards, and model=mine:<her id> never draws with her
parameters for him. The maps reach the models through heatmaps.personal_hook, registered at start-up:
checked in a fresh process, where no test can have registered anything in its place."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import PersonalModel, User
from accounts.personal_models import (
    TierInput,
    list_personal_models,
    personal_model_create,
    resolve_personal_model,
    stored_fields,
)
from heatmaps import personal_hook
from heatmaps.models import Asset
from tests.conftest import _database_url

pytestmark = pytest.mark.django_db

EDIT = {
    "name": "Bob was here",
    "tier-0-leverage": "3",
    "tier-0-weight": "100",
    "tier-0-half_life": "never",
    "mmr": "1",
    "max_leverage": "",
}


@pytest.fixture
def registered() -> Iterator[None]:
    """The user side's registration as accounts.apps makes it, whatever an earlier test left behind."""
    previous = personal_hook._hook
    personal_hook.register_personal_models(resolve=resolve_personal_model, list_models=list_personal_models)
    yield
    personal_hook._hook = previous


@pytest.fixture
def alices(alice: User) -> PersonalModel:
    return personal_model_create(
        user=alice,
        name="Alice's secret sauce",
        tiers=[TierInput(7, 0.3, 36.0), TierInput(33, 0.7, math.inf)],
        mmr=0.006,
        max_leverage=None,
    )


def _calls(pk: int) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """(method, url, form data, htmx) of everything that names one of Alice's models."""
    page, delete = f"/account/models/{pk}/", f"/account/models/{pk}/delete/"
    return [
        ("get", page, None, False),
        ("get", page, None, True),
        ("post", page, EDIT, False),
        ("post", page, EDIT, True),
        ("post", delete, None, False),
        ("post", delete, None, True),
    ]


def test_bob_gets_404_for_every_page_of_alices_model(bob_client: Client, alices: PersonalModel) -> None:
    before = (alices.name, alices.params)
    for method, url, data, htmx in _calls(alices.pk):
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = getattr(bob_client, method)(url, data or {}, **extra)
        assert response.status_code == 404, f"{method} {url} htmx={htmx}: {response.status_code}"
        assert "secret sauce" not in response.content.decode()
    alices.refresh_from_db()
    assert (alices.name, alices.params) == before


def test_a_missing_id_and_alices_read_alike(bob_client: Client, alices: PersonalModel) -> None:
    missing = bob_client.get(f"/api/v1/models/{alices.pk + 1000}/")
    hers = bob_client.get(f"/api/v1/models/{alices.pk}/")
    assert (missing.status_code, missing.json()) == (hers.status_code, hers.json()) == (404, hers.json())


def test_bob_gets_404_for_every_endpoint_of_alices_model(bob_client: Client, alices: PersonalModel) -> None:
    url = f"/api/v1/models/{alices.pk}/"
    assert bob_client.get(url).status_code == 404
    patch = bob_client.patch(url, json.dumps({"name": "mine now"}), content_type="application/json")
    assert patch.status_code == 404
    assert bob_client.delete(url).status_code == 404
    alices.refresh_from_db()
    assert alices.name == "Alice's secret sauce"
    # His lists hold only his own.
    assert bob_client.get("/api/v1/models/").json() == []
    assert "secret sauce" not in bob_client.get("/account/models/").content.decode()


def test_alice_still_reaches_her_own(alice_client: Client, alices: PersonalModel) -> None:
    assert alice_client.get(f"/api/v1/models/{alices.pk}/").json()["name"] == "Alice's secret sauce"
    assert "secret sauce" in alice_client.get(f"/account/models/{alices.pk}/").content.decode()


def test_visitors_are_sent_to_sign_in(client: Client, alices: PersonalModel) -> None:
    for url in ("/account/models/", f"/account/models/{alices.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(f"/api/v1/models/{alices.pk}/").status_code in (401, 403)


@pytest.mark.usefixtures("registered")
def test_the_maps_hook_gives_each_trader_only_their_own(alice: User, bob: User, alices: PersonalModel) -> None:
    spec = personal_hook.personal_model(user=alice, model_id=alices.pk)
    assert spec is not None and (spec.id, spec.name) == (alices.pk, "Alice's secret sauce")
    assert [(t.leverage, t.weight, t.half_life_hours) for t in spec.params.tiers] == [
        (7, 0.3, 36),
        (33, 0.7, math.inf),
    ]
    assert spec.params.mmr == 0.006
    assert [s.id for s in personal_hook.list_personal_models(alice)] == [alices.pk]

    assert personal_hook.personal_model(user=bob, model_id=alices.pk) is None
    assert personal_hook.personal_model(user=bob, model_id=alices.pk + 1000) is None
    assert personal_hook.list_personal_models(bob) == []


def test_the_switcher_lists_by_name(alice: User, alices: PersonalModel) -> None:
    personal_model_create(user=alice, name="a first", tiers=[TierInput(5, 1.0, 24.0)], mmr=0.004)
    assert [s.name for s in list_personal_models(alice)] == ["a first", "Alice's secret sauce"]


def test_the_resolver_reads_one_row(alice: User, alices: PersonalModel, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        assert resolve_personal_model(alice, alices.pk) is not None
    with django_assert_num_queries(1):
        assert resolve_personal_model(alice, alices.pk + 1000) is None


@pytest.mark.usefixtures("registered")
def test_mine_as_bob_is_refused_like_an_unknown_id(alice: User, bob: User, alices: PersonalModel, btc: Asset) -> None:
    from heatmaps.explorer import FilterError
    from heatmaps.model_choice import resolve_model

    mine = resolve_model(asset=btc, model=f"mine:{alices.pk}", user=alice)
    assert mine.params is not None and mine.personal_id == alices.pk
    assert [(t.leverage, t.weight) for t in mine.params.tiers] == [
        (t.leverage, t.weight) for t in stored_fields(alices).tiers
    ]
    with pytest.raises(FilterError) as hers:
        resolve_model(asset=btc, model=f"mine:{alices.pk}", user=bob)
    with pytest.raises(FilterError) as missing:
        resolve_model(asset=btc, model=f"mine:{alices.pk + 1000}", user=bob)
    assert str(hers.value).replace(str(alices.pk), "<id>") == str(missing.value).replace(str(alices.pk + 1000), "<id>")


@pytest.mark.django_db(transaction=True)  # the other process reads the rows: they must be committed
def test_a_fresh_process_registers_the_user_sides_models(bob: User, alices: PersonalModel) -> None:
    """accounts.apps registers at start-up: a new process (no test fixtures) resolves Alice's model
    for her and nothing for Bob, through heatmaps.personal_hook alone."""
    script = (
        "from heatmaps import personal_hook as m\n"
        "from accounts.models import User\n"
        "alice, bob = User.objects.get(username='alice'), User.objects.get(username='bob')\n"
        f"spec = m.personal_model(user=alice, model_id={alices.pk})\n"
        f"print(spec.name if spec else None, m.personal_model(user=bob, model_id={alices.pk}))\n"
    )
    env = {**os.environ, "DATABASE_URL": _database_url(settings.DATABASES["default"]), "LIQ_TESTING": "1"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "Alice's secret sauce None"
