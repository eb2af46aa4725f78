"""The overview's precomputed rows, sorting and search; the asset page's side filter, intensity
parameters, realised liquidations and freshness; the JSON the page's script reads (the public API's
map with cells=packed): packed grids, panels and side filter.
Real PostgreSQL, maps computed from the sample data."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from heatmaps.engine import decode_grid
from heatmaps.maps import heatmap_compute, read_heatmap
from heatmaps.marketdata import asset_summary_refresh, dt_to_ms, insert_liquidations, load_sample_data
from heatmaps.models import Asset, AssetSummary, Candle, Exchange, Heatmap, OpenInterest
from heatmaps.rows import LiquidationRow
from heatmaps.views import format_pct, format_price, format_usd
from heatmaps.views.overview import COLUMNS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        load_sample_data()
        heatmap_compute(asset=Asset.objects.get(symbol="BTCUSDT"), timeframes=["24h", "1w"])
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def btc(sample_maps: None) -> Asset:
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


def htmx(client: Client, url: str, **extra: Any) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true", **extra)


def main_of(html: str) -> str:
    return html.split("<main")[1].split("</main>")[0]


# ---- the overview's precomputed row ---------------------------------------------------------


def test_summary_is_written_with_the_maps(btc: Asset) -> None:
    s = AssetSummary.objects.get(asset=btc)
    candles = Candle.objects.filter(asset=btc, exchange=btc.reference_exchange).order_by("-open_time")
    newest = candles.first()
    assert newest is not None and s.last_bar == newest.open_time and s.price == newest.close
    day_before = candles.filter(open_time__lte=newest.open_time - timedelta(hours=24)).first()
    assert day_before is not None
    assert s.change_24h_pct == pytest.approx((newest.close - day_before.close) / day_before.close * 100)
    oi_now = OpenInterest.objects.filter(asset=btc, time__lte=newest.open_time + timedelta(minutes=5)).order_by("-time")
    oi_before = oi_now.filter(time__lte=newest.open_time + timedelta(minutes=5) - timedelta(hours=24))
    first_now, first_before = oi_now.first(), oi_before.first()
    assert first_now and first_before and first_now.oi_value and first_before.oi_value
    assert s.oi_usd == pytest.approx(first_now.oi_value)
    assert s.oi_change_24h_pct == pytest.approx(
        (first_now.oi_value - first_before.oi_value) / first_before.oi_value * 100
    )
    assert s.oi_simulated
    clusters = Heatmap.objects.get(asset=btc, timeframe="24h").clusters
    above = next(c for c in clusters if c["side"] == "short")
    below = next(c for c in clusters if c["side"] == "long")
    assert s.cluster_timeframe == "24h"
    assert s.cluster_above_usd == above["usd"] and s.cluster_below_usd == below["usd"]
    assert s.cluster_above_pct is not None and s.cluster_above_pct > 0 > (s.cluster_below_pct or 0)
    assert s.next_funding_estimated and s.next_funding_time is not None and s.next_funding_time > newest.open_time


def test_overview_row_shows_the_summary(client: Client, btc: Asset) -> None:
    s = AssetSummary.objects.get(asset=btc)
    response = client.get("/")
    body = main_of(response.content.decode())
    assert response.status_code == 200
    row = body.split('data-symbol="BTCUSDT"')[1].split("</tr>")[0]
    assert 'href="/assets/BTCUSDT/"' in row
    assert format_price(s.price) in row and format_pct(s.change_24h_pct) in row
    assert format_usd(s.oi_usd) in row and format_pct(s.oi_change_24h_pct) in row and "sim" in row
    assert f"{(s.funding_rate or 0) * 100:.4f} %" in row and "(est.)" in row
    assert format_usd(s.volume_24h_usd) in row
    assert format_usd(s.cluster_above_usd) in row and format_pct(s.cluster_above_pct, places=1) in row
    assert format_usd(s.cluster_below_usd) in row
    # The sample ends in January 2026: its newest bar is far older than 15 minutes.
    assert 'data-symbol="BTCUSDT" class="stale"' in body and "badge-stale" in row


def test_fresh_row_is_not_marked_stale(client: Client, btc: Asset) -> None:
    AssetSummary.objects.filter(asset=btc).update(last_bar=timezone.now() - timedelta(minutes=7))
    row = client.get("/").content.decode().split('data-symbol="BTCUSDT"')[1].split("</tr>")[0]
    assert "badge-stale" not in row and "2 min" in row  # closed 2 minutes ago


def _extra_assets(binance: Exchange, n: int) -> list[Asset]:
    """Assets with overview rows of distinct, shuffled figures (so every column orders them differently)."""
    rng = np.random.default_rng(7)
    assets = []
    for i in range(n):
        asset = Asset.objects.create(
            symbol=f"X{i:02d}USDT", display_name=f"Extra {i}", base=f"X{i:02d}", reference_exchange=binance
        )
        AssetSummary.objects.create(
            asset=asset,
            updated_at=timezone.now(),
            last_bar=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * int(rng.integers(1, 10_000))),
            price=float(rng.uniform(0.01, 50_000)),
            change_24h_pct=float(rng.uniform(-9, 9)),
            oi_usd=float(rng.uniform(1e6, 1e10)),
            oi_change_24h_pct=float(rng.uniform(-9, 9)),
            funding_rate=float(rng.uniform(-1e-3, 1e-3)),
            volume_24h_usd=float(rng.uniform(1e6, 1e10)),
            cluster_above_usd=float(rng.uniform(1e5, 1e9)),
            cluster_above_pct=float(rng.uniform(0.1, 20)),
            cluster_below_usd=float(rng.uniform(1e5, 1e9)),
            cluster_below_pct=float(rng.uniform(-20, -0.1)),
        )
        assets.append(asset)
    return assets


def _order(body: str) -> list[str]:
    return [part.split('"')[0] for part in body.split('data-symbol="')[1:]]


@pytest.mark.parametrize("column", [c.key for c in COLUMNS])
def test_overview_sorts_by_each_column_both_ways(client: Client, btc: Asset, column: str) -> None:
    extra = _extra_assets(btc.reference_exchange, 6)
    field = next(c.field for c in COLUMNS if c.key == column).removeprefix("summary__")
    symbols = [a.symbol for a in extra]
    values = {
        a.symbol: (a.symbol if field == "symbol" else getattr(AssetSummary.objects.get(asset=a), field)) for a in extra
    }
    expected = sorted(symbols, key=lambda s: values[s])
    for query, order in ((column, expected), (f"-{column}", expected[::-1])):
        response = htmx(client, f"/?q=X&sort={query}")
        assert response.status_code == 200
        assert _order(response.content.decode()) == order
    # The header links toggle: the sorted column's link reverses it, and carries the search.
    body = client.get(f"/?q=X&sort=-{column}").content.decode()
    assert f'href="?q=X&amp;sort={column}"' in body and 'aria-sort="descending"' in body


def test_overview_table_partial_for_htmx(client: Client, btc: Asset) -> None:
    response = htmx(client, "/?sort=-oi")
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert "<html" not in body and body.lstrip().startswith("<title>")
    assert 'id="overview-table"' in body and 'data-symbol="BTCUSDT"' in body
    assert 'hx-push-url="true"' in body and 'href="?sort=oi"' in body  # real links, the sorted one reverses


def test_overview_search_and_garbage_sort(client: Client, btc: Asset) -> None:
    body = client.get("/?q=ether").content.decode()
    assert _order(body) == ["ETHUSDT"]
    assert "No asset matches" in client.get("/?q=zzzz").content.decode()
    garbage = client.get("/?sort=%3Cscript%3E")
    assert garbage.status_code == 200 and "Ignored sort=" in garbage.content.decode()
    assert "<script>" not in main_of(garbage.content.decode())
    assert _order(garbage.content.decode())[:2] == ["BTCUSDT", "ETHUSDT"]


def test_overview_is_one_query_for_fifty_assets(client: Client, btc: Asset, django_assert_max_num_queries: Any) -> None:
    _extra_assets(btc.reference_exchange, 48)
    with django_assert_max_num_queries(1):
        response = client.get("/?sort=-volume")
    assert response.status_code == 200 and len(_order(response.content.decode())) == 50


def test_summary_refresh_runs_after_ingest_only_recompute(btc: Asset) -> None:
    AssetSummary.objects.filter(asset=btc).delete()
    summary = asset_summary_refresh(asset=btc)
    assert summary.price is not None and AssetSummary.objects.filter(asset=btc).count() == 1


# ---- the asset page ---------------------------------------------------------------------------


def test_side_filter_narrows_clusters_and_the_map(client: Client, btc: Asset) -> None:
    m = Heatmap.objects.get(asset=btc, timeframe="24h")
    body = htmx(client, "/assets/BTCUSDT/?tf=24h&side=long").content.decode()
    table = body.split('class="clusters"')[1].split("</table>")[0]
    assert "<td>longs</td>" in table and "<td>shorts</td>" not in table
    assert 'data-side="long"' in body and 'aria-current="page">Longs</a>' in body
    top_long = next(c for c in m.clusters if c["side"] == "long")
    assert format_usd(top_long["usd"]) in table
    assert "Shorts liquidated above" not in body
    assert 'href="?tf=1w&amp;side=long"' in body  # the tabs keep the side


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("side=sideways", "Ignored side='sideways': choose long, short or both."),
        ("min=lots", "Ignored min='lots'"),
        ("min=-3", "Ignored min='-3'"),
        ("full=0", "Ignored full='0'"),
        ("min=5000000&full=1000000", "Ignored min=$5.00M: it must be below full intensity ($1.00M)."),
    ],
)
def test_garbage_map_parameters_are_ignored_with_a_message(
    client: Client, btc: Asset, query: str, message: str
) -> None:
    response = client.get(f"/assets/BTCUSDT/?tf=24h&{query}")
    body = response.content.decode()
    assert response.status_code == 200 and message.replace("'", "&#x27;") in body
    assert "<canvas" in body


def test_min_and_full_go_to_the_canvas_and_the_links(client: Client, btc: Asset) -> None:
    body = client.get("/assets/BTCUSDT/?tf=24h&min=100000&full=25000000&side=short").content.decode()
    assert 'data-min-usd="100000.0"' in body and 'data-full-usd="25000000.0"' in body
    assert "below $100.0K not drawn" in body and "full intensity = $25.0M (pinned)" in body
    assert 'href="?tf=1w&amp;side=short&amp;min=100000&amp;full=25000000"' in body
    assert 'href="?tf=24h&amp;side=short"' in body  # back to the automatic scale, same side


def test_realised_liquidations_are_listed_beside_the_map(client: Client, btc: Asset) -> None:
    t = dt_to_ms(datetime(2026, 1, 29, 15, 20, tzinfo=UTC))
    insert_liquidations(
        asset=btc,
        exchange=btc.reference_exchange,
        rows=[
            LiquidationRow("BTCUSDT", t, "long", 84_900.0, 3.0, 254_700.0, "big"),
            LiquidationRow("BTCUSDT", t + 60_000, "short", 86_100.0, 0.01, 861.0, "small"),
        ],
    )
    body = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    listed = body.split('class="realised"')[1].split("</table>")[0]
    assert "$254.7K" in listed and "84,900.0" in listed and "longs" in listed and "01-29 15:20" in listed
    assert "$861" not in listed  # below the list's threshold; still a marker on the map
    shorts_only = client.get("/assets/BTCUSDT/?tf=24h&side=short").content.decode()
    assert "$254.7K" not in shorts_only.split("Recorded liquidations")[1]


def test_freshness_warning_follows_the_newest_bar(client: Client, btc: Asset) -> None:
    body = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    assert "Stale data" in body and "more than 15 minutes" in body
    Heatmap.objects.filter(asset=btc, timeframe="24h").update(data_end=timezone.now() - timedelta(minutes=6))
    fresh = client.get("/assets/BTCUSDT/?tf=24h").content.decode()
    assert "Stale data" not in fresh and "(newest bar 1 min old)" in fresh


def test_unknown_symbol_gets_the_styled_404_page(client: Client, btc: Asset) -> None:
    response = client.get("/assets/NOPEUSDT/?tf=1w")
    body = response.content.decode()
    assert response.status_code == 404
    assert "<header>" in body and "Not found" in body and "NOPEUSDT" in body and 'href="/"' in body


# ---- the JSON the page reads ------------------------------------------------------------------

PAGE_JSON = "/api/v1/assets/BTCUSDT/heatmap/?cells=packed&timeframe="


def test_packed_grids_decode_to_the_stored_map(client: Client, btc: Asset) -> None:
    data = client.get(PAGE_JSON + "1w").json()
    stored = read_heatmap(asset=btc, timeframe="1w")
    assert stored is not None
    cells = data["cells"]
    assert cells["encoding"] == "packed" and cells["dtype"] == "uint16"
    shape = (data["width"], data["bins"])
    assert cells["shape"] == list(shape)
    for side, grid in (("long", stored.long), ("short", stored.short)):
        packed = cells[side]
        assert packed["codec"] == "gridcodec-v1" and packed["levels"] == 65_534 and packed["floor_ratio"] == 1e-6
        decoded = decode_grid(base64.b64decode(packed["data"]), packed["scale"], shape)
        np.testing.assert_allclose(decoded, grid, rtol=1e-6)


def test_panels_sit_on_the_maps_columns(client: Client, btc: Asset) -> None:
    data = client.get(PAGE_JSON + "1w").json()
    panels = data["panels"]
    width, bar_ms = data["width"], data["bar_seconds"] * 1000
    assert len(panels["oi_usd"]) == len(panels["volume_usd"]) == width
    assert list(panels["oi_by_exchange"]) == ["binance"]
    # A column's OI is the newest snapshot of its last base bar (stamped at that bar's close).
    col = width - 10
    start = data["times"][col]
    last_bar_close = datetime.fromtimestamp((start + bar_ms) / 1000, tz=UTC)
    oi = OpenInterest.objects.filter(asset=btc, time__lte=last_bar_close).order_by("-time").first()
    assert oi is not None and oi.oi_value is not None and panels["oi_usd"][col] == round(oi.oi_value)
    volume = sum(
        c.volume * c.close
        for c in Candle.objects.filter(
            asset=btc,
            exchange=btc.reference_exchange,
            open_time__gte=datetime.fromtimestamp(start / 1000, tz=UTC),
            open_time__lt=last_bar_close,
        )
        if c.volume is not None
    )
    assert panels["volume_usd"][col] == pytest.approx(volume, abs=1)
    times = [f[0] for f in panels["funding"]]
    assert times == sorted(times) and all(data["times"][0] <= t < data["times"][-1] + bar_ms for t in times)
    assert len(times) == 21  # 7 days of 8-hourly settlements


def test_api_side_filter(client: Client, btc: Asset) -> None:
    data = client.get(PAGE_JSON + "24h&side=long").json()
    stored = read_heatmap(asset=btc, timeframe="24h")
    assert stored is not None
    assert data["side"] == "long" and data["cells"]["short"] is None
    packed = data["cells"]["long"]
    decoded = decode_grid(base64.b64decode(packed["data"]), packed["scale"], (data["width"], data["bins"]))
    np.testing.assert_allclose(decoded, stored.long, rtol=1e-6)
    # Clusters keep their side, so the script and any client can pick one; the page's table shows only longs.
    assert {c["side"] for c in data["clusters"]} == {c["side"] for c in stored.heatmap.clusters}
    bad = client.get(PAGE_JSON + "24h&side=up")
    assert bad.status_code == 400 and "side" in bad.json()


def test_header_links_markets_model_api_and_alerts_once_signed_in(client: Client, btc: Asset) -> None:
    from django.contrib.auth import get_user_model

    def nav(html: str) -> str:
        return html.split('<nav class="site-nav"')[1].split("</nav>")[0]

    anonymous = nav(client.get("/").content.decode())
    assert '<a href="/" aria-current="page">Markets</a>' in anonymous
    assert '<a href="/model/">Model accuracy</a>' in anonymous and '<a href="/api/docs/">API</a>' in anonymous
    assert "Alerts" not in anonymous
    client.force_login(get_user_model().objects.create_user("trader", "t@example.com", "a-long-password-1"))
    signed_in = nav(client.get("/model/").content.decode())
    assert '<a href="/alerts/rules/">Alerts</a>' in signed_in
    assert '<a href="/model/" aria-current="page">Model accuracy</a>' in signed_in
    # The keyboard help is on every page.
    assert 'id="keyboard-help"' in client.get("/alerts/rules/").content.decode()
