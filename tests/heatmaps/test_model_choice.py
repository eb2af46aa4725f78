"""model= on the map API (heatmaps/model_choice.py): v2 served from its stored row, custom parameters in
the URL, a user's own model through the registered hook, filters with each model, and a 400 naming each
parameter the map cannot take. Real PostgreSQL and Redis; the sample data."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from heatmaps.engine import TIMEFRAMES, decode_grid
from heatmaps.engine.model_v2 import ModelV2Params, TierV2, compute_heatmap_v2
from heatmaps.explorer import FilterError
from heatmaps.maps import default_v2_params, heatmap_compute, read_heatmap
from heatmaps.marketdata import dt_to_ms, load_sample_data
from heatmaps.marketdata.base_bars import load_base_bars
from heatmaps.model_choice import custom_query, resolve_model
from heatmaps.models import Asset, Heatmap
from heatmaps.personal_hook import PersonalModelSpec, personal_models_registered
from tests.heatmaps.explorer_data import add_bybit_open_interest
from tests.heatmaps.test_explorer_api import codec_close, dense

pytestmark = pytest.mark.django_db

URL = "/api/v1/assets/BTCUSDT/heatmap/"
STORED = ["24h", "1w"]
# A model of the user's own: two tiers, fast decay.
OWN = ModelV2Params(tiers=(TierV2(10.0, 0.6, 48.0), TierV2(50.0, 0.4, 12.0)), mmr=0.005)


@pytest.fixture(scope="module")
def model_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """BTCUSDT's v1 and v2 maps of two timeframes, with Bybit's open interest beside Binance's."""
    with django_db_blocker.unblock():
        load_sample_data()
        btc = Asset.objects.get(symbol="BTCUSDT")
        add_bybit_open_interest(btc)
        heatmap_compute(asset=btc, timeframes=STORED)
        heatmap_compute(asset=btc, timeframes=STORED, model="v2", summary=False)
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def btc(model_maps: None) -> Asset:
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


@pytest.fixture
def own_models(alice: Any) -> Iterator[dict[int, tuple[Any, PersonalModelSpec]]]:
    """A resolver registered as the user side registers its own: alice owns model 7 and nothing else."""
    owned = {7: (alice, PersonalModelSpec(id=7, name="fast fade", params=OWN))}

    def resolve(user: Any, model_id: int) -> PersonalModelSpec | None:
        found = owned.get(model_id)
        return found[1] if found and found[0].pk == user.pk else None

    def list_models(user: Any) -> list[PersonalModelSpec]:
        return [spec for owner, spec in owned.values() if owner.pk == user.pk]

    with personal_models_registered(resolve=resolve, list_models=list_models):
        yield owned


def computed_keys() -> set[str]:
    """The cache's entries of maps computed with model-v2 parameters."""
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    return {key.decode() for key in client.scan_iter("*:model=v2:*")}


def _direct_v2(asset: Asset, timeframe: str, params: ModelV2Params, row: Heatmap) -> np.ndarray:
    tf = TIMEFRAMES[timeframe]
    loaded = load_base_bars(
        asset=asset, since=row.data_end - timedelta(milliseconds=2 * tf.window_ms + tf.bar_ms), until=row.data_end
    )
    assert loaded is not None
    grid = compute_heatmap_v2(bars=loaded.bars, timeframe=tf, params=params)
    return grid.long + grid.short


@pytest.mark.parametrize("timeframe", STORED)
def test_v2_is_served_from_its_stored_row_and_equals_computing_it(client: Client, btc: Asset, timeframe: str) -> None:
    v2, body = dense(client, f"timeframe={timeframe}&model=v2")
    assert body["filter"]["origin"] == "stored"
    assert body["model"]["key"] == "v2" and body["model"]["stored"] is True
    assert body["model"]["sweep_price"] in ("last", "mark", "mixed")
    assert body["provenance"]["model"] == "v2" and body["provenance"]["params"]["sweep_price"]
    row = Heatmap.objects.get(asset=btc, timeframe=timeframe, model="v2")
    assert body["provenance"]["version"] == row.version
    stored = read_heatmap(asset=btc, timeframe=timeframe, model="v2")
    assert stored is not None
    np.testing.assert_array_equal(v2, stored.long.astype(np.float64) + stored.short)
    codec_close(v2, _direct_v2(btc, timeframe, default_v2_params(btc), row))
    v1, body = dense(client, f"timeframe={timeframe}")
    assert body["model"]["key"] == "v1" and body["model"]["sweep_price"] is None
    assert not np.allclose(v1, v2, rtol=0.01)  # the half-lives make a different map


