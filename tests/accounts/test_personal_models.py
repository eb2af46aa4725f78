"""Model settings: a trader's own heat-map models through the page (list, new, edit, delete), the
form's validation field by field, the per-user limit and the link that draws a map with a model."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.test import Client

from accounts.models import PersonalModel, User
from accounts.personal_models import (
    TierInput,
    default_fields,
    personal_model_create,
    resolve_personal_model,
    stored_fields,
)
from accounts.watchlists import watchlist_create
from heatmaps.models import Asset
from tests.accounts.helpers import hx_post

pytestmark = pytest.mark.django_db

LIST_URL = "/account/models/"
FAST = ((10, 40, 24), (25, 35, "never"), (100, 25, 6))


def form_data(
    *, name: str = "Fast decay", tiers: Any = FAST, mmr: str = "0.5", max_leverage: str = ""
) -> dict[str, str]:
    data = {"name": name, "mmr": mmr, "max_leverage": max_leverage}
    for i, (leverage, weight, half_life) in enumerate(tiers):
        data.update({f"tier-{i}-leverage": str(leverage), f"tier-{i}-weight": str(weight)})
        data[f"tier-{i}-half_life"] = str(half_life)
    return data


def make(user: User, name: str = "Mine", **changes: Any) -> PersonalModel:
    values: dict[str, Any] = {
        "tiers": [TierInput(10, 0.5, 48.0), TierInput(50, 0.5, math.inf)],
        "mmr": 0.004,
        "max_leverage": None,
        **changes,
    }
    return personal_model_create(user=user, name=name, **values)


def test_the_page_needs_a_sign_in(client: Client) -> None:
    response = client.get(LIST_URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_new_model_form_starts_from_the_v2_defaults(alice_client: Client) -> None:
    defaults = default_fields()
    page = alice_client.get(LIST_URL).content.decode()
    assert "Model settings" in page
    for i, tier in enumerate(defaults.tiers):
        assert f'name="tier-{i}-leverage"' in page
        assert f'value="{tier.leverage:.10g}"' in page
    assert f'name="mmr" value="{defaults.mmr * 100:.10g}"' in page
    assert "No models yet" in page


def test_the_header_links_to_model_settings(alice_client: Client) -> None:
    assert f'href="{LIST_URL}"' in alice_client.get("/watchlists/").content.decode()


def test_create_edit_delete_through_the_page(alice_client: Client, alice: User, btc: Asset) -> None:
    response = alice_client.post(LIST_URL, form_data())
    assert response.status_code == 302
    saved = PersonalModel.objects.get(user=alice)
    assert response["Location"] == f"/account/models/{saved.pk}/"
    fields = stored_fields(saved)
    assert [(t.leverage, t.weight, t.half_life_hours) for t in fields.tiers] == [
        (10, 0.40, 24),
        (25, 0.35, math.inf),
        (100, 0.25, 6),
    ]
    assert fields.mmr == pytest.approx(0.005) and fields.max_leverage is None
    # The grid is the asset's: never stored with the trader's model.
    assert "n_bins" not in saved.params and "pad" not in saved.params

    detail = alice_client.get(response["Location"]).content.decode()
    assert "Model “Fast decay” saved." in detail
    assert f'href="/assets/BTCUSDT/?model=mine:{saved.pk}"' in detail
    assert "Draw BTCUSDT with this model" in detail
    assert 'value="never"' in detail  # the never-fading tier reads back as typed
    listed = alice_client.get(LIST_URL).content.decode()
    assert "10× 40 % (24 h) · 25× 35 % (never) · 100× 25 % (6 h) · margin 0.5 %" in listed

    edited = alice_client.post(
        f"/account/models/{saved.pk}/", form_data(name="Slow", tiers=((5, 100, 720),), max_leverage="75")
    )
    assert edited.status_code == 302
    saved.refresh_from_db()
    fields = stored_fields(saved)
    assert saved.name == "Slow"
    assert [(t.leverage, t.weight, t.half_life_hours) for t in fields.tiers] == [(5, 1, 720)]
    assert fields.max_leverage == 75

    assert alice_client.post(f"/account/models/{saved.pk}/delete/").status_code == 302
    assert not PersonalModel.objects.exists()
    assert alice_client.get(f"/account/models/{saved.pk}/").status_code == 404


def test_htmx_save_navigates_and_htmx_errors_swap_only_the_form(alice_client: Client, alice: User) -> None:
    bad = hx_post(alice_client, LIST_URL, form_data(mmr="9"))
    assert bad.status_code == 200
    body = bad.content.decode()
    assert body.lstrip().startswith('<section id="model-form">') and "<html" not in body
    assert 'aria-describedby="pm-mmr-error"' in body

    good = hx_post(alice_client, LIST_URL, form_data())
    saved = PersonalModel.objects.get(user=alice)
    assert good.status_code == 204 and good["HX-Redirect"] == f"/account/models/{saved.pk}/"

    gone = hx_post(alice_client, f"/account/models/{saved.pk}/delete/")
    assert gone.status_code == 204 and gone["HX-Redirect"] == LIST_URL
    assert not PersonalModel.objects.exists()


def _errors_on(body: str, name: str) -> str:
    """The error paragraph that follows the input named `name` (a tier's row) in the page."""
    start = body.index(f'name="{name}"')
    end = body.index("</td>", start)
    return body[start:end]


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        (1, "leverage", "1"),  # leverage must be above 1
        (1, "leverage", "201"),
        (1, "leverage", "lots"),
        (2, "half_life", "0.5"),  # at least an hour
        (2, "half_life", str(3651 * 24)),  # at most ten years
        (2, "half_life", "soon"),
        (0, "weight", "abc"),
    ],
)
def test_a_bad_tier_value_is_refused_on_its_own_field(alice_client: Client, row: int, column: str, value: str) -> None:
    data = form_data()
    data[f"tier-{row}-{column}"] = value
    body = alice_client.post(LIST_URL, data).content.decode()
    assert not PersonalModel.objects.exists()
    field = f"tier-{row}-{column}"
    assert 'class="field-error"' in _errors_on(body, field)
    # ... and only there.
    others = [
        f"tier-{r}-{c}" for r in range(3) for c in ("leverage", "weight", "half_life") if f"tier-{r}-{c}" != field
    ]
    assert all('class="field-error"' not in _errors_on(body, other) for other in others)
    assert 'aria-invalid="true"' in _errors_on(body, field)


