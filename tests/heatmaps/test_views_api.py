"""The public pages and the JSON API against real PostgreSQL and Redis, with maps computed from the sample data."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client

from heatmaps.maps import heatmap_compute, read_heatmap
from heatmaps.marketdata import load_sample_data
from heatmaps.models import Asset, Candle, Exchange, Heatmap, Ticker
from heatmaps.views import format_price, format_usd

pytestmark = pytest.mark.django_db


def compute(asset: Asset, timeframes: list[str]) -> None:
    heatmap_compute(asset=asset, timeframes=timeframes)


COMPUTED = ["24h", "1w"]


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Sample data and the BTCUSDT 24h and 1w maps, loaded once for the module (loading takes ~2 s).

    Committed outside the per-test transactions, so each test still rolls back its own changes;
    removed again at the end so later modules start from an empty database.
    """
    with django_db_blocker.unblock():
        load_sample_data()
        compute(Asset.objects.get(symbol="BTCUSDT"), COMPUTED)
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def btc(sample_maps: None) -> Asset:
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


def htmx(client: Client, url: str, **extra: Any) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true", **extra)


def utc(dt: Any) -> str:
    return f"{dt:%Y-%m-%d %H:%M}"


# ---- formatting -----------------------------------------------------------------------------


def test_usd_and_price_formatting() -> None:
    assert format_usd(616_636_473.2) == "$616.6M"
    assert format_usd(1_202_432_514) == "$1.20B"
    assert format_usd(48_200) == "$48.2K"
    assert format_usd(950.4) == "$950"
    assert format_usd(None) == "–"
    assert format_price(85085.7) == "85,085.7"
    assert format_price(3012.456) == "3,012.46"
    assert format_price(0.5123456) == "0.512346"


# ---- pages ----------------------------------------------------------------------------------


def test_index_lists_enabled_assets_with_latest_price(client: Client, btc: Asset) -> None:
    Asset.objects.filter(symbol="ETHUSDT").update(enabled=False)
    newest = Candle.objects.filter(asset=btc, exchange=btc.reference_exchange).order_by("-open_time").first()
    assert newest is not None
    response = client.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'href="/assets/BTCUSDT/"' in body
    assert format_price(newest.close) in body and "USDT" in body
    assert f"{utc(newest.open_time)} UTC" in body
    assert "ETHUSDT" not in body


