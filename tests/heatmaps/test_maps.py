"""Stored heat maps on real PostgreSQL and Redis, and the recompute task on a real Celery worker."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import call_command

from heatmaps import engine
from heatmaps.engine import FLOOR_RATIO
from heatmaps.maps import asset_params, heatmap_cache_key, heatmap_compute, load_base_bars, read_heatmap
from heatmaps.marketdata import load_sample_data, upsert_candles
from heatmaps.models import Asset, Heatmap
from heatmaps.rows import CandleRow
from heatmaps.tasks import recompute_asset


@pytest.fixture
def sample(db: None) -> Asset:
    load_sample_data()
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


@pytest.mark.django_db
def test_stored_map_matches_engine_within_half_a_percent(sample: Asset) -> None:
    heatmap_compute(asset=sample, timeframes=["1w", "1m"])
    loaded = load_base_bars(asset=sample, since=None)
    assert loaded is not None
    for key in ("1w", "1m"):
        exact = engine.compute_heatmap(bars=loaded.bars, timeframe=key, params=asset_params(sample))
        stored = read_heatmap(asset=sample, timeframe=key)
        assert stored is not None
        np.testing.assert_array_equal(stored.times, exact.times)
        np.testing.assert_allclose(stored.prices, exact.prices, rtol=1e-12)
        for got, want in ((stored.long, exact.long), (stored.short, exact.short)):
            floor = want.max() * FLOOR_RATIO
            live = want >= floor
            assert np.all(np.abs(got[live] - want[live]) <= 0.005 * want[live])
            assert np.all(got[~live] == 0)
        m = stored.heatmap
        assert (len(m.long_grid) + len(m.short_grid)) <= 300 * 1024
        assert m.data_end == datetime(2026, 1, 29, 17, 5, tzinfo=UTC)
        assert m.candle_exchange == "binance" and m.oi_exchanges == ["binance"] and m.oi_simulated
        assert m.width == engine.TIMEFRAMES[key].columns and m.bins == 400
        assert len(m.candles) == m.width and m.candles[-1][4] == pytest.approx(float(exact.close[-1]))
        assert m.clusters and {c["side"] for c in m.clusters} <= {"long", "short"}
        assert m.clusters == sorted(m.clusters, key=lambda c: -c["usd"])


@pytest.mark.django_db
def test_read_is_cached_by_version(sample: Asset) -> None:
    heatmap_compute(asset=sample, timeframes=["12h"])
    first = read_heatmap(asset=sample, timeframe="12h")
    assert first is not None
    key = heatmap_cache_key(first.heatmap)
    assert cache.get(key) is not None
    heatmap_compute(asset=sample, timeframes=["12h"])  # no new data: the same version is served
    same = read_heatmap(asset=sample, timeframe="12h")
    assert same is not None and same.heatmap.version == first.heatmap.version
    np.testing.assert_array_equal(same.long, first.long)
    upsert_candles(
        asset=sample,
        exchange=sample.reference_exchange,
        rows=[CandleRow(1_769_706_600_000, 84_000, 84_100, 83_900, 84_050, 5.0)],  # 2026-01-29 17:10 UTC
    )
    heatmap_compute(asset=sample, timeframes=["12h"])
    second = read_heatmap(asset=sample, timeframe="12h")
    assert second is not None and second.heatmap.version == first.heatmap.version + 1
    assert heatmap_cache_key(second.heatmap) != key and second.times[-1] == 1_769_706_600_000


@pytest.mark.django_db
def test_compute_heatmaps_command_reports_sources(sample: Asset) -> None:
    out = io.StringIO()
    call_command("compute_heatmaps", "--asset", "btcusdt", "--timeframe", "24h", stdout=out, stderr=io.StringIO())
    assert "BTCUSDT 24h v1: 288×400, data 2026-01-27 17:10 → 2026-01-29 17:05 UTC" in out.getvalue()
    assert "BTCUSDT 24h v2: 288×400, data 2026-01-27 17:10 → 2026-01-29 17:05 UTC" in out.getvalue()
    assert "OI binance (simulated)" in out.getvalue()
    assert sorted(Heatmap.objects.values_list("timeframe", "model")) == [("24h", "v1"), ("24h", "v2")]
    Heatmap.objects.all().delete()
    call_command("compute_heatmaps", "--asset", "BTCUSDT", "--timeframe", "12h", "--model", "v2", stdout=io.StringIO())
    assert list(Heatmap.objects.values_list("timeframe", "model")) == [("12h", "v2")]


@pytest.mark.django_db
def test_unknown_timeframe_is_refused(sample: Asset) -> None:
    with pytest.raises(ValueError, match="unknown timeframe"):
        heatmap_compute(asset=sample, timeframes=["5y"])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_recompute_task_on_a_real_worker_is_idempotent_and_keeps_old_map_on_failure(
    celery_worker_process: Any,
) -> None:
    load_sample_data()
    btc = Asset.objects.get(symbol="BTCUSDT")
    assert recompute_asset.delay(btc.pk, ["12h", "1w"]).get(timeout=90) == 2
    before = {m.timeframe: m for m in Heatmap.objects.filter(asset=btc)}
    assert set(before) == {"12h", "1w"}

    assert recompute_asset.delay(btc.pk, ["12h", "1w"]).get(timeout=90) == 2
    after = {m.timeframe: m for m in Heatmap.objects.filter(asset=btc)}
    for key in before:  # same data, same map: nothing rewritten, no new version
        assert (after[key].version, after[key].computed_at) == (before[key].version, before[key].computed_at)
        assert bytes(after[key].long_grid) == bytes(before[key].long_grid)
        assert after[key].clusters == before[key].clusters
    assert Heatmap.objects.count() == 2

    Asset.objects.filter(pk=btc.pk).update(tiers="10:0.7,25:0.7")  # bypasses validation, as a bad edit could
    with pytest.raises(ValueError, match="sum to 1"):
        recompute_asset.delay(btc.pk, ["12h", "1w"]).get(timeout=90)
    kept = {m.timeframe: m for m in Heatmap.objects.filter(asset=btc)}
    assert {k: (m.version, bytes(m.long_grid)) for k, m in kept.items()} == {
        k: (m.version, bytes(m.long_grid)) for k, m in after.items()
    }


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_minutely_refresh_recomputes_only_the_short_maps(celery_worker_process: Any) -> None:
    from heatmaps.tasks import refresh_short_maps
    from tests.conftest import wait_for

    load_sample_data()
    Asset.objects.filter(symbol="ETHUSDT").update(enabled=False)
    refresh_short_maps.delay().get(timeout=60)
    wait_for(lambda: Heatmap.objects.count() == 2, timeout=90)
    m = Heatmap.objects.get(timeframe="24h")
    assert set(Heatmap.objects.values_list("asset__symbol", "timeframe")) == {("BTCUSDT", "12h"), ("BTCUSDT", "24h")}
    # The map records the span that fed it: the 24h window and its 24h warm-up.
    assert m.data_start == datetime(2026, 1, 27, 17, 10, tzinfo=UTC)


@pytest.mark.django_db
def test_after_new_data_only_maps_due_for_a_refresh_are_stale(sample: Asset) -> None:
    from datetime import timedelta

    from heatmaps.maps import stale_timeframes
    from heatmaps.marketdata import upsert_candles
    from heatmaps.rows import CandleRow

    assert stale_timeframes(asset=sample) == list(engine.TIMEFRAMES)  # nothing computed yet
    heatmap_compute(asset=sample)
    computed = Heatmap.objects.filter(asset=sample).latest("computed_at").computed_at
    assert stale_timeframes(asset=sample, now=computed + timedelta(hours=5)) == []  # no new data
    new_bar = 1_769_706_600_000  # 2026-01-29 17:10 UTC, just after the sample's last bar
    upsert_candles(
        asset=sample, exchange=sample.reference_exchange, rows=[CandleRow(new_bar, 84_000, 84_100, 83_900, 84_050, 5.0)]
    )
    # The maps with one column per base bar follow it at once; the others wait a twelfth of their bar.
    assert stale_timeframes(asset=sample, now=computed + timedelta(seconds=1)) == ["12h", "24h"]
    assert stale_timeframes(asset=sample, now=computed + timedelta(minutes=2)) == ["12h", "24h", "3d"]
    assert stale_timeframes(asset=sample, now=computed + timedelta(minutes=11)) == [
        "12h",
        "24h",
        "3d",
        "1w",
        "2w",
        "1m",
    ]
    assert stale_timeframes(asset=sample, now=computed + timedelta(hours=2)) == list(engine.TIMEFRAMES)


@pytest.mark.django_db
def test_open_interest_arriving_after_its_bar_makes_the_short_maps_stale(sample: Asset) -> None:
    from datetime import timedelta

    from heatmaps.maps import stale_timeframes
    from heatmaps.models import OpenInterest

    last = OpenInterest.objects.filter(asset=sample).latest("time")  # stamped 17:10, the last bar's close
    snapshot = (last.time, last.oi_base, last.oi_value)
    last.delete()  # as when the map is computed before the 5-minute OI tick has run
    heatmap_compute(asset=sample)
    computed = Heatmap.objects.filter(asset=sample).latest("computed_at").computed_at
    assert stale_timeframes(asset=sample, now=computed + timedelta(minutes=2)) == []
    OpenInterest.objects.create(
        asset=sample, exchange=sample.reference_exchange, time=snapshot[0], oi_base=snapshot[1], oi_value=snapshot[2]
    )
    assert stale_timeframes(asset=sample, now=computed + timedelta(minutes=2)) == ["12h", "24h", "3d"]
    (m,) = heatmap_compute(asset=sample, timeframes=["24h"])
    assert m.oi_end == snapshot[0] and m.version == 2
