from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from heatmaps.marketdata import find_gaps, upsert_candles, upsert_open_interest
from heatmaps.models import Asset, Candle, Exchange
from heatmaps.rows import CandleRow, OpenInterestRow

pytestmark = pytest.mark.django_db
T0 = 1_767_225_600_000


def seed(asset: Asset, exchange: Exchange, n: int = 100) -> None:
    upsert_candles(
        asset=asset,
        exchange=exchange,
        rows=[CandleRow(T0 + i * 300_000, 100.0, 101.0, 99.0, 100.5, 1.0) for i in range(n)],
    )
    upsert_open_interest(
        asset=asset, exchange=exchange, rows=[OpenInterestRow(T0 + (i + 1) * 300_000, 10.0, 1000.0) for i in range(n)]
    )


def test_data_coverage_counts_missing_bars(btc: Asset, binance: Exchange) -> None:
    seed(btc, binance)
    holes = [datetime(2026, 1, 1, 1, 0, tzinfo=UTC) + timedelta(minutes=5 * k) for k in (0, 1, 2, 7)]
    Candle.objects.filter(open_time__in=holes).delete()
    out = io.StringIO()
    call_command("data_coverage", "--json", stdout=out)
    report = {(r["asset"], r["exchange"], r["kind"]): r for r in json.loads(out.getvalue())}
    candles = report[("BTCUSDT", "binance", "candles")]
    assert candles["rows"] == 96 and candles["missing_bars"] == 4
    assert candles["first"] == "2026-01-01T00:00:00+00:00" and candles["last"] == "2026-01-01T08:15:00+00:00"
    assert report[("BTCUSDT", "binance", "open_interest")]["missing_bars"] == 0

    gaps = find_gaps(asset_id=btc.pk, exchange_id=binance.pk, since=datetime(2026, 1, 1, tzinfo=UTC), kind="candles")
    assert [(g.after, g.missing_bars) for g in gaps] == [
        (datetime(2026, 1, 1, 0, 55, tzinfo=UTC), 3),
        (datetime(2026, 1, 1, 1, 30, tzinfo=UTC), 1),
    ]


def test_data_coverage_table(btc: Asset, binance: Exchange) -> None:
    seed(btc, binance, 12)
    out = io.StringIO()
    call_command("data_coverage", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if "candles" in line)
    assert line.split() == [
        "BTCUSDT",
        "binance",
        "candles",
        "2026-01-01",
        "00:00",
        "2026-01-01",
        "00:55",
        "12",
        "0",
        "0",
    ]
    assert "held back" in out.getvalue().splitlines()[0]


def test_admin_pages_for_staff(btc: Asset, binance: Exchange, olga_client: Client) -> None:
    seed(btc, binance, 20)
    assert olga_client.get("/admin/heatmaps/asset/").status_code == 200
    page = olga_client.get(f"/admin/heatmaps/asset/{btc.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "missing 5m bars" in html and "2026-01-01 01:35 UTC" in html
    assert olga_client.get("/admin/heatmaps/exchange/").status_code == 200


@pytest.mark.django_db
def test_heatmap_admin_is_read_only_and_shows_sources(olga_client: Client) -> None:
    from heatmaps.marketdata import load_sample_data
    from heatmaps.models import Heatmap

    load_sample_data()
    from heatmaps.maps import heatmap_compute

    (m,) = heatmap_compute(asset=Asset.objects.get(symbol="ETHUSDT"), timeframes=["1w"])
    html = olga_client.get("/admin/heatmaps/heatmap/").content.decode()
    assert "binance candles, binance OI (simulated)" in html and "2026-01-15 17:30 → 2026-01-29 17:05" in html
    assert olga_client.get(f"/admin/heatmaps/heatmap/{m.pk}/change/").status_code == 200  # view only
    response = olga_client.post(f"/admin/heatmaps/heatmap/{m.pk}/change/", {"timeframe": "1y"})
    assert response.status_code == 403 and Heatmap.objects.get(pk=m.pk).timeframe == "1w"


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_admin_pages_redirect_non_staff(btc: Asset, who: str, request: pytest.FixtureRequest) -> None:
    client = Client() if who == "anonymous" else request.getfixturevalue("bob_client")
    response = client.get(f"/admin/heatmaps/asset/{btc.pk}/change/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_rejects_invalid_model_parameters(btc: Asset, binance: Exchange, olga_client: Client) -> None:
    form = {
        "symbol": "BTCUSDT",
        "display_name": "Bitcoin",
        "base": "BTC",
        "quote": "USDT",
        "enabled": "on",
        "exchanges": [binance.pk],
        "reference_exchange": binance.pk,
        "tiers": "10:0.5,25:0.4",
        "mmr": "0.004",
        "bins": "400",
        "pad": "0.1",
    }
    response = olga_client.post(f"/admin/heatmaps/asset/{btc.pk}/change/", form)
    assert response.status_code == 200 and "sum to 1" in response.content.decode()
    form.update(tiers="10:0.5,25:0.5", bins="5")
    response = olga_client.post(f"/admin/heatmaps/asset/{btc.pk}/change/", form)
    assert response.status_code == 200 and "greater than or equal to 20" in response.content.decode()
    form.update(bins="300")
    response = olga_client.post(f"/admin/heatmaps/asset/{btc.pk}/change/", form)
    assert response.status_code == 302
    btc.refresh_from_db()
    assert (btc.tiers, btc.bins) == ("10:0.5,25:0.5", 300)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_actions_enqueue_recompute_and_backfill_on_a_real_worker(
    celery_worker_process: Any, fake: Any, olga_client: Client
) -> None:
    from heatmaps.models import Heatmap
    from tests.conftest import wait_for

    binance = Exchange.get_supported("binance")
    asset = Asset.objects.create(symbol="BTCUSDT", display_name="Bitcoin", base="BTC", reference_exchange=binance)
    asset.exchanges.add(binance)
    changelist = "/admin/heatmaps/asset/"
    response = olga_client.post(changelist, {"action": "enqueue_backfill", "_selected_action": [asset.pk]}, follow=True)
    assert "Backfill queued for 1 asset(s)." in response.content.decode()
    # The worker fetches the fake exchange's last 7 days of 5m candles, then recomputes the maps.
    wait_for(lambda: Candle.objects.filter(asset=asset).count() == 2016, timeout=90)
    wait_for(lambda: Heatmap.objects.filter(asset=asset, model="v1").count() == 9, timeout=90)
    versions = dict(Heatmap.objects.filter(asset=asset, model="v1").values_list("timeframe", "version"))

    # The operator changes the model's resolution, then recomputes: every map is redrawn with it.
    Asset.objects.filter(pk=asset.pk).update(bins=200)
    response = olga_client.post(
        changelist, {"action": "enqueue_recompute", "_selected_action": [asset.pk]}, follow=True
    )
    assert "Heat-map recompute queued for 1 asset(s)." in response.content.decode()
    wait_for(
        lambda: all(
            v == versions[tf] + 1
            for tf, v in Heatmap.objects.filter(asset=asset, model="v1").values_list("timeframe", "version")
        ),
        timeout=90,
    )
    assert set(Heatmap.objects.filter(asset=asset, model="v1").values_list("bins", flat=True)) == {200}