@pytest.mark.parametrize(
    ("changes", "error_id"),
    [
        ({"mmr": "6"}, "pm-mmr-error"),  # at most 5 %
        ({"mmr": "-0.1"}, "pm-mmr-error"),
        ({"mmr": ""}, "pm-mmr-error"),
        ({"max_leverage": "1"}, "pm-max-leverage-error"),
        ({"max_leverage": "x"}, "pm-max-leverage-error"),
        ({"name": "   "}, "pm-name-error"),
        ({"name": "n" * 61}, "pm-name-error"),
        ({"tiers": ((10, 50, 24), (25, 40, 24))}, "pm-tiers-error"),  # 90 %, not 100 %
        ({"tiers": ()}, "pm-tiers-error"),
    ],
)
def test_a_bad_model_value_is_refused_with_its_message(
    alice_client: Client, changes: dict[str, Any], error_id: str
) -> None:
    body = alice_client.post(LIST_URL, form_data(**changes)).content.decode()
    assert not PersonalModel.objects.exists()
    assert f'id="{error_id}"' in body


def test_weights_not_adding_up_say_their_sum(alice_client: Client) -> None:
    body = alice_client.post(LIST_URL, form_data(tiers=((10, 50, 24), (25, 40, 24)))).content.decode()
    assert "add up to 90 %" in body


