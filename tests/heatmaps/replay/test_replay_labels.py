"""While the sample is replayed, every place that shows market data says so."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from heatmaps.maps import heatmap_compute
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample() -> Asset:
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h"])
    return btc


@pytest.mark.parametrize("replay", [True, False])
def test_pages_and_api_say_replay_of_sample_data(client: Client, settings: Any, sample: Asset, replay: bool) -> None:
    settings.LIQ_REPLAY = replay
    page = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    assert ("replay of sample data" in page) is replay
    assert ('data-live-note="replay of sample data"' in page) is replay  # the live badge reads "live · replay …"
    overview = client.get("/").content.decode()
    assert ('title="replay of the bundled sample data, not the market">replay</abbr>' in overview) is replay
    api = client.get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=24h").json()
    assert api["provenance"]["replay"] is replay
