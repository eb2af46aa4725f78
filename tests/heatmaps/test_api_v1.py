"""REST API v1, market side: contract tests against real PostgreSQL and Redis with maps computed from
the sample data. Every figure is compared with what the database or read_heatmap says."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from heatmaps.exports import LUT, intensity_levels
from heatmaps.maps import heatmap_compute, read_heatmap
from heatmaps.marketdata import dt_to_ms, insert_liquidations, load_sample_data
from heatmaps.models import Asset, Candle, FundingRate, Heatmap, OpenInterest
from heatmaps.rows import LiquidationRow
from tests.conftest import record_liquidation

pytestmark = pytest.mark.django_db

BASE = "/api/v1/assets"
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "artifacts"


@pytest.fixture(scope="module")
def sample_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Sample data and the BTCUSDT 24h, 1w and 1y maps, committed once for the module and removed after."""
    with django_db_blocker.unblock():
        load_sample_data()
        btc = Asset.objects.get(symbol="BTCUSDT")
        heatmap_compute(asset=btc, timeframes=["24h", "1w", "1y"])
        insert_liquidations(
            asset=btc,
            exchange=btc.reference_exchange,
            rows=[
                LiquidationRow("BTCUSDT", 1_769_700_000_000, "long", 84_900.0, 3.0, 254_700.0, "v1-a"),
                LiquidationRow("BTCUSDT", 1_769_690_000_000, "short", 86_100.0, 1.0, 86_100.0, "v1-b"),
            ],
        )
        yield
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def btc(sample_maps: None) -> Asset:
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


def json_of(client: Client, url: str, **extra: Any) -> Any:
    response = client.get(url, **extra)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return response.json()


# ---- assets ---------------------------------------------------------------------------------------


def test_asset_list_and_detail_carry_the_latest_figures(client: Client, btc: Asset) -> None:
    body = json_of(client, f"{BASE}/")
    symbols = [a["symbol"] for a in body["assets"]]
    assert symbols == ["BTCUSDT", "ETHUSDT"]
    listed = body["assets"][0]
    detail = json_of(client, f"{BASE}/btcusdt/")
    assert detail == listed | {"exchanges": detail["exchanges"]} and detail["symbol"] == "BTCUSDT"

    newest = Candle.objects.filter(asset=btc).order_by("-open_time").first()
    assert newest is not None
    day_before = Candle.objects.filter(asset=btc, open_time__lte=newest.open_time - timedelta(hours=24))
    before = day_before.order_by("-open_time").first()
    assert before is not None
    assert detail["price"] == newest.close
    assert detail["price_time"] == newest.open_time.isoformat().replace("+00:00", "Z")
    assert detail["change_24h_pct"] == pytest.approx((newest.close / before.close - 1) * 100)
    oi = OpenInterest.objects.filter(asset=btc).order_by("-time").first()
    assert oi is not None and detail["open_interest_usd"] == pytest.approx(oi.oi_value)
    assert detail["open_interest_simulated"] is True
    funding = FundingRate.objects.filter(asset=btc).order_by("-funding_time").first()
    assert funding is not None and detail["funding_rate"] == pytest.approx(funding.rate)
    assert detail["timeframes"] == ["24h", "1w", "1y"]
    (binance,) = detail["exchanges"]
    assert binance["exchange"] == "binance" and binance["age_seconds"] > 0 and binance["degraded_since"] is None
    assert binance["volume_24h"] == pytest.approx(detail["volume_24h"])


def test_volume_is_given_in_base_units_and_in_usd_as_the_overview_shows_it(client: Client, btc: Asset) -> None:
    newest = Candle.objects.filter(asset=btc).order_by("-open_time").first()
    assert newest is not None
    day = list(Candle.objects.filter(asset=btc, open_time__gt=newest.open_time - timedelta(hours=24)))
    assert len(day) == 288
    base = sum(float(c.volume or 0.0) for c in day)
    usd = sum(float(c.quote_volume) if c.quote_volume is not None else float(c.volume or 0.0) * c.close for c in day)
    detail = json_of(client, f"{BASE}/BTCUSDT/")
    assert detail["volume_24h"] == pytest.approx(base)
    assert detail["volume_24h_usd"] == pytest.approx(usd)
    assert detail["exchanges"][0]["volume_24h_usd"] == pytest.approx(usd)
    # USD, not BTC: tens of thousands of times the base figure at BTC's price.
    assert detail["volume_24h_usd"] / detail["volume_24h"] == pytest.approx(newest.close, rel=0.1)


