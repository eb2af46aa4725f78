"""A map cell split by leverage tier and by exchange, and each cluster's exchange mix
(``/api/v1/assets/<S>/heatmap/breakdown/``): the tiers add up to the cell, each exchange's figure is the
map of that exchange's open interest alone, and a time or price off the map is a 400 naming it. Real
PostgreSQL and Redis; the sample with a second exchange's open interest added."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.test import Client

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset
from tests.heatmaps.explorer_data import add_bybit_open_interest

pytestmark = pytest.mark.django_db

URL = "/api/v1/assets/BTCUSDT/heatmap/"


@pytest.fixture(scope="module")
def two_exchanges(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        btc = Asset.objects.get(symbol="BTCUSDT")
        add_bybit_open_interest(btc)
        heatmap_compute(asset=btc, timeframes=["24h"])
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


def _dense(client: Client, query: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    body = client.get(f"{URL}?cells=dense&timeframe=24h&{query}").json()
    shape = tuple(body["cells"]["shape"])

    def grid(side: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(body["cells"][side]), dtype="<f4").reshape(shape)

    return grid("long"), grid("short"), body


def _busiest_cell(long: np.ndarray, body: dict[str, Any]) -> tuple[int, float, int, int]:
    col, bin_ = np.unravel_index(int(np.argmax(long)), long.shape)
    time_ms = int(body["times"][0]) + int(col) * body["bar_seconds"] * 1000 + 1
    width = (body["price_hi"] - body["price_lo"]) / body["bins"]
    price = body["price_lo"] + (int(bin_) + 0.5) * width
    return time_ms, price, int(col), int(bin_)


def test_tiers_add_up_to_the_cell_and_exchanges_are_their_own_maps(two_exchanges: None, client: Client) -> None:
    long, _, body = _dense(client, "")
    time_ms, price, col, bin_ = _busiest_cell(long, body)
    response = client.get(f"{URL}breakdown/?timeframe=24h&time={time_ms}&price={price}")
    assert response.status_code == 200, response.content[:300]
    cell = response.json()["cell"]
    assert cell["long_usd"] == pytest.approx(float(long[col, bin_]), rel=1e-5)
    assert cell["price_low"] <= price < cell["price_high"]
    assert [t["key"] for t in cell["tiers"]] == [f"{lev:g}" for lev in body["liquidation_map"]["leverages"]]
    # The tiers' maps of one run add up to the whole (each part through the storage codec).
    assert sum(t["long_usd"] for t in cell["tiers"]) == pytest.approx(cell["long_usd"], rel=0.02)
    assert sum(t["short_usd"] for t in cell["tiers"]) == pytest.approx(cell["short_usd"], rel=0.02, abs=1.0)
    # Each exchange's figure equals that exchange's filtered map at the cell.
    assert {e["key"] for e in cell["exchanges"]} == {"binance", "bybit"}
    for part in cell["exchanges"]:
        own_long, _, _ = _dense(client, f"exchange={part['key']}")
        assert part["long_usd"] == pytest.approx(float(own_long[col, bin_]), rel=1e-5, abs=1e-3)
    assert any(p["long_usd"] > 0 for p in cell["exchanges"])


def test_clusters_carry_their_exchange_mix(two_exchanges: None, client: Client) -> None:
    body = client.get(f"{URL}breakdown/?timeframe=24h").json()
    assert body["cell"] is None
    assert body["clusters"], "the 24h map has clusters"
    for cluster in body["clusters"]:
        shares = [e["share"] for e in cluster["exchanges"]]
        assert {e["exchange"] for e in cluster["exchanges"]} == {"binance", "bybit"}
        if any(e["usd"] > 0 for e in cluster["exchanges"]):
            assert sum(shares) == pytest.approx(1.0)
            assert all(0 <= s <= 1 for s in shares)
    # Each exchange's USD is its own map's, on the cluster's side and bins, at the newest column.
    top = body["clusters"][0]
    for part in top["exchanges"]:
        own_long, own_short, own = _dense(client, f"exchange={part['exchange']}")
        edges = np.linspace(own["price_lo"], own["price_hi"], own["bins"] + 1)
        lo, hi = np.searchsorted(edges, [top["price_low"], top["price_high"]])
        grid = own_long if top["side"] == "long" else own_short
        assert part["usd"] == pytest.approx(float(grid[-1, lo:hi].sum()), rel=1e-4)


def test_a_filtered_map_splits_only_what_it_shows(two_exchanges: None, client: Client) -> None:
    long, _, body = _dense(client, "lev=high")
    time_ms, price, col, bin_ = _busiest_cell(long, body)
    cell = client.get(f"{URL}breakdown/?timeframe=24h&lev=high&time={time_ms}&price={price}").json()["cell"]
    assert [t["key"] for t in cell["tiers"]] == ["50", "100"]
    assert sum(t["long_usd"] for t in cell["tiers"]) == pytest.approx(float(long[col, bin_]), rel=0.02)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("time=1&price=1", "time"),
        ("time=100", "price"),
        ("price=-5&time=1", "price"),
        ("model=v7", "model"),
        ("exchange=kraken", "exchange"),
        ("tiers=33", "tiers"),
    ],
)
def test_bad_parameters_are_400_naming_them(two_exchanges: None, client: Client, query: str, param: str) -> None:
    response = client.get(f"{URL}breakdown/?timeframe=24h&{query}")
    assert response.status_code == 400, response.content[:300]
    assert param in response.json()


def test_price_outside_the_map_is_400(two_exchanges: None, client: Client) -> None:
    _, _, body = _dense(client, "")
    response = client.get(f"{URL}breakdown/?timeframe=24h&time={body['times'][0]}&price={body['price_hi'] * 2}")
    assert response.status_code == 400
    assert "price" in response.json()


def test_unknown_asset_is_404(client: Client) -> None:
    assert client.get("/api/v1/assets/NOPEUSDT/heatmap/breakdown/").status_code == 404
