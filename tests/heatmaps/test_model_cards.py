"""Model cards: calibrate_model stores a versioned card (previous versions kept, the newest adopted one
current), refuses with clear messages, and the card reaches /model/<SYMBOL>/ and the API."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from heatmaps.engine.calibration import LOOKBACK_MS, MIN_EVENTS
from heatmaps.maps import load_base_bars
from heatmaps.marketdata import insert_liquidations, load_sample_data
from heatmaps.models import Asset, Exchange, ModelCard, OpenInterest
from heatmaps.rows import LiquidationRow
from heatmaps.validity.model_cards import current_model_card, model_card_store

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


def _record_liquidations(asset: Asset, n: int = 400) -> None:
    """Longs liquidated at the 25x and 50x prices from the trailing three-day high, half on Binance
    and half on Bybit."""
    loaded = load_base_bars(asset=asset, since=None)
    assert loaded is not None
    bars = loaded.bars
    rng = np.random.default_rng(1)
    times = np.sort(rng.integers(int(bars.open_time[0]) + 7 * 86_400_000, int(bars.open_time[-1]), n))
    by_venue: dict[str, list[LiquidationRow]] = {"binance": [], "bybit": []}
    for k, t in enumerate(times.tolist()):
        window = (bars.open_time >= t - LOOKBACK_MS) & (bars.open_time + 300_000 <= t)
        high = float(bars.high[window].max())
        lev = 25.0 if k % 2 else 50.0
        price = high * (1 - 1 / lev) / (1 - 0.004)
        venue = "binance" if k % 4 < 2 else "bybit"
        by_venue[venue].append(LiquidationRow(asset.symbol, t, "long", price, 10_000.0 / price, 10_000.0, f"c{k}"))
    for code, rows in by_venue.items():
        insert_liquidations(asset=asset, exchange=Exchange.get_supported(code), rows=rows)


def test_refusals_store_nothing_and_say_why_on_the_page_and_in_the_api(sample: None) -> None:
    client = Client()
    with pytest.raises(CommandError, match="open interest is simulated"):
        call_command("calibrate_model", "--asset", "ETHUSDT")
    assert not ModelCard.objects.filter(asset__symbol="ETHUSDT").exists()
    page = client.get("/model/ETHUSDT/")
    assert page.status_code == 200
    assert "no adopted model card" in page.content.decode() and "simulated" in page.content.decode()
    api = client.get("/api/v1/assets/ETHUSDT/model-card/")
    assert api.status_code == 404 and "simulated" in api.json()["detail"]

    OpenInterest.objects.filter(asset__symbol="ETHUSDT").update(simulated=False)
    with pytest.raises(CommandError, match=f"0 recorded liquidations .* at least {MIN_EVENTS}"):
        call_command("calibrate_model", "--asset", "ETHUSDT")
    text = client.get("/model/ETHUSDT/").content.decode()
    assert f"too few recorded liquidations: 0 of {MIN_EVENTS}" in text
    assert client.get("/api/v1/assets/ETHUSDT/model-card/").status_code == 404
    assert client.get("/api/v1/assets/NOPEUSDT/model-card/").status_code == 404
    assert client.get("/model/NOPEUSDT/").status_code == 404


def test_each_run_stores_the_next_version_and_the_newest_adopted_is_current(sample: None) -> None:
    asset = Asset.objects.get(symbol="BTCUSDT")
    OpenInterest.objects.filter(asset=asset).update(simulated=False)
    _record_liquidations(asset)
    out = io.StringIO()
    call_command("calibrate_model", "--asset", "BTCUSDT", stdout=out)
    first = ModelCard.objects.get(asset=asset)
    assert first.version == 1 and f"model card v1 of {asset.symbol}" in out.getvalue()
    assert first.liquidations == {"binance": 200, "bybit": 200}
    assert first.adopted == (first.held_out_score - first.current_held_out_score > first.margin)
    tiers = first.params["tiers"]
    assert [t["leverage"] for t in tiers] == [5.0, 10.0, 25.0, 50.0, 100.0]
    assert sum(t["weight"] for t in tiers) == pytest.approx(1.0, abs=1e-5)
    assert all(t["half_life_hours"] > 0 for t in tiers)
    assert first.prior_params["tiers"][2]["weight"] == pytest.approx(0.30)  # the asset's v1 weights
    assert first.data_start < first.data_end
    assert first.adopted  # 45 % of the default weight sits on tiers no event came from

    call_command("calibrate_model", "--asset", "BTCUSDT", "--no-store", stdout=io.StringIO())
    assert ModelCard.objects.filter(asset=asset).count() == 1  # printed only
    # A second run on the same data: version 2, the first kept.
    call_command("calibrate_model", "--asset", "BTCUSDT", stdout=io.StringIO())
    assert list(ModelCard.objects.filter(asset=asset).values_list("version", flat=True)) == [2, 1]
    second = ModelCard.objects.get(asset=asset, version=2)
    assert current_model_card(asset=asset) == second

    # A fit that does not beat the prior is stored as version 3 but the current card stays version 2.
    worse = copy.deepcopy(second.report)
    worse["fit"]["held_out_fitted"] = worse["fit"]["held_out_current"]
    worse["half_lives"]["held_out_fitted"] = worse["half_lives"]["held_out_prior"]
    third = model_card_store(asset=asset, report=worse)
    assert third.version == 3 and not third.adopted
    assert current_model_card(asset=asset) == second

    client = Client()
    text = client.get("/model/BTCUSDT/").content.decode()
    assert "Current card" in text and "v2" in text and "Newest fit, not adopted" in text
    assert "Binance publishes at most one liquidation per symbol per second" in text
    assert text.count('<th scope="row">v') == 3  # every version listed
    assert client.get("/model/btcusdt/").status_code == 302
    body = client.get("/api/v1/assets/btcusdt/model-card/").json()
    assert body["current"]["version"] == 2 and [v["version"] for v in body["versions"]] == [3, 2, 1]
    assert body["current"]["liquidations"] == {"binance": 200, "bybit": 200}
    assert body["current"]["params"] == second.params and "sampled" in body["feed_caveat"]
    assert "/model/BTCUSDT/" in client.get("/model/").content.decode()
    assert "/model/BTCUSDT/" in client.get("/assets/BTCUSDT/").content.decode()