def test_custom_parameters_in_the_url_give_the_stored_v2_map(client: Client, btc: Asset) -> None:
    """The v2 defaults written out in the URL: the map computed on request equals the stored v2 map
    (one run of bars: both end at the same bar)."""
    query = "&".join(f"{k}={v}" for k, v in custom_query(default_v2_params(btc)).items())
    custom, body = dense(client, f"timeframe=1w&model=custom&{query}")
    assert body["model"]["key"].startswith("custom:") and body["model"]["stored"] is False
    assert body["filter"]["origin"] == "computed"
    stored, _ = dense(client, "timeframe=1w&model=v2")
    codec_close(custom, stored)
    # The parameters the body says reproduce it.
    again, _ = dense(client, "timeframe=1w&" + "&".join(f"{k}={v}" for k, v in body["model"]["query"].items()))
    np.testing.assert_array_equal(again, custom)
    other, body2 = dense(client, "timeframe=1w&model=custom&mp=10:0.5:24,25:0.5:24&mmr=0.004")
    assert body2["model"]["key"] != body["model"]["key"] and not np.allclose(other, custom, rtol=0.01)


def test_v2_combines_with_leverage_band_and_exchange(client: Client, btc: Asset) -> None:
    whole, _ = dense(client, "timeframe=1w&model=v2")
    high, body = dense(client, "timeframe=1w&model=v2&lev=high")
    assert body["filter"]["lev"] == "high" and body["model"]["key"] == "v2"
    low, _ = dense(client, "timeframe=1w&model=v2&lev=low")
    mid, _ = dense(client, "timeframe=1w&model=v2&lev=mid")
    codec_close(low + mid + high, whole, parts=3)  # the tiers' own weights, not renormalised
    both, body = dense(client, "timeframe=1w&model=v2&lev=high&exchange=binance")
    assert body["filter"]["exchanges"] == ["binance"] and body["provenance"]["oi_exchanges"] == ["binance"]
    assert both.sum() > 0 and not np.allclose(both, high, rtol=0.01)
    _, body = dense(client, "timeframe=1w&model=custom&mp=10:0.5:240,50:0.5:24&lev=high")
    assert body["filter"]["tiers"] == [50.0]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("model=v3", "model"),
        ("model=mine:abc", "model"),
        ("model=custom", "mp"),
        ("model=custom&mp=10:0.5", "mp"),
        ("model=custom&mp=10:0.5:24,25:0.6:24", "mp"),
        ("model=custom&mp=10:1:0", "mp"),
        ("model=custom&mp=10:1:24&mmr=lots", "mmr"),
        ("model=custom&mp=10:1:24&mmr=0.2", "mmr"),
        ("model=v2&tiers=7", "tiers"),
    ],
)
def test_bad_model_parameters_are_a_400_naming_them(client: Client, btc: Asset, query: str, param: str) -> None:
    response = client.get(f"{URL}?timeframe=1w&{query}")
    assert response.status_code == 400, response.content[:200]
    assert param in response.json(), response.json()


def test_a_personal_model_is_its_owners_alone(
    client: Client, alice_client: Client, bob_client: Client, btc: Asset, own_models: dict[int, Any]
) -> None:
    mine, body = dense(alice_client, "timeframe=1w&model=mine:7")
    assert body["model"]["key"] == "mine:7" and "fast fade" in body["model"]["label"]
    assert body["provenance"]["params"]["tiers"][0]["half_life_hours"] == 48.0
    response = alice_client.get(f"{URL}?timeframe=1w&model=mine:7&cells=dense")
    assert "private" in response["Cache-Control"]
    # The same parameters as a link anyone can open: the same map (one cache entry for both).
    shared = "&".join(f"{k}={v}" for k, v in custom_query(OWN).items())
    theirs, _ = dense(client, f"timeframe=1w&model=custom&{shared}")
    np.testing.assert_array_equal(mine, theirs)
    # Someone else's model, an unknown one and a signed-out visitor: refused alike, nothing revealed.
    for who in (bob_client, alice_client):
        response = who.get(f"{URL}?timeframe=1w&model=mine:{8 if who is alice_client else 7}")
        assert response.status_code == 400 and "model" in response.json()
        assert "fast fade" not in response.content.decode()
    assert bob_client.get(f"{URL}?timeframe=1w&model=mine:7").json() == alice_client.get(
        f"{URL}?timeframe=1w&model=mine:8"
    ).json() | {"model": [bob_client.get(f"{URL}?timeframe=1w&model=mine:7").json()["model"][0]]}
    assert client.get(f"{URL}?timeframe=1w&model=mine:7").status_code == 400
    # Bob asking after Alice (the tag and body of her URL cached): still refused.
    assert bob_client.get(f"{URL}?timeframe=1w&model=mine:7&cells=dense").status_code == 400