def test_the_bounds_themselves_are_allowed(alice: User) -> None:
    saved = make(alice, tiers=[TierInput(200, 0.5, 1.0), TierInput(1.5, 0.5, 3650 * 24.0)], max_leverage=200.0)
    fields = stored_fields(saved)
    assert [(t.leverage, t.half_life_hours) for t in fields.tiers] == [(200, 1), (1.5, 3650 * 24)]
    assert fields.max_leverage == 200
    # The highest margin with leverage it leaves possible (margin × leverage below 1), and none at all.
    assert stored_fields(make(alice, name="Top margin", tiers=[TierInput(19, 1, 8.0)], mmr=0.05)).mmr == 0.05
    assert stored_fields(make(alice, name="No margin", mmr=0.0)).mmr == 0


def test_a_margin_that_makes_a_tier_impossible_is_refused_on_the_margin(alice_client: Client) -> None:
    body = alice_client.post(LIST_URL, form_data(tiers=((10, 50, 24), (25, 50, 24)), mmr="5")).content.decode()
    assert 'id="pm-mmr-error"' in body and "25x impossible" in body
    assert not PersonalModel.objects.exists()


def test_names_are_unique_per_user_whatever_the_case(alice_client: Client, alice: User, bob: User) -> None:
    make(alice, name="Fast decay")
    make(bob, name="Fast decay")  # Bob's own: no clash with Alice's
    body = alice_client.post(LIST_URL, form_data(name="FAST DECAY")).content.decode()
    assert "You already have a model named “FAST DECAY”." in body
    assert PersonalModel.objects.filter(user=alice).count() == 1


def test_a_few_models_per_user(alice_client: Client, alice: User, bob: User, settings: Any) -> None:
    settings.LIQ_PERSONAL_MODELS_MAX = 2
    make(alice, name="One")
    make(alice, name="Two")
    body = alice_client.post(LIST_URL, form_data(name="Three")).content.decode()
    assert "You already have 2 models, the most allowed; delete one first." in body
    assert PersonalModel.objects.filter(user=alice).count() == 2
    assert "delete one to make another" in alice_client.get(LIST_URL).content.decode()
    # The limit is each trader's own.
    assert make(bob, name="Three").pk


def test_the_draw_link_opens_the_first_asset_of_the_traders_watchlist(
    alice_client: Client, alice: User, btc: Asset, eth: Asset
) -> None:
    saved = make(alice)
    assert "/assets/BTCUSDT/?model=mine:" in alice_client.get(f"/account/models/{saved.pk}/").content.decode()
    watchlist_create(user=alice, name="Alts", assets=["ETHUSDT", "BTCUSDT"])
    detail = alice_client.get(f"/account/models/{saved.pk}/").content.decode()
    assert f'href="/assets/ETHUSDT/?model=mine:{saved.pk}"' in detail
    assert "Draw ETHUSDT with this model" in detail


def test_a_model_the_engine_no_longer_accepts_is_shown_as_saved_and_asks_for_a_fix(
    alice_client: Client, alice: User
) -> None:
    """Bounds can tighten after a model was saved: its page and the API still read it, the maps leave
    it out, and saving it names the value now out of bounds."""
    saved = make(alice, name="Old bounds")
    params = dict(saved.params)
    params["tiers"] = [{"leverage": 500.0, "weight": 1.0, "half_life_hours": 24.0}]  # above today's 200x
    PersonalModel.objects.filter(pk=saved.pk).update(params=params)
    page = alice_client.get(f"/account/models/{saved.pk}/")
    assert page.status_code == 200 and 'value="500"' in page.content.decode()
    api = alice_client.get(f"/api/v1/models/{saved.pk}/")
    assert api.status_code == 200 and api.json()["tiers"][0]["leverage"] == 500
    assert resolve_personal_model(alice, saved.pk) is None
    body = alice_client.post(
        f"/account/models/{saved.pk}/", form_data(name="Old bounds", tiers=((500, 100, 24),))
    ).content.decode()
    assert 'class="field-error"' in _errors_on(body, "tier-0-leverage")