def test_unknown_or_disabled_asset_is_a_json_404(client: Client, btc: Asset) -> None:
    Asset.objects.filter(symbol="ETHUSDT").update(enabled=False)
    for url in (f"{BASE}/ETHUSDT/", f"{BASE}/NOPE/heatmap/", f"{BASE}/x/candles/", f"{BASE}/{'A' * 40}/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "unknown asset" in response.json()["detail"]


# ---- the heat map ---------------------------------------------------------------------------------


def test_sparse_cells_are_the_stored_grid_above_min_usd(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="1w")
    assert stored is not None
    body = json_of(client, f"{BASE}/BTCUSDT/heatmap/?timeframe=1w&min_usd=1000")
    m = stored.heatmap
    assert body["times"] == stored.times.tolist() and body["prices"] == stored.prices.tolist()
    assert body["cells"]["shape"] == [m.width, m.bins] and body["cells"]["encoding"] == "sparse"
    for side, grid in (("long", stored.long), ("short", stored.short)):
        expected = np.rint(grid).astype(np.int64)
        triples = np.array(body["cells"][side])
        assert len(triples) == int((expected > 1000).sum()) > 0
        assert (expected[triples[:, 0], triples[:, 1]] == triples[:, 2]).all()
        assert (triples[:, 2] > 1000).all()
    assert body["candles"] == m.candles
    assert [c["usd"] for c in body["clusters"]] == [round(c["usd"]) for c in m.clusters]
    assert body["liquidation_map"]["total_long"] == round(m.liquidation_map["total_long"])
    assert body["scale"] == {
        "full_usd": m.colour_scale_usd,
        "map_full_usd": m.colour_scale_usd,
        "pinned": False,
        "colour_stops": body["scale"]["colour_stops"],
    }
    assert body["scale"]["colour_stops"][0] == [0.0, 13, 17, 23]
    provenance = body["provenance"]
    assert provenance["oi_simulated"] is True and provenance["candle_exchange"] == "binance"
    assert provenance["computed_at"] == m.computed_at.isoformat().replace("+00:00", "Z")
    assert provenance["version"] == m.version
    assert [p[3] for p in body["liquidations"]] == ["short", "long"]


def test_dense_cells_decode_to_the_stored_float32_grid_and_side_picks_one(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="24h")
    assert stored is not None
    body = json_of(client, f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&cells=dense&side=short&full=5e6")
    shape = tuple(body["cells"]["shape"])
    assert body["cells"]["dtype"] == "float32" and body["cells"]["long"] is None and body["side"] == "short"
    short = np.frombuffer(base64.b64decode(body["cells"]["short"]), dtype="<f4").reshape(shape)
    assert np.array_equal(short, stored.short)
    assert body["scale"]["full_usd"] == 5e6 and body["scale"]["pinned"] is True


def test_packed_cells_are_the_stored_bytes_and_a_year_stays_small_on_the_wire(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="1y")
    assert stored is not None
    m = stored.heatmap
    url = f"{BASE}/BTCUSDT/heatmap/?timeframe=1y&cells=packed"
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    assert len(response.content) < 200_000  # what the asset page downloads for its largest map
    body = json.loads(gzip.decompress(response.content))
    cells = body["cells"]
    assert cells["encoding"] == "packed" and cells["dtype"] == "uint16" and cells["shape"] == [m.width, m.bins]
    for side, blob, scale in (("long", m.long_grid, m.long_scale), ("short", m.short_grid, m.short_scale)):
        assert base64.b64decode(cells[side]["data"]) == bytes(blob) and cells[side]["scale"] == scale
    assert body["panels"] == m.panels and len(body["panels"]["volume_usd"]) == m.width
    # Another representation of the same version: its own ETag.
    sparse = client.get(f"{BASE}/BTCUSDT/heatmap/?timeframe=1y")
    assert sparse["ETag"] != response["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_a_map_stored_without_panels_answers_null(client: Client, btc: Asset) -> None:
    Heatmap.objects.filter(asset=btc, timeframe="24h").update(panels={})
    assert json_of(client, f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&cells=packed")["panels"] is None


def test_csv_export_reads_back_to_the_json_cells(client: Client, btc: Asset) -> None:
    url = f"{BASE}/BTCUSDT/heatmap/?timeframe=1w&min_usd=500"
    body = json_of(client, url)
    response = client.get(url + "&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="BTCUSDT-1w-both.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert list(rows[0]) == ["time_utc", "price", "long_usd", "short_usd"]
    time_index = {t: i for i, t in enumerate(body["times"])}
    price_index = {p: i for i, p in enumerate(body["prices"])}
    from_csv: dict[str, set[tuple[int, int, int]]] = {"long": set(), "short": set()}
    for row in rows:
        ms = int(datetime.fromisoformat(row["time_utc"]).timestamp() * 1000)
        t, p = time_index[ms], price_index[float(row["price"])]
        for side in from_csv:
            if int(row[f"{side}_usd"]) > 500:
                from_csv[side].add((t, p, int(row[f"{side}_usd"])))
    for side in from_csv:
        assert from_csv[side] == {tuple(cell) for cell in body["cells"][side]}
        assert from_csv[side]


def test_png_has_the_requested_size_and_the_pages_colours(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="24h")
    assert stored is not None
    response = client.get(f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&format=png&width=577&height=311")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (577, 311) and image.mode == "RGB"
    pixels = np.asarray(image).reshape(-1, 3)
    colours = {tuple(int(v) for v in px) for px in np.unique(pixels, axis=0)}
    levels = intensity_levels(stored.long + stored.short, stored.heatmap.colour_scale_usd)
    expected = {tuple(int(v) for v in LUT[level]) for level in np.unique(levels)}
    # Every colour of the map's scale that the grid uses and is not hidden under a candle shows up…
    assert len(expected & colours) >= 0.8 * len(expected)
    assert (13, 17, 23) in colours and (252, 253, 191) in colours  # empty cells, full intensity
    # …and the candles are drawn on top, in the page's up and down colours.
    assert (63, 185, 80) in colours and (248, 81, 73) in colours


def test_png_stands_alone_with_title_axes_scale_and_provenance(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="24h")
    assert stored is not None
    bare = client.get(f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&format=png&width=1200&height=700&side=long&min_usd=1000")
    (ARTIFACTS / "export.png").parent.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "export.png").write_bytes(bare.content)
    image = np.asarray(Image.open(io.BytesIO(bare.content)))
    assert image.shape == (700, 1200, 3)
    background = np.array([13, 17, 23])
    lit = np.abs(image.astype(int) - background).sum(axis=2) > 60

    def has_ink(rows: slice, cols: slice) -> bool:
        return bool(lit[rows, cols].sum() > 50)

    assert has_ink(slice(0, 48), slice(0, 600))  # the title and the computed-at line above the plot
    assert has_ink(slice(60, 620), slice(1120, 1200))  # price labels right of the plot
    assert has_ink(slice(628, 646), slice(0, 1100))  # time labels under it
    # The colour scale: the LUT from dark to full intensity, left to right, under the time axis.
    scale_row = image[626 + 26 + 5, 8:368]
    assert tuple(scale_row[0]) == (13, 17, 23) and tuple(scale_row[-1]) == (252, 253, 191)
    assert has_ink(slice(648, 668), slice(392, 1200))  # the provenance line beside it


def test_png_and_csv_export_the_zoomed_window(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="24h")
    assert stored is not None
    m = stored.heatmap
    bar_ms = m.bar_seconds * 1000
    start, end = int(stored.times[100]) + bar_ms // 2, int(stored.times[180]) - 1
    bin_w = (m.price_hi - m.price_lo) / m.bins
    low, high = m.price_lo + 150.5 * bin_w, m.price_lo + 249.5 * bin_w
    window = f"&start={start}&end={end}&price_low={low}&price_high={high}"
    response = client.get(f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&format=csv&min_usd=0{window}")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows
    times = {int(datetime.fromisoformat(r["time_utc"]).timestamp() * 1000) for r in rows}
    prices = {float(r["price"]) for r in rows}
    assert min(times) == int(stored.times[100]) and max(times) <= int(stored.times[179])
    assert min(prices) >= float(stored.prices[150]) and max(prices) <= float(stored.prices[249])
    expected = int((np.rint(stored.long[100:180, 150:250]) > 0).sum() | 0)
    assert sum(1 for r in rows if int(r["long_usd"]) > 0) == expected
    png = client.get(f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&format=png&width=900&height=500{window}")
    whole = client.get(f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&format=png&width=900&height=500")
    assert png.status_code == 200 and png.content != whole.content
    assert client.get(f"{BASE}/BTCUSDT/heatmap/?format=csv&start=5&end=4").status_code == 400


def test_etag_and_last_modified_give_a_304_until_the_map_changes(client: Client, btc: Asset) -> None:
    url = f"{BASE}/BTCUSDT/heatmap/?timeframe=1w"
    first = client.get(url)
    etag = first["ETag"]
    assert first.status_code == 200 and etag and first["Last-Modified"]
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    # Another representation of the same map has its own tag.
    assert client.get(url + "&side=long", HTTP_IF_NONE_MATCH=etag).status_code == 200
    # A new version of the map: the old tag no longer matches.
    Heatmap.objects.filter(asset=btc, timeframe="1w").update(computed_at=datetime.now(tz=UTC))
    fresh = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200 and fresh["ETag"] != etag


def test_one_tag_is_one_body_and_a_new_liquidation_is_a_new_tag(client: Client, btc: Asset) -> None:
    url = f"{BASE}/BTCUSDT/heatmap/?timeframe=24h&cells=packed"
    first, second = client.get(url), client.get(url)
    assert first.status_code == second.status_code == 200
    assert second["ETag"] == first["ETag"] and second.content == first.content
    # A liquidation recorded inside the map's window changes the body (its prints) while the map's
    # version stands: a new tag, a 200 to a client holding the old one, the print in the body.
    when = record_liquidation(btc, hours_before_newest=1, side="short", price=85_500.0, usd=171_000.0)
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]
    assert [dt_to_ms(when), 85_500.0, 171_000.0, "short", "binance"] in changed.json()["liquidations"]
    assert [dt_to_ms(when), 85_500.0, 171_000.0, "short", "binance"] not in first.json()["liquidations"]
    assert client.get(url, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 304


def test_a_map_not_computed_yet_is_a_404(client: Client, btc: Asset) -> None:
    response = client.get(f"{BASE}/BTCUSDT/heatmap/?timeframe=3m")
    assert response.status_code == 404 and "not been computed" in response.json()["detail"]


# ---- time series ----------------------------------------------------------------------------------


def test_candles_page_through_a_range_without_gaps_or_repeats(client: Client, btc: Asset) -> None:
    start, end = "2026-01-28T00:00:00Z", 1_769_644_800_000  # ISO 8601 and epoch ms, 2026-01-29 00:00 UTC
    url = f"{BASE}/BTCUSDT/candles/?start={start}&end={end}&page_size=100&exchange=binance"
    seen: list[str] = []
    pages = 0
    while url:
        body = json_of(client, url)
        seen += [row["time"] for row in body["results"]]
        url = body["next"]
        pages += 1
    expected = Candle.objects.filter(
        asset=btc, open_time__gte=datetime(2026, 1, 28, tzinfo=UTC), open_time__lt=datetime(2026, 1, 29, tzinfo=UTC)
    )
    assert len(seen) == len(set(seen)) == expected.count() == 288 and pages == 3
    assert seen == sorted(seen) and seen[0] == "2026-01-28T00:00:00Z"


def test_open_interest_funding_and_liquidations(client: Client, btc: Asset) -> None:
    span = "start=2026-01-29&end=2026-01-30"
    oi = json_of(client, f"{BASE}/BTCUSDT/open-interest/?{span}")["results"]
    assert oi and oi[0]["simulated"] is True and oi[0]["exchange"] == "binance" and oi[0]["oi_usd"] > 0
    funding = json_of(client, f"{BASE}/BTCUSDT/funding/?{span}")["results"]
    assert [f["time"] for f in funding] == ["2026-01-29T00:00:00Z", "2026-01-29T08:00:00Z", "2026-01-29T16:00:00Z"]
    prints = json_of(client, f"{BASE}/BTCUSDT/liquidations/?{span}")["results"]
    assert [(p["side"], p["usd"]) for p in prints] == [("short", 86_100.0), ("long", 254_700.0)]
    assert dt_to_ms(datetime.fromisoformat(prints[0]["time"])) == 1_769_690_000_000


# ---- bad input ------------------------------------------------------------------------------------

BAD = [
    ("heatmap/?timeframe=5y", "timeframe"),
    ("heatmap/?side=sideways", "side"),
    ("heatmap/?cells=zipped", "cells"),
    ("heatmap/?format=xml", "format"),
    ("heatmap/?min_usd=-1", "min_usd"),
    ("heatmap/?min_usd=nan", "min_usd"),
    ("heatmap/?min_usd=inf", "min_usd"),
    ("heatmap/?format=png&width=100000", "width"),
    ("heatmap/?format=png&height=-5", "height"),
    ("heatmap/?width=abc", "width"),
    ("heatmap/?full=0", "full"),
    ("candles/?start=2026-01-29&end=2026-01-28", "start"),
    ("candles/?start=2024-01-01&end=2026-01-28", "end"),
    ("candles/?start=yesterday", "start"),
    ("candles/?start=2026-13-45", "start"),
    ("candles/?start=1769644800", "start"),  # seconds, not milliseconds
    ("candles/?end=99999999999999999999999", "end"),
    ("candles/?exchange=kraken", "exchange"),
    ("candles/?page_size=0", "page_size"),
    ("candles/?page_size=-3", "page_size"),
    ("candles/?page_size=1000000", "page_size"),
    ("candles/?page_size=ten", "page_size"),
    ("candles/?cursor=not-a-cursor", "cursor"),
    ("candles/?cursor=cD1ub3QtYS10aW1l", "cursor"),  # decodes to p=not-a-time
]


@pytest.mark.parametrize(("path", "field"), BAD)
def test_malformed_parameters_are_a_400_naming_them(client: Client, btc: Asset, path: str, field: str) -> None:
    response = client.get(f"{BASE}/BTCUSDT/{path}")
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()


def test_nul_bytes_are_a_400_not_a_database_error(client: Client, btc: Asset) -> None:
    for url in (
        f"{BASE}/BTC%00USDT/",
        f"{BASE}/BTCUSDT/candles/?exchange=bin%00ance",
        "/api/v1/annotations/?asset=%00",
    ):
        response = client.get(url)
        assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_anonymous_requests_are_throttled_per_address_with_retry_after(
    client: Client, btc: Asset, settings: Any, isolated_cache: None
) -> None:
    settings.LIQ_API_ANON_RATE = "3/min"
    codes = [client.get(f"{BASE}/BTCUSDT/", REMOTE_ADDR="192.0.2.7").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get(f"{BASE}/BTCUSDT/", REMOTE_ADDR="192.0.2.7")
    assert limited.status_code == 429 and "throttled" in limited.json()["detail"]
    assert 0 < int(limited["Retry-After"]) <= 60
    # Another address has its own budget; a forged X-Forwarded-For does not buy a new one.
    assert client.get(f"{BASE}/BTCUSDT/", REMOTE_ADDR="192.0.2.8").status_code == 200
    assert client.get(f"{BASE}/", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429


@pytest.mark.parametrize(
    ("anon_rate", "expected"), [("6/min", [200] * 6 + [429]), ("off", [200] * 7)], ids=["limited", "off"]
)
def test_anonymous_requests_are_held_to_the_anonymous_rate_only(
    client: Client, btc: Asset, settings: Any, isolated_cache: None, anon_rate: str, expected: list[int]
) -> None:
    # The per-user rate must not also count visitors per address (DRF's UserRateThrottle would); "off"
    # is for a proxy or CDN in front that limits by itself, and the per-user limit still stands.
    settings.LIQ_API_ANON_RATE = anon_rate
    settings.LIQ_API_USER_RATE = "2/min"
    codes = [client.get(f"{BASE}/BTCUSDT/", REMOTE_ADDR="192.0.2.9").status_code for _ in range(7)]
    assert codes == expected
