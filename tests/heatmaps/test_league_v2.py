"""Model v2 in the backtest league and in backtest_magnets --model v2: scored on v1's steps, and equal
to a direct v2 walk of the same stored history."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from heatmaps import personal_hook
from heatmaps.engine.backtest import backtest_variants
from heatmaps.engine.backtest.v2 import v2_bars, v2_column_at
from heatmaps.engine.model_v2 import ModelV2Params, TierV2
from heatmaps.maps import default_v2_params, load_base_bars
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset, Backtest
from heatmaps.personal_hook import PersonalModelSpec
from heatmaps.validity import backtest_run, backtest_store, personal_league

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


def run_json(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("backtest_magnets", *args, "--json", stdout=out)
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def test_the_league_s_v2_row_is_a_direct_v2_backtest_on_the_same_steps(sample: None) -> None:
    asset = Asset.objects.get(symbol="BTCUSDT")
    report = backtest_run(asset=asset, timeframe="24h")
    assert report is not None and report["model"] == "v1"
    rows = {row["variant"]: row for row in report["league"]}
    assert next(iter(rows)) == "v1" and "v2" in rows
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None
    params = default_v2_params(asset).validate()
    direct = backtest_variants(
        bars=v2_bars(loaded.bars), timeframe="24h", params=params.v1_params(), column_at=v2_column_at(params)
    )[0].summary
    first, compared = direct["first_reach"], direct["comparison"]
    assert rows["v2"]["events"] == first["events"] > 0
    assert rows["v2"]["share_bigger_first"] == first["share_bigger_first"]
    assert rows["v2"]["share_bigger_first_ci95"] == first["share_bigger_first_ci95"]
    assert rows["v2"]["incremental_pseudo_r2"] == (compared["pseudo_r2"]["incremental"] if compared else None)
    # The same steps as v1: the v2 report counts as many.
    v2 = run_json("--asset", "BTCUSDT", "--timeframe", "24h", "--model", "v2", "--no-store")
    assert v2["model"] == "v2" and v2["steps"]["total"] == report["steps"]["total"]
    assert v2["first_reach"] == first and v2["params"]["model"] == "v2"
    assert [row["variant"] for row in v2["league"]] == [row["variant"] for row in report["league"]]
    assert {row["variant"]: row for row in v2["league"]}["v2"] == rows["v2"]


def test_backtest_magnets_stores_a_v2_report_beside_v1s(sample: None) -> None:
    out = io.StringIO()
    call_command("backtest_magnets", "--asset", "BTCUSDT", "--timeframe", "24h", "--model", "v2", stdout=out)
    assert "v2 on BTCUSDT 24h:" in out.getvalue() and "v2:" in out.getvalue()
    stored = Backtest.objects.get(asset__symbol="BTCUSDT", timeframe="24h", model="v2")
    assert stored.report["model"] == "v2"
    band = run_json("--asset", "BTCUSDT", "--timeframe", "24h", "--model", "v2", "--leverage", "50-100")
    assert band["model"] == "v2 50–100x" and band["league"] is None


# A personal model: two high-leverage tiers with fast decay, so its walls lie within a 24h map's horizon.
OWN = ModelV2Params(tiers=(TierV2(50.0, 0.5, 12.0), TierV2(100.0, 0.5, 6.0)), mmr=0.005)


@pytest.fixture
def alice_owns_a_model(alice: Any) -> Iterator[PersonalModelSpec]:
    """The user side's hook as it registers it, with alice owning one model; the previous hook restored after."""
    spec = PersonalModelSpec(id=7, name="fast fade", params=OWN)
    before = personal_hook._hook

    def resolve(user: Any, model_id: int) -> PersonalModelSpec | None:
        return spec if user.pk == alice.pk and model_id == 7 else None

    def list_models(user: Any) -> list[PersonalModelSpec]:
        return [spec] if user.pk == alice.pk else []

    personal_hook.register_personal_models(resolve=resolve, list_models=list_models)
    yield spec
    personal_hook._hook = before


def test_the_owner_s_models_join_the_league_on_request_and_only_for_the_owner(
    sample: None, alice_owns_a_model: PersonalModelSpec, alice_client: Client, bob_client: Client
) -> None:
    asset = Asset.objects.get(symbol="BTCUSDT")
    stored = backtest_store(asset=asset, timeframe="24h")
    assert stored is not None
    offer = alice_client.get("/model/?asset=BTCUSDT").content.decode()
    assert "Add my models to the league" in offer and "mine: fast fade" not in offer
    shown = alice_client.get("/model/?asset=BTCUSDT&mine=1").content.decode()
    assert "mine: fast fade" in shown and "(yours)" in shown
    for other in (bob_client, Client()):
        text = other.get("/model/?asset=BTCUSDT&mine=1").content.decode()
        assert "fast fade" not in text and "Add my models" not in text
    # The personal row is the model walked on the stored report's own steps: the same as ranking it
    # in a fresh run of the same history.
    rows = personal_league(backtest=stored, models=[("mine: fast fade", OWN)])
    assert rows is not None and [r["variant"] for r in rows][-2:] == ["v2", "mine: fast fade"]
    fresh = backtest_run(asset=asset, timeframe="24h", extra=[("mine: fast fade", OWN)])
    assert fresh is not None
    assert rows == [
        {**row, **({"personal": True} if row["variant"].startswith("mine") else {})} for row in fresh["league"]
    ]
    assert rows[-1]["events"] > 0