def test_computed_maps_are_cached_by_parameters_not_by_user(
    alice_client: Client, bob_client: Client, btc: Asset, own_models: dict[int, Any]
) -> None:
    cache.clear()
    assert not computed_keys()
    dense(alice_client, "timeframe=1w&model=mine:7")
    shared = "&".join(f"{k}={v}" for k, v in custom_query(OWN).items())
    dense(bob_client, f"timeframe=1w&model=custom&{shared}")
    keys = computed_keys()
    assert len(keys) == 1 and OWN.cache_key() in next(iter(keys))
    dense(bob_client, "timeframe=1w&model=custom&mp=10:0.5:24,50:0.5:24")
    assert len(computed_keys()) == 2


def test_resolve_model_checks_owner_and_parameters(btc: Asset, alice: Any, bob: Any, own_models: Any) -> None:
    assert resolve_model(asset=btc, model=None).key == "v1"
    v2 = resolve_model(asset=btc, model="v2")
    assert v2.stored and v2.params == default_v2_params(btc) and v2.query() == {"model": "v2"}
    mine = resolve_model(asset=btc, model="mine:7", user=alice)
    assert mine.personal and not mine.stored and mine.query() == {"model": "mine:7"}
    assert mine.params is not None and mine.params.n_bins == btc.bins and mine.params.pad == btc.pad
    assert (
        mine.cache_part
        == resolve_model(asset=btc, model="custom", custom_params_text=custom_query(mine.params)).cache_part
    )
    with pytest.raises(FilterError) as refused:
        resolve_model(asset=btc, model="mine:7", user=bob)
    with pytest.raises(FilterError) as unknown:
        resolve_model(asset=btc, model="mine:9", user=bob)
    assert refused.value.param == unknown.value.param == "model"
    assert refused.value.message.replace("7", "9") == unknown.value.message
    custom = resolve_model(asset=btc, model="custom", custom_params_text={"mp": "5x:1:720h", "mmr": None})
    assert custom.params is not None and custom.params.tiers == (TierV2(5.0, 1.0, 720.0),)
    assert custom.params.mmr == default_v2_params(btc).mmr
    assert dataclasses.replace(custom.params, mmr=0.01).cache_key() != custom.params.cache_key()


def test_a_link_carries_a_never_fading_tier_and_a_ceiling_exactly(btc: Asset) -> None:
    import math

    params = ModelV2Params(
        tiers=(TierV2(5.0, 1 / 3, math.inf), TierV2(10.0, 2 / 3, 240.0)), mmr=0.0045, max_leverage=7.5
    )
    query = custom_query(params)
    assert query["mp"].split(",")[0].endswith(":never") and query["maxlev"] == "7.5"
    back = resolve_model(asset=btc, model="custom", custom_params_text=query).params
    assert back is not None and (back.tiers, back.mmr, back.max_leverage) == (
        params.tiers,
        params.mmr,
        params.max_leverage,
    )
    for spelled in ("inf", "INF", "never", "Never h"):
        other = resolve_model(
            asset=btc, model="custom", custom_params_text={"mp": f"5:1:{spelled}", "mmr": None, "maxlev": None}
        )
        assert other.params is not None and other.params.tiers == (TierV2(5.0, 1.0, math.inf),)
    # Without maxlev the asset's ceiling, as before.
    plain = resolve_model(asset=btc, model="custom", custom_params_text={"mp": "5:1:24"}).params
    assert plain is not None and plain.max_leverage == default_v2_params(btc).max_leverage
    with pytest.raises(FilterError) as bad:
        resolve_model(asset=btc, model="custom", custom_params_text={"mp": "10:1:24", "maxlev": "5"})
    assert bad.value.param == "maxlev" and "no tier" in bad.value.message


