"""Model v2 stored like v1 (heatmaps/maps.py, heatmaps/tasks.py): the low-priority follow-up stores v2's
map of every timeframe, equal to computing it directly; v2 follows v1 (a v2 map is recomputed when its v1
map was stored since, and only then); v1's own compute never touches v2; v2 is archived like v1 and read
back at a past moment. Real PostgreSQL and Redis; the sample data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from heatmaps.engine import TIMEFRAMES, decode_grid
from heatmaps.engine.gridcodec import MAX_RELATIVE_ERROR
from heatmaps.engine.model_v2 import ModelV2Params, compute_all_timeframes_v2
from heatmaps.explorer import MapFilter, filtered_map
from heatmaps.maps import default_v2_params, heatmap_compute, read_heatmap, trailing_v2_timeframes
from heatmaps.marketdata import asset_summary_refresh, dt_to_ms, load_sample_data, upsert_candles
from heatmaps.marketdata.base_bars import load_base_bars
from heatmaps.models import Asset, AssetSummary, Candle, Heatmap, PublishedMap, RiskLimit
from heatmaps.rows import BASE_BAR_MS, CandleRow
from heatmaps.tasks import recompute_long_maps

pytestmark = pytest.mark.django_db


def _versions(asset: Asset, model: str) -> dict[str, tuple[int, object]]:
    rows = Heatmap.objects.filter(asset=asset, model=model).values_list("timeframe", "version", "computed_at")
    return {tf: (version, at) for tf, version, at in rows}


def _next_bar(asset: Asset) -> None:
    last = Candle.objects.filter(asset=asset, exchange=asset.reference_exchange).latest("open_time")
    close = float(last.close)
    at = dt_to_ms(last.open_time + timedelta(milliseconds=BASE_BAR_MS))
    upsert_candles(
        asset=asset,
        exchange=asset.reference_exchange,
        rows=[CandleRow(at, close, close * 1.002, close * 0.998, close * 1.001, 10.0)],
    )


def test_the_follow_up_stores_v2_of_every_timeframe_and_follows_v1() -> None:
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    heatmap_compute(asset=btc)
    assert trailing_v2_timeframes(asset=btc) == list(TIMEFRAMES)
    recompute_long_maps.apply(args=(btc.pk,)).get()
    assert trailing_v2_timeframes(asset=btc) == []
    v2 = {m.timeframe: m for m in Heatmap.objects.filter(asset=btc, model="v2")}
    assert set(v2) == set(TIMEFRAMES)

    # Each stored v2 map is the engine's v2 map of the same bars, through the stored codec.
    newest = max(m.data_end for m in v2.values())
    reach = max(2 * tf.window_ms + tf.bar_ms for tf in TIMEFRAMES.values())
    loaded = load_base_bars(asset=btc, since=newest - timedelta(milliseconds=reach))
    assert loaded is not None
    params = default_v2_params(btc)
    direct = compute_all_timeframes_v2(bars=loaded.bars, params=params)
    for key, row in v2.items():
        assert row.params["model"] == "v2" and row.params["sweep_price"] == direct[key].sweep_price
        assert ModelV2Params.from_json({k: v for k, v in row.params.items() if k != "sweep_price"}) == params
        assert row.version == 1 and row.data_end == newest
        shape = (row.width, row.bins)
        stored = decode_grid(bytes(row.long_grid), row.long_scale, shape)
        expected = direct[key].long
        big = expected > expected.max() * 1e-3
        np.testing.assert_allclose(stored[big], expected[big], rtol=3 * MAX_RELATIVE_ERROR)
    v1 = {m.timeframe: m for m in Heatmap.objects.filter(asset=btc, model="v1")}
    assert not np.array_equal(bytes(v1["1w"].long_grid), bytes(v2["1w"].long_grid))

    # Nothing new: the follow-up leaves v2 alone.
    before = _versions(btc, "v2")
    recompute_long_maps.apply(args=(btc.pk,)).get()
    assert _versions(btc, "v2") == before

    # A new bar: v1's short maps are recomputed and v2 is not touched by that compute...
    _next_bar(btc)
    heatmap_compute(asset=btc, timeframes=["12h", "24h"], summary=False)
    assert _versions(btc, "v2") == before
    assert set(trailing_v2_timeframes(asset=btc)) == {"12h", "24h"}
    # ...then the follow-up brings exactly those up to v1.
    recompute_long_maps.apply(args=(btc.pk,)).get()
    after = _versions(btc, "v2")
    assert {tf for tf in TIMEFRAMES if after[tf] != before[tf]} >= {"12h", "24h"}
    for tf in ("12h", "24h"):
        assert Heatmap.objects.get(asset=btc, timeframe=tf, model="v2").data_end == (
            Heatmap.objects.get(asset=btc, timeframe=tf, model="v1").data_end
        )
    assert after["1y"] == before["1y"]  # v1's 1y map was not due, so neither is v2's


def test_v2_is_archived_and_read_back_as_published() -> None:
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h"])
    heatmap_compute(asset=btc, timeframes=["24h"], model="v2", summary=False)
    kept = PublishedMap.objects.get(asset=btc, timeframe="24h", model="v2")
    stored = read_heatmap(asset=btc, timeframe="24h", model="v2")
    assert stored is not None and kept.version == stored.heatmap.version
    shown = filtered_map(asset=btc, stored=stored, filt=MapFilter(at=timezone.now()))
    assert shown is not None and shown.heatmap.explorer_source == "archive"  # type: ignore[attr-defined]
    np.testing.assert_array_equal(shown.long, stored.long)
    v1 = read_heatmap(asset=btc, timeframe="24h")
    assert v1 is not None and v1.heatmap.model == "v1" and stored.heatmap.model == "v2"


def test_v2_takes_the_venues_risk_limits_and_its_filters_the_tiers_it_runs(client: Any) -> None:
    """A venue allowing at most 50x: the stored v2 map has no 100x tier, its high band is 50x alone (on the
    API too), and its params say the venue's margin."""
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    RiskLimit.objects.create(
        asset=btc,
        exchange=btc.reference_exchange,
        instrument="BTCUSDT",
        brackets=[],
        max_leverage=50.0,
        mmr=0.005,
        fetched_at=timezone.now(),
    )
    heatmap_compute(asset=btc, timeframes=["1w"])
    recompute_long_maps.apply(args=(btc.pk,)).get()
    row = Heatmap.objects.get(asset=btc, timeframe="1w", model="v2")
    assert row.params["mmr"] == 0.005 and row.params["max_leverage"] == 50.0
    assert row.liquidation_map["leverages"] == [5.0, 10.0, 25.0, 50.0]
    body = client.get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&model=v2&lev=high").json()
    assert body["filter"]["tiers"] == [50.0]
    refused = client.get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&model=v2&tiers=100")
    assert refused.status_code == 400 and "tiers" in refused.json()
    assert client.get("/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&tiers=100").status_code == 200  # v1 has 100x


def test_the_overview_stays_v1() -> None:
    """The overview's row reads v1's clusters even where v2's differ and were stored after them."""
    load_sample_data()
    btc = Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")
    heatmap_compute(asset=btc, timeframes=["24h"])
    heatmap_compute(asset=btc, timeframes=["24h"], model="v2", summary=False)
    asset_summary_refresh(asset=btc)
    summary = AssetSummary.objects.get(asset=btc)
    v1 = Heatmap.objects.get(asset=btc, timeframe="24h", model="v1")
    v2 = Heatmap.objects.get(asset=btc, timeframe="24h", model="v2")
    v1_above = next(c["usd"] for c in v1.clusters if c["side"] == "short")
    v2_above = next(c["usd"] for c in v2.clusters if c["side"] == "short")
    assert v1_above != v2_above
    assert summary.cluster_above_usd == v1_above
