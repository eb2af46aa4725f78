"""Filtered maps on request (heatmaps/explorer.py) through the map API: leverage tiers and bands, an
exchange's open interest alone, the map as of a past moment, and a 400 naming each parameter the map
cannot take. Real PostgreSQL and Redis; the sample data with a second exchange's open interest added."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from heatmaps import engine
from heatmaps.engine import decode_grid
from heatmaps.engine.gridcodec import FLOOR_RATIO, MAX_RELATIVE_ERROR
from heatmaps.maps import heatmap_compute, read_heatmap
from heatmaps.marketdata import dt_to_ms, load_sample_data
from heatmaps.marketdata.base_bars import asset_params, load_base_bars
from heatmaps.models import Asset, Candle, PublishedMap
from tests.heatmaps.explorer_data import add_bybit_open_interest

pytestmark = pytest.mark.django_db

URL = "/api/v1/assets/BTCUSDT/heatmap/"
TIMEFRAMES = ["24h", "1w"]


@pytest.fixture(scope="module")
def explorer_maps(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, np.ndarray]]:
    """BTCUSDT's maps from Binance's open interest alone (kept as arrays), then Bybit's open interest
    added (a smooth series of its own) and the maps recomputed from both."""
    with django_db_blocker.unblock():
        load_sample_data()
        btc = Asset.objects.get(symbol="BTCUSDT")
        alone: dict[str, np.ndarray] = {}
        for tf in TIMEFRAMES:  # one at a time: each loads its own span, as a filtered map does
            heatmap_compute(asset=btc, timeframes=[tf])
            stored = read_heatmap(asset=btc, timeframe=tf)
            assert stored is not None
            alone[tf] = stored.long.astype(np.float64) + stored.short
        add_bybit_open_interest(btc)
        for tf in TIMEFRAMES:
            heatmap_compute(asset=btc, timeframes=[tf])
        yield alone
        Asset.objects.filter(symbol__in=["BTCUSDT", "ETHUSDT"]).delete()


@pytest.fixture
def btc(explorer_maps: dict[str, np.ndarray]) -> Asset:
    return Asset.objects.select_related("reference_exchange").get(symbol="BTCUSDT")


def dense(client: Client, query: str) -> tuple[np.ndarray, dict[str, Any]]:
    response = client.get(f"{URL}?cells=dense&{query}")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    shape = tuple(body["cells"]["shape"])
    grids = [np.frombuffer(base64.b64decode(body["cells"][s]), dtype="<f4").reshape(shape) for s in ("long", "short")]
    return grids[0].astype(np.float64) + grids[1], body


def codec_close(actual: np.ndarray, expected: np.ndarray, *, parts: int = 1) -> None:
    """Equal within what the stored codec keeps: each part off by its relative error, and cells below its
    floor stored as $0."""
    floor = float(expected.max()) * FLOOR_RATIO * parts
    np.testing.assert_allclose(actual, expected, rtol=3 * MAX_RELATIVE_ERROR, atol=floor)


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_the_tiers_maps_add_up_to_the_whole_map(client: Client, btc: Asset, timeframe: str) -> None:
    whole, body = dense(client, f"timeframe={timeframe}")
    assert body["filter"] == {"tiers": None, "lev": None, "exchanges": None, "at": None, "origin": "stored"}
    leverages = asset_params(btc).leverages
    parts = []
    for lev in leverages:
        part, body = dense(client, f"timeframe={timeframe}&tiers={lev:g}")
        assert body["filter"]["tiers"] == [lev]
        # its own share, not renormalised to the whole (a low tier may lie off a short map's grid: $0)
        assert part.sum() < whole.sum() * 0.9
        # the liquidation map's tiers: none but this one holds USD
        held = [sum(row) > 0 for row in body["liquidation_map"]["tier_long"] + body["liquidation_map"]["tier_short"]]
        assert not any(h for h, other in zip(held, leverages * 2, strict=True) if other != lev)
        parts.append(part)
    assert sum(p.sum() > 0 for p in parts) >= 3
    codec_close(np.sum(parts, axis=0), whole, parts=len(parts))


def test_a_band_is_its_tiers_and_all_tiers_is_the_stored_map(client: Client, btc: Asset) -> None:
    high, body = dense(client, "timeframe=1w&lev=high")
    assert body["filter"]["lev"] == "high" and body["filter"]["tiers"] == [50.0, 100.0]
    pair, _ = dense(client, "timeframe=1w&tiers=50,100x")
    np.testing.assert_array_equal(high, pair)
    low, _ = dense(client, "timeframe=1w&lev=low")
    mid, _ = dense(client, "timeframe=1w&lev=mid")
    whole, _ = dense(client, "timeframe=1w")
    codec_close(low + mid + high, whole, parts=3)
    every, body = dense(client, "timeframe=1w&tiers=5,10,25,50,100")
    assert body["filter"]["tiers"] is None  # every tier is no filter: the stored map itself
    np.testing.assert_array_equal(every, whole)


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_one_exchange_is_the_map_of_its_data_alone(
    client: Client, btc: Asset, explorer_maps: dict[str, np.ndarray], timeframe: str
) -> None:
    whole, _ = dense(client, f"timeframe={timeframe}")
    only, body = dense(client, f"timeframe={timeframe}&exchange=binance")
    assert body["filter"]["exchanges"] == ["binance"] and body["provenance"]["oi_exchanges"] == ["binance"]
    assert body["provenance"]["candle_exchange"] == "binance"
    codec_close(only, explorer_maps[timeframe])
    assert not np.allclose(only, whole, rtol=0.01)  # Bybit's open interest counts in the whole map
    both, body = dense(client, f"timeframe={timeframe}&exchange=bybit&exchange=binance")
    assert body["filter"]["exchanges"] is None  # all of the asset's exchanges: the stored map
    np.testing.assert_array_equal(both, whole)
    bybit, body = dense(client, f"timeframe={timeframe}&exchange=bybit")
    assert body["provenance"]["oi_exchanges"] == ["bybit"] and bybit.sum() > 0


def test_filters_combine_with_side_and_the_exports(client: Client, btc: Asset) -> None:
    response = client.get(f"{URL}?timeframe=1w&cells=dense&side=long&lev=high&exchange=binance")
    body = response.json()
    assert body["cells"]["short"] is None and body["filter"]["lev"] == "high"
    csv = client.get(f"{URL}?timeframe=1w&format=csv&lev=high")
    assert csv.status_code == 200 and "lev-high" in csv["Content-Disposition"]
    lines = b"".join(csv.streaming_content).decode().splitlines()[1:]  # type: ignore[attr-defined]
    total = sum(float(r.split(",")[2]) + float(r.split(",")[3]) for r in lines)
    high, _ = dense(client, "timeframe=1w&lev=high")
    assert total == pytest.approx(high.sum(), rel=1e-3)
    png = client.get(f"{URL}?timeframe=1w&format=png&lev=high&exchange=binance")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    plain = client.get(f"{URL}?timeframe=1w&format=png")
    assert png.content != plain.content
    # each filter is its own representation
    tags = {client.get(f"{URL}?timeframe=1w&{q}")["ETag"] for q in ("", "lev=high", "tiers=50", "exchange=binance")}
    assert len(tags) == 4


def test_at_is_the_map_from_the_data_up_to_then_and_later_data_does_not_change_it(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="1w")
    assert stored is not None
    at = stored.heatmap.data_end - timedelta(days=3, minutes=2)
    at_text = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    then, body = dense(client, f"timeframe=1w&at={at_text}")
    closed = dt_to_ms(at) - 300_000  # bars that had closed by then
    loaded = load_base_bars(asset=btc, since=None)
    assert loaded is not None
    keep = int(np.searchsorted(loaded.bars.open_time, closed, side="right"))
    bars = loaded.bars.slice(0, keep)
    expected = engine.compute_heatmap(bars=bars, timeframe="1w", params=asset_params(btc))
    assert body["times"] == expected.times.tolist()
    codec_close(then, expected.long + expected.short)
    assert body["filter"]["at"].startswith(at.strftime("%Y-%m-%dT%H:%M"))
    # A bar after the moment changes the map of now, never the map as of then.
    late = Candle.objects.filter(asset=btc, open_time__gt=at).order_by("open_time").first()
    assert late is not None
    high = late.high
    try:
        Candle.objects.filter(pk=late.pk).update(high=high * 1.08)
        heatmap_compute(asset=btc, timeframes=["1w"])
        now_after, _ = dense(client, "timeframe=1w")
        then_after, _ = dense(client, f"timeframe=1w&at={at_text}")
        assert now_after.shape != then.shape or not np.array_equal(
            now_after, stored.long + stored.short.astype(np.float64)
        )
        np.testing.assert_array_equal(then_after, then)
    finally:
        Candle.objects.filter(pk=late.pk).update(high=high)
        heatmap_compute(asset=btc, timeframes=["1w"])


BAD = [
    ("tiers=20", "tiers"),
    ("tiers=abc", "tiers"),
    ("tiers=50,", "tiers"),
    ("lev=huge", "lev"),
    ("lev=high&tiers=50", "lev"),
    ("exchange=kraken", "exchange"),
    ("exchange=okx", "exchange"),  # a known exchange, but not one of this asset's
    ("exchange=Binance;DROP", "exchange"),
    ("model=v9", "model"),
    ("at=yesterday", "at"),
    ("at=2026-13-45", "at"),
    ("at=1769644800", "at"),  # seconds, not milliseconds
]


@pytest.mark.parametrize(("query", "param"), BAD)
def test_a_filter_the_map_cannot_take_is_a_400_naming_the_parameter(
    client: Client, btc: Asset, query: str, param: str
) -> None:
    for fmt in ("json", "png", "csv"):
        response = client.get(f"{URL}?timeframe=1w&format={fmt}&{query}")
        assert response.status_code == 400, response.content[:300]
        assert list(response.json()) == [param]


def test_at_before_any_data_is_a_404(client: Client, btc: Asset) -> None:
    response = client.get(f"{URL}?timeframe=1w&at=2020-01-01T00:00Z")
    assert response.status_code == 404 and "2020-01-01" in response.json()["detail"]


COMPARE = "/api/v1/assets/BTCUSDT/heatmap/compare/"


def test_compare_puts_two_filters_on_one_scale_with_their_difference(client: Client, btc: Asset) -> None:
    response = client.get(f"{COMPARE}?timeframe=1w&a=lev%3Dhigh&b=lev%3Dlow%26exchange%3Dbinance")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    high, high_body = dense(client, "timeframe=1w&lev=high")
    low, low_body = dense(client, "timeframe=1w&lev=low&exchange=binance")
    shape = high.shape
    diff = np.zeros(shape)
    for i, j, usd in body["diff"]:
        diff[i, j] = usd
    np.testing.assert_allclose(diff, np.rint(high - low), atol=1.0)
    both = np.concatenate((high.ravel(), low.ravel()))
    assert body["full_usd"] == pytest.approx(np.percentile(both[both > 0], 99), rel=1e-6)
    a = np.zeros(shape)
    for i, j, usd in body["a"]["cells"]:
        a[i, j] = usd
    np.testing.assert_allclose(a, np.rint(high), atol=1.0)
    # a cluster listed as A's alone has its peak inside none of B's clusters of its side, and the rest do
    for mine, theirs, listed in (
        (high_body["clusters"], low_body["clusters"], body["only_a"]),
        (low_body["clusters"], high_body["clusters"], body["only_b"]),
    ):
        covered = [
            any(o["side"] == c["side"] and o["price_low"] <= c["peak_price"] <= o["price_high"] for o in theirs)
            for c in mine
        ]
        assert [c["peak_price"] for c in listed] == [
            c["peak_price"] for c, hit in zip(mine, covered, strict=True) if not hit
        ]
    assert body["only_a"] or body["only_b"]  # the bands' walls differ
    same = client.get(f"{COMPARE}?timeframe=1w&a=&b=").json()
    assert same["diff"] == [] and same["only_a"] == [] and same["only_b"] == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("a=lev%3Dhuge", "a"),
        ("b=tiers%3D20", "b"),
        ("b=side%3Dlong", "b"),
        ("a=exchange%3Dkraken", "a"),
        ("timeframe=5y", "timeframe"),
    ],
)
def test_compare_refuses_what_it_cannot_draw_naming_the_parameter(
    client: Client, btc: Asset, query: str, param: str
) -> None:
    response = client.get(f"{COMPARE}?{query}")
    assert response.status_code == 400 and list(response.json()) == [param]


def test_compare_png_draws_the_difference_in_two_colours(client: Client, btc: Asset) -> None:
    from io import BytesIO

    from PIL import Image

    from heatmaps.exports import DIVERGING_A, DIVERGING_B

    response = client.get(f"{COMPARE}?timeframe=1w&a=lev%3Dhigh&b=lev%3Dlow&format=png&width=600&height=300")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = np.asarray(Image.open(BytesIO(response.content)).convert("RGB"), dtype=np.int64)
    assert image.shape == (300, 600, 3)
    near = lambda colour: (np.abs(image - np.array(colour)).sum(axis=2) < 60).sum()  # noqa: E731
    assert near(DIVERGING_A) > 0 and near(DIVERGING_B) > 0  # each band is louder somewhere
    swapped = client.get(f"{COMPARE}?timeframe=1w&a=lev%3Dlow&b=lev%3Dhigh&format=png&width=600&height=300")
    assert swapped.content != response.content


def test_a_moment_the_archive_holds_is_the_map_as_published_never_repainted(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="24h")
    assert stored is not None
    kept = PublishedMap.objects.get(
        asset=btc,
        timeframe="24h",
        computed_at__lte=stored.heatmap.computed_at,
        slot__gte=stored.heatmap.computed_at - timedelta(hours=1),
    )
    shown_then = timezone.now()
    then, body = dense(client, f"timeframe=24h&at={dt_to_ms(shown_then)}")
    assert body["filter"]["origin"] == "archive" and body["provenance"]["version"] == kept.version
    # the copy read back is what was served
    shape = (kept.fields["width"], kept.fields["bins"])
    published_grid = decode_grid(bytes(kept.long_grid), kept.fields["long_scale"], shape).astype(np.float32).astype(
        np.float64
    ) + decode_grid(bytes(kept.short_grid), kept.fields["short_scale"], shape).astype(np.float32)
    np.testing.assert_array_equal(then, published_grid)
    # A bar corrected since: the map of now changes, the map as shown then does not.
    late = Candle.objects.filter(asset=btc).order_by("-open_time").first()
    assert late is not None
    high = late.high
    try:
        Candle.objects.filter(pk=late.pk).update(high=high * 1.05)
        heatmap_compute(asset=btc, timeframes=["24h"])
        now_map, now_body = dense(client, "timeframe=24h")
        assert now_body["provenance"]["version"] > kept.version and not np.array_equal(now_map, then)
        again, body = dense(client, f"timeframe=24h&at={dt_to_ms(shown_then)}")
        assert body["filter"]["origin"] == "archive"
        np.testing.assert_array_equal(again, then)
        assert PublishedMap.objects.filter(asset=btc, timeframe="24h", slot=kept.slot).count() == 1
    finally:
        Candle.objects.filter(pk=late.pk).update(high=high)
        heatmap_compute(asset=btc, timeframes=["24h"])
    # A moment the archive does not hold is rebuilt, and says so.
    past = stored.heatmap.data_end - timedelta(hours=6)
    _, body = dense(client, f"timeframe=24h&at={dt_to_ms(past)}")
    assert body["filter"]["origin"] == "rebuilt"


def test_published_maps_go_with_the_raw_datas_retention(btc: Asset, settings: Any) -> None:
    from heatmaps.tasks import maintain_partitions

    current = PublishedMap.objects.filter(asset=btc).first()
    assert current is not None
    old = PublishedMap.objects.create(
        asset=btc,
        timeframe="1w",
        model="v1",
        slot=datetime(2020, 1, 1, tzinfo=UTC),
        version=1,
        computed_at=datetime(2020, 1, 1, tzinfo=UTC),
        data_end=datetime(2020, 1, 1, tzinfo=UTC),
        fields=current.fields,
        long_grid=bytes(current.long_grid),
        short_grid=bytes(current.short_grid),
    )
    settings.LIQ_RETENTION_MONTHS = 0  # keep everything
    maintain_partitions()
    assert PublishedMap.objects.filter(pk=old.pk).exists()
    settings.LIQ_RETENTION_MONTHS = 3
    maintain_partitions()
    assert not PublishedMap.objects.filter(pk=old.pk).exists()
    assert PublishedMap.objects.filter(pk=current.pk).exists()


def test_compare_two_moments_puts_the_standing_levels_on_one_price_axis(client: Client, btc: Asset) -> None:
    stored = read_heatmap(asset=btc, timeframe="1w")
    assert stored is not None
    at_text = (stored.heatmap.data_end - timedelta(days=3, minutes=2)).strftime("%Y-%m-%dT%H:%MZ")
    response = client.get(f"{COMPARE}?timeframe=1w&a=at%3D{at_text}&b=")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["mode"] == "moments" and body["earlier"] == "a"
    assert body["a"]["moment"].startswith(at_text[:16]) and body["b"]["moment"] > body["a"]["moment"]
    then, then_body = dense(client, f"timeframe=1w&at={at_text}")
    now, now_body = dense(client, "timeframe=1w")
    assert body["a"]["end_time"] == then_body["times"][-1] and body["b"]["end_time"] == now_body["times"][-1]
    edges = np.array(body["price_edges"])
    assert edges[0] == pytest.approx(min(then_body["prices"][0], now_body["prices"][0]), rel=1e-3)
    assert edges[-1] == pytest.approx(max(then_body["prices"][-1], now_body["prices"][-1]), rel=1e-3)
    # Every dollar standing at each moment is on the common axis (the newest column of each map).
    a_long, a_short = np.array(body["a"]["long_usd"]), np.array(body["a"]["short_usd"])
    b_long, b_short = np.array(body["b"]["long_usd"]), np.array(body["b"]["short_usd"])
    assert a_long.shape == a_short.shape == b_long.shape == (edges.shape[0] - 1,)
    assert a_long.sum() + a_short.sum() == pytest.approx(then[-1].sum(), rel=1e-4)
    assert b_long.sum() + b_short.sum() == pytest.approx(now[-1].sum(), rel=1e-4)
    assert body["a"]["total_usd"] == pytest.approx(then[-1].sum(), rel=1e-4)
    np.testing.assert_allclose(body["diff_long"], a_long - b_long, atol=0.02)
    np.testing.assert_allclose(body["diff_short"], a_short - b_short, atol=0.02)
    assert body["a"]["total_usd"] != body["b"]["total_usd"]  # three days of market apart
    # Gone since A: A's clusters whose peak no cluster of now covers on its side, and only those.
    gone = [
        c["peak_price"]
        for c in then_body["clusters"]
        if not any(
            o["side"] == c["side"] and o["price_low"] <= c["peak_price"] <= o["price_high"]
            for o in now_body["clusters"]
        )
    ]
    assert [c["peak_price"] for c in body["removed"]] == gone == [c["peak_price"] for c in body["only_a"]]
    assert [c["peak_price"] for c in body["added"]] == [c["peak_price"] for c in body["only_b"]]
    # The same moment on both sides has nothing to tell.
    same = client.get(f"{COMPARE}?timeframe=1w&a=at%3D{at_text}&b=at%3D{at_text}").json()
    assert same["removed"] == same["added"] == [] and not any(same["diff_long"]) and not any(same["diff_short"])
    # Same-moment filters are still compared cell for cell.
    assert client.get(f"{COMPARE}?timeframe=1w&a=lev%3Dhigh&b=").json()["mode"] == "cells"


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45", "1769644800", ""])
def test_compare_a_bad_moment_is_a_400_naming_the_side_and_at(client: Client, btc: Asset, bad: str) -> None:
    response = client.get(f"{COMPARE}?timeframe=1w&a=lev%3Dhigh&b=at%3D{bad}")
    assert response.status_code == 400 and list(response.json()) == ["b"]
    assert response.json()["b"][0].startswith("at:")


def test_compare_a_moment_before_any_data_is_a_400_naming_the_side(client: Client, btc: Asset) -> None:
    response = client.get(f"{COMPARE}?timeframe=1w&a=at%3D2020-01-01T00:00Z")
    assert response.status_code == 400 and list(response.json()) == ["a"] and "2020-01-01" in response.json()["a"][0]


def test_compare_two_moments_png_is_a_diverging_bar_profile(client: Client, btc: Asset) -> None:
    from io import BytesIO

    from PIL import Image

    from heatmaps.exports import DIVERGING_A, DIVERGING_B

    stored = read_heatmap(asset=btc, timeframe="1w")
    assert stored is not None
    at_text = (stored.heatmap.data_end - timedelta(days=3)).strftime("%Y-%m-%dT%H:%MZ")
    url = f"{COMPARE}?timeframe=1w&a=at%3D{at_text}&b=&format=png&width=600&height=300"
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    image = np.asarray(Image.open(BytesIO(response.content)).convert("RGB"), dtype=np.int64)
    assert image.shape == (300, 600, 3)
    near = lambda colour: (np.abs(image - np.array(colour)).sum(axis=2) < 30).sum()  # noqa: E731
    assert near(DIVERGING_A) > 0 and near(DIVERGING_B) > 0
    shorts = client.get(url + "&side=short")
    assert shorts.status_code == 200 and shorts.content != response.content