def test_png_and_csv_exports_say_the_model(client: Client, btc: Asset) -> None:
    csv = client.get(f"{URL}?timeframe=1w&format=csv&model=v2&lev=high")
    assert csv.status_code == 200 and "-v2-" in csv["Content-Disposition"]
    png = client.get(f"{URL}?timeframe=1w&format=png&model=v2")
    plain = client.get(f"{URL}?timeframe=1w&format=png")
    assert png.status_code == 200 and png.content != plain.content
    tags = {client.get(f"{URL}?timeframe=1w&{q}")["ETag"] for q in ("", "model=v2", "model=custom&mp=10:1:24")}
    assert len(tags) == 3
    row = Heatmap.objects.get(asset=btc, timeframe="1w", model="v2")
    decoded = decode_grid(bytes(row.long_grid), row.long_scale, (row.width, row.bins))
    assert decoded.shape == (row.width, row.bins) and base64  # the stored codec, as v1's


COMPARE = "/api/v1/assets/BTCUSDT/heatmap/compare/"


def test_compare_two_models_on_one_run(client: Client, btc: Asset) -> None:
    """v2 against v1: both sides drawn from the stored v1 map's bars, so the difference is v2 − v1 cell
    for cell; a v2 side equals the custom map of the same parameters."""
    response = client.get(COMPARE, {"timeframe": "1w", "a": "model=v2", "b": "model=v1", "min_usd": "0"})
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["a"]["model"] == "v2" and body["b"]["model"] == "v1"
    v1, _ = dense(client, "timeframe=1w")
    query = "&".join(f"{k}={v}" for k, v in custom_query(default_v2_params(btc)).items())
    v2, _ = dense(client, f"timeframe=1w&model=custom&{query}")
    diff = np.zeros_like(v1)
    for i, j, usd in body["diff"]:
        diff[i, j] = usd
    big = np.abs(v2 - v1) > 0.01 * float(np.abs(v2 - v1).max())
    np.testing.assert_allclose(diff[big], (v2 - v1)[big], rtol=0.02, atol=1.0)
    high = client.get(COMPARE, {"timeframe": "1w", "a": "model=v2&lev=high", "b": "lev=high"}).json()
    assert high["a"]["model"] == "v2" and high["a"]["filter"] == "model=v2&lev=high"


@pytest.mark.parametrize(
    ("side", "text", "words"), [("a", "model=v7", "model:"), ("b", "model=custom&mp=1:1:1", "mp:")]
)
def test_compare_refuses_a_bad_model_naming_side_and_parameter(
    client: Client, btc: Asset, side: str, text: str, words: str
) -> None:
    response = client.get(COMPARE, {"timeframe": "1w", side: text})
    assert response.status_code == 400 and response.json()[side][0].startswith(words)


def test_compare_page_names_the_models(client: Client, btc: Asset) -> None:
    html = client.get("/assets/BTCUSDT/compare/", {"tf": "1w", "a": "model=v2&lev=high", "b": ""}).content.decode()
    assert "model v2 · high leverage" in html and "model%3Dv2" in html
    bad = client.get("/assets/BTCUSDT/compare/", {"tf": "1w", "a": "model=v5"}).content.decode()
    assert "Ignored a=" in bad and "Unknown model" in bad


def test_a_past_moment_with_each_model(client: Client, btc: Asset) -> None:
    """v2 in the current hour is the copy published then; a day back, v2 and a custom model are rebuilt
    from the bars that had closed by then, each with its own parameters."""
    row = Heatmap.objects.get(asset=btc, timeframe="1w", model="v2")
    _, body = dense(client, f"timeframe=1w&model=v2&at={dt_to_ms(timezone.now())}")
    assert body["filter"]["origin"] == "archive" and body["model"]["key"] == "v2"
    assert body["provenance"]["version"] == row.version
    back = (row.data_end - timedelta(days=1)).strftime("%Y-%m-%dT%H:%MZ")
    v2_then, body = dense(client, f"timeframe=1w&model=v2&at={back}")
    assert body["filter"]["origin"] == "rebuilt" and body["provenance"]["params"]["model"] == "v2"
    v1_then, _ = dense(client, f"timeframe=1w&at={back}")
    query = "&".join(f"{k}={v}" for k, v in custom_query(default_v2_params(btc)).items())
    custom_then, body = dense(client, f"timeframe=1w&model=custom&{query}&at={back}")
    assert body["filter"]["origin"] == "rebuilt"
    np.testing.assert_array_equal(custom_then, v2_then)  # one cache entry: the same parameters, the same moment
    assert not np.allclose(v1_then, v2_then, rtol=0.01)