def test_asset_page_shows_the_map_panel_with_provenance(client: Client, btc: Asset) -> None:
    response = client.get("/assets/BTCUSDT/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and 'id="heatmap-panel"' in body and 'data-timeframe="24h"' in body
    assert "script-src 'self'" in response["Content-Security-Policy"]  # the browser test runs under it
    # Next to the map: open interest, funding and volume over the asset's exchanges.
    assert "Open interest (simulated)" in body and "Funding, OI-weighted" in body
    assert "0.0040 %" in body  # the last real funding settlement of the sample: 4.023e-05 at 2026-01-29 16:00 UTC
    m = Heatmap.objects.get(asset=btc, timeframe="24h")
    provenance = (
        f'{utc(m.computed_at)} UTC</time> (<span class="computed-age">0 min</span> ago)\n        from Binance USDS-M candles and Binance USDS-M open interest, '
        f"data {utc(m.data_start)} →\n        {utc(m.data_end)} UTC (newest bar "
    )
    assert provenance in body
    assert "2026-01-29 17:05 UTC" in body
    assert "SIMULATED open interest" in body
    # The script reads the public API's map, its grids packed as stored.
    assert 'data-heatmap-src="/api/v1/assets/BTCUSDT/heatmap/?timeframe=24h&amp;side=both&amp;cells=packed"' in body
    assert f"full intensity = {format_usd(m.colour_scale_usd)}" in body
    assert f"{format_price(m.current_price)} <span" in body
    assert format_usd(m.liquidation_map["total_long"]) in body
    assert format_usd(m.liquidation_map["total_short"]) in body
    top = m.clusters[0]
    assert format_usd(top["usd"]) in body and f"{top['distance_pct']:+.2f} %" in body
    # Tabs are real links with htmx attributes; the current one is marked.
    assert 'href="?tf=1w"' in body and 'hx-get="/assets/BTCUSDT/?tf=1w"' in body and 'hx-push-url="true"' in body
    assert 'aria-current="page">24h</a>' in body
    assert "static/vendor/htmx.min.js" in body and "static/heatmaps/heatmap.js" in body
    assert "static/vendor/uPlot.iife.min.js" in body and "<script>" not in body  # CSP: no inline scripts


def test_htmx_request_gets_only_the_panel(client: Client, btc: Asset) -> None:
    response = htmx(client, "/assets/BTCUSDT/?tf=1w")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "<header" not in body
    assert body.lstrip().startswith("<title>BTCUSDT 1w liquidation heat map")
    assert 'id="heatmap-panel"' in body and 'data-timeframe="1w"' in body
    assert 'data-heatmap-src="/api/v1/assets/BTCUSDT/heatmap/?timeframe=1w&amp;side=both&amp;cells=packed"' in body
    assert 'aria-current="page">1w</a>' in body
    assert "SIMULATED open interest" in body
    assert "HX-Request" in response["Vary"]


def test_history_restore_request_gets_the_full_page(client: Client, btc: Asset) -> None:
    response = htmx(client, "/assets/BTCUSDT/?tf=1w", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert response.status_code == 200
    assert "<html" in response.content.decode()


def test_badge_only_for_simulated_open_interest(client: Client, btc: Asset) -> None:
    Heatmap.objects.filter(asset=btc).update(oi_simulated=False)
    body = client.get("/assets/BTCUSDT/").content.decode()
    assert "SIMULATED" not in body
    assert "open interest, data" in body


def test_degraded_feed_is_announced_on_the_page(client: Client, btc: Asset) -> None:
    assert "data feed degraded" not in client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    Exchange.objects.filter(code="binance").update(degraded_since=datetime(2026, 1, 29, 17, 30, tzinfo=UTC))
    html = htmx(client, "/assets/BTCUSDT/?tf=1w").content.decode()
    assert "Binance USDS-M data feed degraded" in html and "failing since 2026-01-29 17:30 UTC" in html


def test_times_labelled_utc_stay_utc_for_a_user_in_another_zone(alice_client: Client, alice: Any, btc: Asset) -> None:
    type(alice).objects.filter(pk=alice.pk).update(time_zone="Asia/Tokyo")
    Exchange.objects.filter(code="binance").update(degraded_since=datetime(2026, 1, 29, 17, 30, tzinfo=UTC))
    Ticker.objects.create(
        asset=btc, exchange=btc.reference_exchange, time=datetime(2026, 1, 29, 17, 31, tzinfo=UTC), mark_price=85000.0,
        funding_rate=0.0001, next_funding_time=datetime(2026, 1, 29, 20, 0, tzinfo=UTC),
    )  # fmt: skip
    html = alice_client.get("/assets/BTCUSDT/?tf=1w").content.decode()
    assert 'data-time-zone="Asia/Tokyo"' in html
    assert "failing since 2026-01-29 17:30 UTC" in html
    assert "at 20:00 UTC" in html
    heatmap = Heatmap.objects.get(asset=btc, timeframe="1w")
    assert f">{utc(heatmap.computed_at.astimezone(UTC))} UTC</time>" in html


def test_colour_scale_can_be_pinned_so_maps_compare(client: Client, btc: Asset) -> None:
    html = client.get("/assets/BTCUSDT/?tf=1w&full=25,000,000").content.decode()
    assert 'data-full-usd="25000000.0"' in html and "full intensity = $25.0M (pinned)" in html
    assert 'href="?tf=24h&amp;full=25000000"' in html  # switching timeframe keeps the pin
    assert "(99th percentile)" in client.get("/assets/BTCUSDT/?tf=1w").content.decode()


@pytest.mark.parametrize("raw", ["abc", "-5", "0", "1e400", "nan", "<script>"])
def test_bad_pin_is_ignored_with_a_message(client: Client, btc: Asset, raw: str) -> None:
    response = client.get("/assets/BTCUSDT/", {"tf": "1w", "full": raw})
    html = response.content.decode()
    assert response.status_code == 200 and "data-full-usd" not in html
    assert "give a USD amount above 0" in html and "<script>" not in html.split("<main")[1].split("</main>")[0]


def test_timeframe_not_computed_yet_is_said_clearly(client: Client, btc: Asset) -> None:
    response = client.get("/assets/BTCUSDT/?tf=3m")
    body = response.content.decode()
    assert response.status_code == 200
    assert "The 3m map of BTCUSDT is not computed yet" in body
    assert "<canvas" not in body
    assert 'class="tab not-computed"' in body
    eth = client.get("/assets/ETHUSDT/").content.decode()
    assert "The 24h map of ETHUSDT is not computed yet" in eth
    # A visitor is never told to run an operator's command, nor shown the admin.
    panel = body.split('<section id="heatmap-panel"')[1].split("</section>")[0]
    assert "manage.py" not in panel and "compute_heatmaps" not in panel and "/admin/" not in panel


def test_staff_see_the_admin_action_where_a_map_is_missing(client: Client, btc: Asset) -> None:
    from django.contrib.auth import get_user_model

    trader = get_user_model().objects.create_user("trader", "t@example.com", "a-long-password-1")
    staff = get_user_model().objects.create_user("operator", "o@example.com", "a-long-password-2", is_staff=True)
    client.force_login(trader)
    assert "/admin/heatmaps/asset/" not in client.get("/assets/BTCUSDT/?tf=3m").content.decode()
    client.force_login(staff)
    body = client.get("/assets/BTCUSDT/?tf=3m").content.decode()
    assert '<a href="/admin/heatmaps/asset/?q=BTCUSDT">Recompute it from the admin</a>' in body
    assert "compute_heatmaps" not in body


def test_unknown_timeframe_is_a_400_with_a_message(client: Client, btc: Asset) -> None:
    response = client.get("/assets/BTCUSDT/?tf=5y")
    body = response.content.decode()
    assert response.status_code == 400  # the asset exists; the request is wrong
    assert "Unknown timeframe “5y”. Choose one of 12h, 24h, 3d, 1w, 2w, 1m, 3m, 6m, 1y." in body
    assert 'href="?tf=24h"' in body  # the tabs are there to recover
    assert "<canvas" not in body


def test_unknown_or_disabled_symbol_is_a_404(client: Client, btc: Asset) -> None:
    assert client.get("/assets/DOGEUSDT/").status_code == 404
    Asset.objects.filter(symbol="ETHUSDT").update(enabled=False)
    assert client.get("/assets/ETHUSDT/").status_code == 404


def test_lower_case_symbol_redirects_to_the_canonical_url(client: Client, btc: Asset) -> None:
    response = client.get("/assets/btcusdt/?tf=1w")
    assert response.status_code == 302 and response["Location"] == "/assets/BTCUSDT/?tf=1w"


# ---- the API the pages read ------------------------------------------------------------------

HEATMAP = "/api/v1/assets/BTCUSDT/heatmap/"


def test_index_links_the_api_asset_list_with_its_computed_timeframes(client: Client, btc: Asset) -> None:
    assert 'href="/api/v1/assets/">/api/v1/assets/</a>' in client.get("/").content.decode()
    response = client.get("/api/v1/assets/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "max-age=30" in response["Cache-Control"] and "public" in response["Cache-Control"]
    data = response.json()
    assert data["timeframes"] == ["12h", "24h", "3d", "1w", "2w", "1m", "3m", "6m", "1y"]
    assert [(a["symbol"], a["name"], a["base"], a["quote"], a["timeframes"]) for a in data["assets"]] == [
        ("BTCUSDT", "Bitcoin perpetual", "BTC", "USDT", COMPUTED),
        ("ETHUSDT", "Ether perpetual", "ETH", "USDT", []),
    ]


def test_api_heatmap_matches_the_stored_map(client: Client, btc: Asset) -> None:
    response = client.get(HEATMAP, {"timeframe": "1w"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "max-age=30" in response["Cache-Control"]
    data = response.json()
    stored = read_heatmap(asset=btc, timeframe="1w")
    assert stored is not None
    m = stored.heatmap
    provenance = data["provenance"]
    assert data["symbol"] == "BTCUSDT" and data["timeframe"] == "1w"
    assert provenance["computed_at"].endswith("Z") and provenance["data_end"] == "2026-01-29T17:05:00Z"
    assert provenance["data_start"] == m.data_start.isoformat().replace("+00:00", "Z")
    assert provenance["candle_exchange"] == "binance" and provenance["oi_exchanges"] == ["binance"]
    assert provenance["oi_simulated"] and provenance["model"] == m.model and provenance["version"] == m.version
    assert data["bar_seconds"] == 1800
    assert data["units"] == {"price": "USDT", "value": "USD", "time": "ms since epoch, UTC"}
    assert data["times"] == stored.times.tolist()
    np.testing.assert_allclose(data["prices"], stored.prices, rtol=1e-12)
    assert data["cells"]["shape"] == [336, 400]
    for side, grid in (("long", stored.long), ("short", stored.short)):
        dense = np.zeros((336, 400), dtype=np.int64)
        triples = np.array(data["cells"][side])
        dense[triples[:, 0], triples[:, 1]] = triples[:, 2]
        assert np.abs(dense - grid).max() <= 0.5
    assert data["candles"] == m.candles
    assert len(data["clusters"]) == len(m.clusters)
    assert data["clusters"][0]["usd"] == round(m.clusters[0]["usd"])
    assert data["clusters"][0]["price_low"] == m.clusters[0]["price_low"]
    lmap = data["liquidation_map"]
    assert lmap["total_long"] == round(m.liquidation_map["total_long"]) and len(lmap["cum_long"]) == 400
    assert data["scale"]["map_full_usd"] == m.colour_scale_usd and data["current_price"] == m.current_price
    assert data["panels"] == m.panels and len(data["panels"]["oi_usd"]) == 336


def test_api_heatmap_includes_recorded_liquidations_in_its_window(client: Client, btc: Asset) -> None:
    from heatmaps.marketdata import insert_liquidations
    from heatmaps.rows import LiquidationRow

    binance = Exchange.objects.get(code="binance")
    t_in, t_old = 1_769_700_000_000, 1_769_000_000_000  # 2026-01-29 15:20 UTC; 2026-01-21 (outside 24h)
    insert_liquidations(
        asset=btc,
        exchange=binance,
        rows=[
            LiquidationRow("BTCUSDT", t_in + 1000, "short", 85_500.0, 2.0, 171_000.0, "a"),
            LiquidationRow("BTCUSDT", t_in, "long", 84_900.0, 1.0, 84_900.0, "b"),
            LiquidationRow("BTCUSDT", t_old, "long", 90_000.0, 1.0, 90_000.0, "c"),
        ],
    )
    data = client.get(HEATMAP, {"timeframe": "24h", "cells": "packed"}).json()
    assert data["liquidations"] == [
        [t_in, 84_900.0, 84_900.0, "long", "binance"],
        [t_in + 1000, 85_500.0, 171_000.0, "short", "binance"],
    ]


def test_api_heatmap_is_gzipped_when_asked(client: Client, btc: Asset) -> None:
    query = {"timeframe": "1w"}
    plain = client.get(HEATMAP, query)
    zipped = client.get(HEATMAP, query, HTTP_ACCEPT_ENCODING="gzip")
    assert zipped["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.content)) == plain.json()
    assert len(zipped.content) < len(plain.content) / 3


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ("/api/v1/assets/DOGEUSDT/heatmap/?timeframe=24h", 404, {"detail": "unknown asset 'DOGEUSDT'"}),
        (f"{HEATMAP}?timeframe=5y", 400, {"timeframe": ['"5y" is not a valid choice.']}),
        (f"{HEATMAP}?timeframe=3m", 404, {"detail": "the 3m map of BTCUSDT has not been computed yet"}),
        (
            "/api/v1/assets/ETHUSDT/heatmap/?timeframe=24h&cells=packed",
            404,
            {"detail": "the 24h map of ETHUSDT has not been computed yet"},
        ),
    ],
)
def test_api_heatmap_errors(client: Client, btc: Asset, query: str, status: int, detail: dict[str, Any]) -> None:
    response = client.get(query)
    assert response.status_code == status
    assert response.json() == detail


# ---- Redis away ------------------------------------------------------------------------------

DEAD_REDIS_CACHE = {
    "default": {
        "BACKEND": "liqplatform.cache.TolerantRedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


def test_pages_and_maps_keep_serving_from_postgresql_when_redis_is_away(client: Client, btc: Asset) -> None:
    from django.core.cache import cache
    from django.test import override_settings

    with override_settings(CACHES=DEAD_REDIS_CACHE):
        cache.clear()  # a no-op that must not raise either
        assert client.get("/assets/BTCUSDT/?tf=1w").status_code == 200
        response = client.get(HEATMAP, {"timeframe": "1w", "cells": "packed"})
        assert response.status_code == 200
        stored = read_heatmap(asset=btc, timeframe="1w")
        assert stored is not None and len(response.json()["prices"]) == stored.long.shape[1]
        assert client.get("/").status_code == 200


def test_a_long_map_of_a_short_history_says_why_it_is_mostly_empty(client: Client, btc: Asset) -> None:
    heatmap = Heatmap.objects.get(asset=btc, timeframe="1w")
    body = client.get("/assets/BTCUSDT/?tf=1w").content.decode()
    assert "Short history" not in body and "chip-history" not in body  # 33 days of data cover a week
    # History that starts 5½ days into the week's window: most of the map has nothing to show.
    window_end = heatmap.first_bucket + timedelta(seconds=heatmap.bar_seconds * heatmap.width)
    since = heatmap.first_bucket + timedelta(days=5, hours=12)
    Heatmap.objects.filter(pk=heatmap.pk).update(data_start=since)
    empty = round((1 - (window_end - since) / (window_end - heatmap.first_bucket)) * 100)
    body = client.get("/assets/BTCUSDT/?tf=1w&min=1").content.decode()  # another URL: not the cached panel
    assert f"history starts {since:%b} {since.day}" in body
    assert f"about {empty} % of this\n          1w window has no data" in body and empty > 70


def test_status_line_collapses_the_banners_into_chips(client: Client, btc: Asset) -> None:
    Exchange.objects.filter(code="binance").update(degraded_since=datetime(2026, 1, 29, 17, 30, tzinfo=UTC))
    body = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    line = body.split('<div class="status-line"')[1].split("</details>")[0]
    summary = line.split("<summary")[1].split("</summary>")[0]
    # One line of chips: the degraded feed, stale data and simulated open interest; details below it.
    assert summary.count('class="chip ') == 3
    assert "degraded</span>" in summary and "stale: newest bar" in summary and "simulated OI" in summary
    assert "data feed degraded" in line and "Stale data" in line and "SIMULATED open interest" in line
    assert line.count("<details>") == 1 and 'class="status-dismiss"' in body
